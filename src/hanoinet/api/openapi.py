"""The OpenAPI document says what the node answers: every error of every route as a problem document.

FastAPI declares only the answers a route lists, and its own 422 as ``application/json``, while the node
answers every error as ``application/problem+json`` (:mod:`hanoinet.api.problems`). :func:`install` completes
each operation of the document with the errors it can answer, each under the problem media type with the
``Problem`` schema: 400 and 422 where the route takes a body or parameters, 401 and 403 where it takes a token,
404 where its path names something, 413 (with the route's body limit) where it takes a body, 500 everywhere;
and whatever the route declares itself (:func:`hanoinet.api.problems.problem_responses`: 409, 415, 429 ...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from hanoinet.api.gate import Gate, Policy, api_routes
from hanoinet.api.problems import PROBLEM_MEDIA_TYPE, PROBLEM_SCHEMA

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
#: FastAPI's schemas of its own validation answer, which the node never sends.
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")
_FASTAPI_422 = "Validation Error"


def install(app: FastAPI, limits: Mapping[str, int]) -> None:
    """Make ``app``'s OpenAPI document declare every error answer as a problem document."""
    gate = Gate(app.router, limits)
    generate: Callable[[], dict[str, Any]] = app.openapi

    def documented() -> dict[str, Any]:
        done = app.openapi_schema is not None
        schema = generate()
        if not done:
            declare(schema, app, gate.policy)
        return schema

    setattr(app, "openapi", documented)  # noqa: B010 - FastAPI's documented way to complete its document


def errors_of(route: APIRoute, policy: Policy) -> dict[int, str]:
    """The errors every route of this kind may answer, with what each means."""
    errors: dict[int, str] = {}
    takes_input = policy.limit > 0 or bool(route.dependant.query_params or route.dependant.path_params
                                           or route.dependant.header_params)
    if takes_input:
        errors[400] = "refused as it stands; the code and the detail say why, the hint what to do"
    if policy.credential is not None:
        errors[401] = "no token, or an unknown or disabled one (code unauthenticated)"
        errors[403] = "the caller's role or desk may not do this (code forbidden, or the refusal's own)"
    if route.dependant.path_params:
        errors[404] = "nothing of that name or number, or nothing the caller may see"
    if policy.limit > 0:
        errors[413] = f"the body exceeds this route's limit of {policy.limit} bytes (code too_large)"
    if takes_input:
        errors[422] = "a parameter or the body is not what the route takes; the detail names which and why"
    errors[500] = "the node hit an unexpected error; it is logged for the operator (code internal)"
    return errors


def declare(schema: dict[str, Any], app: FastAPI, policy: Callable[[APIRoute, str], Policy]) -> None:
    """Complete ``schema`` (the OpenAPI document of ``app``) with each operation's errors as problem documents."""
    for route in api_routes(app.routes):
        operations = schema.get("paths", {}).get(route.path_format, {})
        for method in route.methods or ():
            operation = operations.get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for status, text in errors_of(route, policy(route, method)).items():
                known = responses.setdefault(str(status), {"description": text})
                if known.get("description") == _FASTAPI_422:
                    known["description"] = text
            for status, response in responses.items():
                if status[:1] in ("4", "5"):
                    response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_REF}}
            operation["responses"] = dict(sorted(responses.items()))
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    for name in _FASTAPI_VALIDATION:
        components.pop(name, None)
