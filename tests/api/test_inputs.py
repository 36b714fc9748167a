"""Every input of the API passes the one text and number rule (hanoinet.text) before a route runs.

The routes are taken from the application itself (as tests/api/test_roles.py does), so a route added later is
covered: each route with a JSON body is sent lone surrogates, NULs, control characters and numbers beyond
I-JSON's range, and answers 422 naming the member, never 500, and stores nothing.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hanoinet.api.inputs import CheckedRoute
from hanoinet.text import MAX_SAFE_INTEGER
from tests.api.test_roles import Desk, api_routes, counts, url
from tests.requests.test_service import PRESERVATION
from tests.support import READ

REFUSED_CODES = {"invalid_text", "invalid_number", "invalid"}

#: Characters no text may hold, whatever the field: controls but tab and line feed, surrogates, noncharacters.
never = st.one_of(st.characters(min_codepoint=0, max_codepoint=8),
                  st.characters(min_codepoint=0x0B, max_codepoint=0x1F),
                  st.characters(min_codepoint=0x7F, max_codepoint=0x9F), st.characters(categories=["Cs"]),
                  st.sampled_from(["\ufdd0", "\ufffe", "\uffff", "\U0010ffff"]))
bad_text = st.builds(lambda before, bad, after: before + bad + after, st.text(max_size=5), never, st.text(max_size=5))
bad_number = st.one_of(st.integers(min_value=MAX_SAFE_INTEGER + 1), st.integers(max_value=-MAX_SAFE_INTEGER - 1),
                       st.sampled_from([10**30, -(10**30), 2**53, -(2**53)]))


def json_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) under /api/v1 whose route reads a JSON body."""
    found = sorted({(method, c.path) for c in iter_route_contexts(app.routes)
                    if isinstance(c.original_route, APIRoute) and c.original_route.body_field is not None
                    and c.path.startswith("/api/v1/") for method in c.original_route.methods})
    for known in [("POST", "/api/v1/requests"), ("PUT", "/api/v1/requests/{ref}"), ("POST", "/api/v1/messages"),
                  ("POST", "/api/v1/rota"), ("POST", "/api/v1/evidence/uploads"), ("POST", "/api/v1/victims/cases"),
                  ("POST", "/api/v1/match")]:
        assert known in found, known
    return found


def encoded(value: Any) -> bytes:
    """``value`` as JSON bytes, lone surrogates written as escapes (as any client may send them)."""
    return json.dumps(value, ensure_ascii=True).encode("ascii")


def test_every_route_is_checked(desk: Desk) -> None:
    routes = [c.original_route for c in iter_route_contexts(desk.app.routes) if isinstance(c.original_route, APIRoute)]
    assert len(routes) > 50
    assert [r.path for r in routes if not isinstance(r, CheckedRoute)] == []


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bad=st.one_of(bad_text, bad_number), where=st.sampled_from(["value", "name", "nested"]))
def test_no_json_body_with_bad_text_or_numbers_is_taken(desk: Desk, bad: str | int, where: str) -> None:
    before = counts(desk.node)
    if where == "name" and isinstance(bad, str):
        body: Any = {bad: "x"}
    elif where == "nested":
        body = {"kind": "preservation", "to": "FRA/247", "fields": {**PRESERVATION, "facts": bad}, "items": [bad]}
    else:
        body = {"case": bad}
    for method, path in json_routes(desk.app):
        answer = desk.client.request(method, url(path, desk), content=encoded(body),
                                     headers={**desk.duty_officer, "content-type": "application/json"})
        assert answer.status_code == 422, (method, path, answer.status_code, answer.text)
        problem = answer.json()
        assert problem["code"] in REFUSED_CODES, (method, path, problem)
        if problem["code"] != "invalid":  # a syntax refusal has no member to name
            assert problem["detail"].split(":")[0] in ("case", "fields.facts", "items[0]", "the body") or \
                "member name" in problem["detail"], problem
    assert counts(desk.node) == before


@pytest.mark.parametrize("body", [b'{"a": NaN}', b'{"a": Infinity}', b'{"a": 1e400}', b'{"a": 1, "a": 2}',
                                  b'{"a": "\xff"}', b"[" * 5000, b'{"a": 1' + b"0" * 5000 + b"}"])
def test_what_is_not_i_json_is_refused(desk: Desk, body: bytes) -> None:
    answer = desk.client.post("/api/v1/messages", content=body,
                              headers={**desk.duty_officer, "content-type": "application/json"})
    assert answer.status_code == 422 and answer.json()["code"] in REFUSED_CODES, answer.text


def test_a_draft_with_a_lone_surrogate_is_refused_and_not_stored(desk: Desk) -> None:
    # Regression: the draft was stored and answered 500, and every later GET of it answered 500.
    before = counts(desk.node)
    draft = {"kind": "preservation", "to": "FRA/247", "fields": {**PRESERVATION, "facts": "log\ud800"}, "send": False}
    answer = desk.client.post("/api/v1/requests", content=encoded(draft),
                              headers={**desk.duty_officer, "content-type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "invalid_text"
    assert answer.json()["detail"].startswith("fields.facts: character 4 is U+D800"), answer.text
    assert counts(desk.node) == before
    for listed in desk.client.get("/api/v1/requests", headers=desk.duty_officer).json():
        shown = desk.client.get(f"/api/v1/requests/{listed['ref']}", params=READ, headers=desk.duty_officer)
        assert shown.status_code == 200


@pytest.mark.parametrize(("field", "value"), [("case", "VNM-2026\n-0001"), ("case", "VNM\t1"), ("to", "FRA/247\n")])
def test_one_line_fields_refuse_line_breaks(desk: Desk, field: str, value: str) -> None:
    draft = {"kind": "preservation", "to": "FRA/247", "fields": PRESERVATION, "send": False, field: value}
    answer = desk.client.post("/api/v1/requests", json=draft, headers=desk.duty_officer)
    assert answer.status_code == 422 and field in answer.json()["detail"], answer.text


def test_free_text_keeps_its_lines(desk: Desk) -> None:
    facts = "Ransomware since 02:10.\n\tServer 203.0.113.7 encrypts the patients' records."
    draft = {"kind": "preservation", "to": "FRA/247", "fields": {**PRESERVATION, "facts": facts}, "send": False}
    answer = desk.client.post("/api/v1/requests", json=draft, headers=desk.duty_officer)
    assert answer.status_code == 201, answer.text
    shown = desk.client.get(f"/api/v1/requests/{answer.json()['ref']}", params=READ, headers=desk.duty_officer)
    assert json.dumps(facts)[1:-1] in shown.text, "tab and line feed kept as written"


@pytest.mark.parametrize("query", ["kind=a%00", "desk=%1b%5b2J", "limit=1&x%0a=1"])
def test_every_query_is_one_line_of_text(desk: Desk, query: str) -> None:
    for method, path in api_routes(desk.app):
        if method != "GET":
            continue
        answer = desk.client.get(f"{url(path, desk)}?{query}", headers=desk.duty_officer)
        assert answer.status_code in (422, 400), (path, answer.status_code, answer.text)
