"""HTTP transport of envelopes to a peer's ``POST /federation/v1/envelopes`` (docs/protocol.md)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import httpx

from hanoinet import __version__

ENVELOPE_PATH = "/federation/v1/envelopes"
JOSE_MEDIA_TYPE = "application/jose"


@dataclass(frozen=True, slots=True)
class PeerAnswer:
    """What the peer answered: a receipt on 200, else the status and the problem's code and detail."""

    status: int
    receipt: str | None = None
    code: str | None = None
    detail: str = ""


class HttpTransport:
    """One pooled, keep-alive HTTP client shared by all deliveries of a worker."""

    def __init__(self, *, timeout: float = 15.0, ca_file: Path | None = None) -> None:
        verify = ssl.create_default_context(cafile=str(ca_file)) if ca_file else True
        self._client = httpx.AsyncClient(
            timeout=timeout, verify=verify,
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
            headers={"user-agent": f"hanoinet/{__version__}"},
        )

    async def post_envelope(self, endpoint: str, jwe: bytes) -> PeerAnswer:
        """Send one envelope; network failures raise ``httpx.HTTPError``."""
        response = await self._client.post(
            endpoint.rstrip("/") + ENVELOPE_PATH, content=jwe, headers={"content-type": JOSE_MEDIA_TYPE}
        )
        if response.status_code == 200:
            return PeerAnswer(status=200, receipt=response.text)
        code, detail = None, response.text[:500]
        if response.headers.get("content-type", "").startswith("application/problem+json"):
            try:
                problem = response.json()
                code, detail = str(problem.get("code")), str(problem.get("detail", ""))
            except ValueError:
                pass
        return PeerAnswer(status=response.status_code, code=code, detail=detail)

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self._client.aclose()
