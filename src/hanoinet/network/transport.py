"""HTTP transport of envelopes to a peer's ``POST /federation/v1/envelopes`` (docs/protocol.md)."""

from __future__ import annotations

import asyncio
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
    """Keep-alive HTTP clients for envelope delivery: a small pool of single-connection clients per peer.

    One shared client with many connections costs httpcore a scan of every pooled connection on each
    request, which dominated the sender's CPU in bench/exchange.py; single-connection clients handed out
    from a queue avoid it and keep each connection alive between envelopes.
    """

    def __init__(self, *, timeout: float = 15.0, ca_file: Path | None = None, connections_per_peer: int = 32) -> None:
        self._verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(ca_file)) if ca_file else True
        self._timeout = timeout
        self._size = connections_per_peer
        self._pools: dict[str, asyncio.Queue[httpx.AsyncClient]] = {}
        self._clients: list[httpx.AsyncClient] = []

    def _pool(self, endpoint: str) -> asyncio.Queue[httpx.AsyncClient]:
        pool = self._pools.get(endpoint)
        if pool is None:
            pool = asyncio.Queue()
            for _ in range(self._size):
                client = httpx.AsyncClient(
                    base_url=endpoint, timeout=self._timeout, verify=self._verify,
                    limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
                    headers={"user-agent": f"hanoinet/{__version__}", "content-type": JOSE_MEDIA_TYPE},
                )
                self._clients.append(client)
                pool.put_nowait(client)
            self._pools[endpoint] = pool
        return pool

    async def post_envelope(self, endpoint: str, jwe: bytes) -> PeerAnswer:
        """Send one envelope; network failures raise ``httpx.HTTPError``."""
        pool = self._pool(endpoint.rstrip("/"))
        client = await pool.get()
        try:
            response = await client.post(ENVELOPE_PATH, content=jwe)
        finally:
            pool.put_nowait(client)
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
        """Close every pooled connection."""
        for client in self._clients:
            await client.aclose()
