"""Every input of the HTTP API checked once, before a route sees it, by the node's one text rule.

:class:`CheckedRoute` is the route class of every router: before FastAPI reads a request, it checks the path
parameters and the query (one line of text each), and parses a JSON body with :func:`hanoinet.text.parse_json`
(I-JSON; every string and number as :mod:`hanoinet.text` says). A refusal is a 422 problem naming the field
(``invalid_text``, ``invalid_number`` or ``invalid``), raised before any route code runs, so nothing is stored.
FastAPI then validates the same parsed body against the route's model; it does not parse it again.

Bodies that are not JSON (a piece of evidence, a JWE, a directory JWS) are the route's own to check.
"""

from __future__ import annotations

import email.message
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import AfterValidator

from hanoinet import text

#: A string field of one line (names, references, cases, subjects) in a route's model.
Line = Annotated[str, AfterValidator(text.check_line)]


class CheckedRequest(Request):
    """A request whose JSON body is parsed by the node's strict parser (:func:`hanoinet.text.parse_json`)."""

    async def json(self) -> Any:
        """The body, parsed and checked once; a ``ValidationError`` naming the member otherwise."""
        if not hasattr(self, "_json"):
            self._json = text.parse_json(await self.body())
        return self._json


def _is_json(content_type: str | None) -> bool:
    # As FastAPI decides whether to parse a body as JSON: no content type, application/json or */*+json.
    if not content_type:
        return True
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


def check_parameters(request: Request) -> None:
    """Refuse a path parameter, a query parameter's name or its value that is not one line of text."""
    for name, value in request.path_params.items():
        if isinstance(value, str):
            text.check_line(value, f"path parameter {name}")
    for name, value in request.query_params.multi_items():
        text.check_line(name, "the query")
        text.check_line(value, f"query parameter {name}")


class CheckedRoute(APIRoute):
    """An API route whose parameters and JSON body are checked before FastAPI reads them."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler, behind the check."""
        handler = super().get_route_handler()
        # Form bodies are parsed by FastAPI itself; the API has none, and a new one would be checked here.
        json_body = self.body_field is not None

        async def checked(request: Request) -> Response:
            request = CheckedRequest(request.scope, request.receive)
            check_parameters(request)
            if json_body and _is_json(request.headers.get("content-type")) and await request.body():
                await request.json()  # refused here, as the node's error, not as FastAPI's generic 400
            return await handler(request)

        return checked
