"""The gate of every route's body: the token is checked, then the body's size, before a byte of it is received.

FastAPI reads and parses a route's whole body before it runs the route's dependencies, the token check among
them, so on its own it would hold and parse a body as large as anyone liked to send, token or not. The gate
stands between the server and the application and holds back the body: when the route (found by then) first
asks for it, the gate

1. if the route takes a token (a dependency marked with :func:`hanoinet.api.officers.taking`), looks the caller
   up (:func:`hanoinet.api.officers.caller_of`, which keeps it for the route's dependencies) and refuses
   without one (401), so that nothing of the body has been received;
2. refuses with 413 ``too_large`` a body declared longer than the route's limit, and counts a body sent without
   a declared length (chunked) as it arrives, refusing it once past the limit.

Every route has a limit (:meth:`Gate.limit_of`): the one listed for it, else :data:`JSON_BODY` for a route with
a JSON body and 0 for a route that reads none. A route that never asks for its body never passes the gate: its
dependencies check the token as they always do.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hanoinet.api import problems
from hanoinet.api.officers import Credential, caller_of, credential_of
from hanoinet.errors import HanoinetError

#: A route's JSON body unless listed otherwise: a message, a request with its fields, an action on one.
JSON_BODY = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Policy:
    """What the gate checks for one route and method: the token it takes (None: none), its body limit in bytes."""

    credential: Credential | None
    limit: int


class Gate:
    """Check the token and the body size of a request before its route receives the body.

    ``limits`` maps ``"METHOD /route/path"``, the path as declared (``/api/v1/reviews/{report_id}``), to a limit.
    """

    def __init__(self, app: ASGIApp, limits: Mapping[str, int]) -> None:
        self.app = app
        self.limits = limits

    def limit_of(self, route: BaseRoute | None, method: str) -> int:
        """The body limit of ``method`` on ``route``: listed, else by whether it takes a JSON body."""
        path = getattr(route, "path", "")
        listed = self.limits.get(f"{method} {path}")
        if listed is not None:
            return listed
        return JSON_BODY if isinstance(route, APIRoute) and route.body_field is not None else 0

    def policy(self, route: BaseRoute | None, method: str) -> Policy:
        """The gate's checks for ``method`` on ``route``."""
        credential = credential_of_route(route) if isinstance(route, APIRoute) else None
        return Policy(credential, self.limit_of(route, method))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit: int | None = None
        seen = 0

        async def gated() -> Message:
            # Refusals are raised as HTTP exceptions, which the application's handlers answer as problems.
            nonlocal limit, seen
            if limit is None:  # the first time the route asks for its body: it is known by now
                limit = await self._open(scope)
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise problems.Refused(_too_large(limit))
            return message

        await self.app(scope, gated, send)

    async def _open(self, scope: Scope) -> int:
        """Check the token of the request's route and the body's declared length; the route's limit."""
        policy = self.policy(scope.get("route"), scope["method"])
        if policy.credential is not None:
            try:
                await run_in_threadpool(caller_of, Request(scope), policy.credential)
            except HanoinetError as exc:
                raise problems.Refused(exc) from None
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > policy.limit:
            raise problems.Refused(_too_large(policy.limit))
        return policy.limit


def credential_of_route(route: APIRoute) -> Credential | None:
    """The token ``route`` takes, from its dependencies (an officer's if any of them takes only that)."""
    found: set[Credential] = set()
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        credential = credential_of(dependant.call)
        if credential is not None:
            found.add(credential)
        pending.extend(dependant.dependencies)
    if Credential.OFFICER in found:
        return Credential.OFFICER
    return Credential.OFFICER_OR_PLATFORM if found else None


def api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    """Every route of an application, however its routers were included (FastAPI may nest them)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
            continue
        nested = getattr(getattr(route, "original_router", route), "routes", None)
        if nested is not None:
            yield from api_routes(nested)


def _too_large(limit: int) -> HanoinetError:
    return HanoinetError(f"the request body exceeds this route's limit of {limit} bytes",
                         hint="send a smaller body: fewer items per request, or the images' hashes instead of "
                              "the images", code="too_large")
