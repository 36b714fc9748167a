"""HTTP transport of envelopes to a peer's ``POST /federation/v1/envelopes`` (docs/protocol.md)."""

from __future__ import annotations

import asyncio
import json
import re
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


#: Bound on one delivery attempt, well below the delivery claim's lease (60 s).
ATTEMPT_DEADLINE_SECONDS = 30
#: Bound on a peer's answer: a receipt or a problem document is far smaller.
MAX_ANSWER_BYTES = 64 * 1024
_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")


def _problem_code(response: httpx.Response, text: str) -> str | None:
    """The ``code`` of an RFC 9457 problem answer, if it is one and the code is well formed."""
    if not response.headers.get("content-type", "").startswith("application/problem+json"):
        return None
    try:
        problem = json.loads(text)
    except ValueError:
        return None
    code = problem.get("code") if isinstance(problem, dict) else None
    return code if isinstance(code, str) and _CODE.fullmatch(code) else None


def problem_code(response: httpx.Response) -> str | None:
    """The ``code`` of a peer's RFC 9457 problem answer, or ``None`` if it is not one."""
    return _problem_code(response, response.text)


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
        """Send one envelope; network failures and over-long answers raise ``httpx.HTTPError``.

        The whole attempt is bounded by ``ATTEMPT_DEADLINE`` and the answer by ``MAX_ANSWER_BYTES`` (a
        receipt is under 1 KiB): a slow or hostile peer can neither hold the message past its claim's lease
        nor fill the sender's memory.
        """
        pool = self._pool(endpoint.rstrip("/"))
        client = await pool.get()
        try:
            async with asyncio.timeout(ATTEMPT_DEADLINE_SECONDS):
                async with client.stream("POST", ENVELOPE_PATH, content=jwe) as response:
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) > MAX_ANSWER_BYTES:
                            raise httpx.DecodingError(f"answer longer than {MAX_ANSWER_BYTES} bytes")
        except TimeoutError:
            raise httpx.TimeoutException(f"no complete answer within {ATTEMPT_DEADLINE_SECONDS} s") from None
        finally:
            pool.put_nowait(client)
        text = body.decode("utf-8", errors="replace")
        if response.status_code == 200:
            return PeerAnswer(status=200, receipt=text)
        return PeerAnswer(status=response.status_code, code=_problem_code(response, text), detail=text[:500])

    async def aclose(self) -> None:
        """Close every pooled connection."""
        for client in self._clients:
            await client.aclose()
