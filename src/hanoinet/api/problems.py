"""Errors as RFC 9457 problem documents: one handler for every :class:`HanoinetError`."""

from __future__ import annotations

import json
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hanoinet.errors import HanoinetError, MissingToken
from hanoinet.logs import mark_logged, new_error_id

PROBLEM_MEDIA_TYPE = "application/problem+json"
log = structlog.get_logger("hanoinet.api")

#: HTTP status of each refusal code that is not a plain 400 (docs/protocol.md, "Errors").
STATUS_BY_CODE = {
    "too_large": 413,
    "rate_limited": 429,
    "no_directory": 503,
    "directory_expired": 503,
    "id_conflict": 409,
    "unsupported_media_type": 415,
    "out_of_order": 409,
    "request_conflict": 409,
    "illegal_transition": 409,
    "not_party": 403,
    "invalid_request": 422,
    "bad_range": 400,
    "range_not_satisfiable": 416,
    "offset_mismatch": 409,
    "upload_incomplete": 409,
    "offer_exists": 409,
    "piece_too_large": 413,
    "evidence_not_found": 404,
    "too_few_witnesses": 503,
    "not_sequenced": 503,
}

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}
_HTTP_HINTS = {
    404: "check the path against the API description at /docs",
    405: "check the method against the API description at /docs",
    413: "send a smaller body: fewer items per request, or hashes instead of images",
}


#: The OpenAPI schema of a problem document, as :func:`problem` writes it.
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string", "description": "urn:hanoinet:problem:<code>"},
        "title": {"type": "string"}, "status": {"type": "integer"}, "detail": {"type": "string"},
        "code": {"type": "string", "description": "stable machine code of the refusal"},
        "hint": {"type": "string", "description": "what to do about it"},
        "error_id": {"type": "string", "description": "of an unexpected error (500): the id of its log line"},
        "problems": {"type": "array", "description": "every problem of a draft request, each with its field, "
                     "article, message and fix", "items": {"type": "object"}},
        "retry_at": {"type": "string", "description": "a locked case: the instant to try again (RFC 3339)"},
    },
}


def problem_responses(described: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` of a route: each status, with what it means there, as a problem document."""
    return {status: {"description": text, "content": {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_SCHEMA}}}
            for status, text in described.items()}


def problem(status: int, code: str, detail: str, hint: str = "", **more: str) -> JSONResponse:
    """A problem+json response carrying the machine ``code``, a ``hint`` for the person reading it, and ``more``
    members (e.g. ``error_id``)."""
    body: dict[str, Any] = {"type": f"urn:hanoinet:problem:{code}", "title": code.replace("_", " "),
                            "status": status, "detail": detail, "code": code}
    if hint:
        body["hint"] = hint
    body.update(more)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE)


class Refused(StarletteHTTPException):
    """A refusal met while a route receives its body (api/gate.py), answered as ``error`` says.

    An HTTP exception, because FastAPI turns any other error met while it reads a body into a plain 400.
    """

    def __init__(self, error: HanoinetError) -> None:
        super().__init__(STATUS_BY_CODE.get(error.code, error.http_status), error.message)
        self.error = error


def of_error(exc: HanoinetError) -> JSONResponse:
    """The problem document of a refusal, with the HTTP status of its code."""
    response = problem(STATUS_BY_CODE.get(exc.code, exc.http_status), exc.code, exc.message, exc.hint)
    listed = getattr(exc, "problems", None)
    if listed:  # every problem of a draft at once, each naming its field and article
        body = json.loads(bytes(response.body))
        body["problems"] = [
            {"field": p.field, "article": p.article, "message": p.message, "fix": p.fix} for p in listed
        ]
        response = JSONResponse(body, status_code=response.status_code, media_type=PROBLEM_MEDIA_TYPE)
    if exc.code == "unauthenticated":
        # RFC 9110 section 11.6.1: a 401 carries the challenge; RFC 6750 section 3: a token that was presented
        # and refused is named invalid_token, a missing one gets the bare challenge.
        refused = "" if isinstance(exc, MissingToken) else ', error="invalid_token"'
        response.headers["WWW-Authenticate"] = f'Bearer realm="hanoinet"{refused}'
    return response


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    @app.exception_handler(HanoinetError)
    async def _domain(_request: Request, exc: HanoinetError) -> JSONResponse:
        return of_error(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc, Refused):
            return of_error(exc.error)
        # Routing and body-size refusals (404, 405, 413) in the same problem format as every other error.
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return problem(exc.status_code, code, str(exc.detail), _HTTP_HINTS.get(exc.status_code, ""))

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        return problem(422, "invalid", details)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # One line, found by the id the caller is given: the request (its token, its body) and the exception's
        # message (which may quote data) stay out of it (hanoinet.logs). The route's template, not the path.
        error_id = new_error_id()
        mark_logged(exc, error_id)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        log.error("unhandled error", error_id=error_id, method=request.method, route=route, exc_info=exc)
        return problem(500, "internal", f"the node hit an unexpected error, logged under the id {error_id}",
                       "give this id to the node's operator: the log line with it says where it happened",
                       error_id=error_id)
