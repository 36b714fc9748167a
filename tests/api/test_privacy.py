"""Reading personal data through the API needs a reason and is recorded; auditors query the access log (and
their queries are recorded too) and check its chain."""

from __future__ import annotations

from typing import Any

import pytest

from hanoinet.privacy import access
from tests.api.test_roles import Desk
from tests.support import READ, auth, officer_token

REQUEST_ROUTE = "GET /api/v1/requests/{ref}"


def _log(desk: Desk, headers: dict[str, str], **query: Any) -> dict[str, Any]:
    answer = desk.client.get("/api/v1/access-log", headers=headers, params={"reason": "quarterly audit", **query})
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


@pytest.fixture
def admin(desk: Desk) -> dict[str, str]:
    return auth(officer_token(desk.node, "admin", name="Tran Van Minh"))


def _rows(desk: Desk) -> int:
    with desk.node.db.transaction(readonly=True) as uow:
        return access.verify(uow.session).rows


def test_a_request_is_shown_only_with_a_reason(desk: Desk) -> None:
    for query in ({}, {"reason": ""}, {"reason": "   "}):
        answer = desk.client.get(f"/api/v1/requests/{desk.ref}", headers=desk.duty_officer, params=query)
        problem = answer.json()
        assert answer.status_code == 422 and problem["code"] == "reason_required", answer.text
        assert "reason" in problem["detail"] and "add the query parameter reason" in problem["hint"]
        assert desk.ref not in answer.text
    answer = desk.client.get(f"/api/v1/requests/{desk.ref}", headers=desk.duty_officer,
                             params={"reason": "answering\nFRA-2026-0012"})
    assert answer.status_code == 422 and answer.json()["code"] == "invalid_text"
    assert _rows(desk) == 0


def test_viewing_a_request_is_recorded_with_who_what_why_and_the_route(desk: Desk, admin: dict[str, str]) -> None:
    missing = desk.client.get(f"/api/v1/requests/{desk.ref[:-4]}9999", headers=desk.duty_officer, params=READ)
    assert missing.status_code == 404 and _rows(desk) == 0, "only reads that happened are recorded"
    shown = desk.client.get(f"/api/v1/requests/{desk.ref}", headers=desk.duty_officer,
                            params={"reason": "  trả lời yêu cầu FRA-2026-0012 "})
    assert shown.status_code == 200, shown.text
    [entry] = _log(desk, admin, kind="request")["entries"]
    me = desk.client.get("/api/v1/me", headers=desk.duty_officer).json()
    assert {k: entry[k] for k in ("seq", "officer_id", "actor", "name", "kind", "item", "case", "reason", "via")} == {
        "seq": 1, "officer_id": me["id"], "actor": f"officer:{me['id']}", "name": "Nguyen Thi Lan",
        "kind": "request", "item": desk.ref, "case": "VNM-2026-0117", "reason": "trả lời yêu cầu FRA-2026-0012",
        "via": REQUEST_ROUTE}
    # Lists show summaries: not recorded.
    assert desk.client.get("/api/v1/requests", headers=desk.duty_officer).status_code == 200
    assert _log(desk, admin, kind="request")["entries"] == [entry]


def test_a_read_that_cannot_be_recorded_is_not_shown(desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object) -> list[access.AccessEntry]:
        raise RuntimeError("the database is full")

    monkeypatch.setattr(access, "record_many", broken)
    with pytest.raises(RuntimeError, match="full"):
        desk.client.get(f"/api/v1/requests/{desk.ref}", headers=desk.duty_officer, params=READ)


def test_the_auditors_query_filters_pages_and_is_itself_recorded(desk: Desk, admin: dict[str, str]) -> None:
    supervisor = auth(officer_token(desk.node, "supervisor", name="Pham Thi Hoa"))
    for headers in (desk.duty_officer, supervisor, desk.duty_officer):
        assert desk.client.get(f"/api/v1/requests/{desk.ref}", headers=headers, params=READ).status_code == 200
    lan = desk.client.get("/api/v1/me", headers=desk.duty_officer).json()["id"]
    assert [e["seq"] for e in _log(desk, admin, officer=str(lan))["entries"]] == [3, 1]
    # The query just made is row 4, with its filters as the item and the auditor's reason.
    newest = _log(desk, supervisor, limit=1)
    [query] = newest["entries"]
    assert (query["seq"], query["kind"], query["item"], query["reason"], query["name"], query["via"]) == (
        4, "access_log", f"officer=officer:{lan}", "quarterly audit", "Tran Van Minh", "GET /api/v1/access-log")
    assert newest["before"] == 4
    older = _log(desk, admin, limit=2, before=newest["before"])
    assert [e["seq"] for e in older["entries"]] == [3, 2] and older["before"] == 2
    assert [e["seq"] for e in _log(desk, admin, case="VNM-2026-0117", item=desk.ref)["entries"]] == [3, 2, 1]
    assert _log(desk, admin, since="2000-01-01T00:00:00+07:00", until="2000-01-02T00:00:00Z")["entries"] == []
    bad = desk.client.get("/api/v1/access-log", headers=admin, params={**READ, "since": "yesterday"})
    assert bad.status_code == 422 and "since" in bad.json()["detail"]
    unexplained = desk.client.get("/api/v1/access-log", headers=admin)
    assert unexplained.status_code == 422 and unexplained.json()["code"] == "reason_required"


def test_the_chain_check_names_the_head_and_fails_for_an_anchor_no_longer_there(
        desk: Desk, admin: dict[str, str]) -> None:
    assert desk.client.get(f"/api/v1/requests/{desk.ref}", headers=desk.duty_officer, params=READ).status_code == 200
    [entry] = _log(desk, admin)["entries"]
    check = desk.client.get("/api/v1/access-log/chain", headers=admin, params={"anchor": entry["digest"]}).json()
    assert check == {"intact": True, "rows": 2, "head": check["head"], "anchored": True, "breaks": []}
    lost = desk.client.get("/api/v1/access-log/chain", headers=admin, params={"anchor": "ab" * 32}).json()
    assert lost["intact"] is False and lost["anchored"] is False
    assert desk.client.get("/api/v1/access-log/chain", headers=admin, params={"anchor": "xyz"}).status_code == 422


def test_the_reason_is_documented_on_every_route_that_needs_one(desk: Desk) -> None:
    paths = desk.client.get("/openapi.json").json()["paths"]
    for path in ("/api/v1/requests/{ref}", "/api/v1/evidence/offers/{package_id}/package", "/api/v1/access-log"):
        [reason] = [p for p in paths[path]["get"]["parameters"] if p["name"] == "reason"]
        assert reason["in"] == "query" and "why you read this (required)" in reason["description"]
        assert "422" in paths[path]["get"]["responses"]


def test_acting_on_a_request_shows_it_and_records_the_read_with_the_act_as_its_reason(
        desk: Desk, admin: dict[str, str]) -> None:
    acted = desk.client.post(f"/api/v1/requests/{desk.ref}/withdraw", headers=desk.duty_officer,
                             json={"reason": "no longer needed"})
    assert acted.status_code == 200, acted.text
    assert "fields" in acted.json()  # the whole request, as every act answers it...
    [entry] = _log(desk, admin, kind="request")["entries"]  # ...recorded like any read of it
    assert (entry["item"], entry["reason"], entry["via"]) == (
        desk.ref, "to withdraw the request", "POST /api/v1/requests/{ref}/{action}")
