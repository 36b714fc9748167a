"""A cap on request bodies for the routes that take large ones, enforced before the body is read whole."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hanoinet.api.problems import PROBLEM_MEDIA_TYPE


class BodyLimit:
    """Refuse with 413 ``too_large`` a request whose body exceeds the limit of its path.

    ``limits`` maps a path to a limit for that path and every path below it (``/api/v1/reviews`` covers
    ``/api/v1/reviews/7``); the longest matching path wins. The declared length is checked first; a body sent
    without one (chunked) is counted as it arrives.
    """

    def __init__(self, app: ASGIApp, limits: dict[str, int]) -> None:
        self.app = app
        self.limits = limits

    def limit_of(self, path: str) -> int | None:
        """The limit for ``path``, or None when it has none."""
        best = max((p for p in self.limits if path == p or path.startswith(p.rstrip("/") + "/")), key=len,
                   default=None)
        return self.limits[best] if best is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.limit_of(scope["path"]) if scope["type"] == "http" else None
        if limit is None:
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _refuse(send, limit)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge(limit)
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except _TooLarge:
            if not started:
                await _refuse(send, limit)


class _TooLarge(HTTPException):
    # An HTTPException, because FastAPI turns any other error met while reading a body into a 400.
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body exceeds this route's limit of {limit} bytes")


async def _refuse(send: Send, limit: int) -> None:
    body = json.dumps({
        "type": "urn:hanoinet:problem:too_large", "title": "too large", "status": 413, "code": "too_large",
        "detail": f"the request body exceeds this route's limit of {limit} bytes",
        "hint": "send fewer items per request, or the images' hashes instead of the images",
    }).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
