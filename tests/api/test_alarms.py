"""``/api/v1/alarms`` and ``/healthz``: alarms listed by role and desk, acknowledged and cleared, counted."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hanoinet.api.app import create_app
from hanoinet.crypto.keys import KeyPair
from hanoinet.db.models import Alarm
from hanoinet.node import audit
from hanoinet.node.node import Node
from hanoinet.node.officers import add_officer
from tests.support import auth, make_node, publish


def token(node: Node, role: str, desk: str = "247", name: str = "Officer") -> str:
    with node.db.transaction() as uow:
        _, value = add_officer(uow.session, name=name, role=role, desk=desk, desks=node.settings.desk_ids)
    return value


def raise_alarm(node: Node, code: str, desk: str | None, severity: str = "high") -> int:
    with node.db.transaction() as uow:
        audit.alarm(uow.session, code=code, message=f"{code} [bold]happened[/]", severity=severity, desk=desk)
    with node.db.transaction(readonly=True) as uow:
        return max(uow.session.scalars(select(Alarm.id)))


@pytest.fixture
def vnm(tmp_path: Path, authority: KeyPair, database_urls: Callable[[], str]) -> Node:
    node = make_node(tmp_path, "VNM", authority, port=8401, database_url=database_urls())
    publish([node], authority)
    return node


def test_alarms_are_listed_acknowledged_cleared_and_counted_by_healthz(vnm: Node) -> None:
    duty, admin = token(vnm, "duty_officer", name="Lan"), token(vnm, "admin", name="Operator")
    lawyer = token(vnm, "central_authority", desk="CA", name="Thu")
    ours = raise_alarm(vnm, "message_undeliverable", "247")
    node_wide = raise_alarm(vnm, "directory_expired", None, severity="critical")
    with TestClient(create_app(vnm, background=False)) as client:
        assert (client.get("/healthz").json()["open_alarms"], client.get("/healthz").json()["acknowledged_alarms"]) \
            == (2, 0)
        assert [a["id"] for a in client.get("/api/v1/alarms", headers=auth(duty)).json()] == [ours]
        assert client.get("/api/v1/alarms", headers=auth(lawyer)).json() == []
        assert [a["id"] for a in client.get("/api/v1/alarms", headers=auth(admin)).json()] == [node_wide, ours]

        acked = client.post(f"/api/v1/alarms/{ours}/acknowledge", json={"reason": "calling FRA"}, headers=auth(duty))
        assert acked.status_code == 200, acked.text
        assert acked.json()["state"] == "acknowledged" and acked.json()["acknowledged"]["by"]["name"] == "Lan"
        health = client.get("/healthz").json()
        assert (health["open_alarms"], health["acknowledged_alarms"]) == (1, 1)

        cleared = client.post(f"/api/v1/alarms/{node_wide}/clear", json={"reason": "version 8 imported"},
                              headers=auth(admin))
        assert cleared.json()["cleared"]["reason"] == "version 8 imported"
        health = client.get("/healthz").json()
        assert (health["open_alarms"], health["acknowledged_alarms"]) == (0, 1)
        assert [(a["id"], a["state"]) for a in client.get(
            "/api/v1/alarms", params={"state": ["cleared", "acknowledged"]}, headers=auth(admin)).json()] \
            == [(node_wide, "cleared"), (ours, "acknowledged")]
        assert [a["id"] for a in client.get("/api/v1/alarms", params={"severity": "critical", "state": "cleared"},
                                            headers=auth(admin)).json()] == [node_wide]
        trail = [(e["action"], e["target"], e["detail"]["reason"]) for e in client.get(
            "/api/v1/audit", headers=auth(admin)).json() if e["action"].startswith("alarm.")]
    assert trail == [("alarm.clear", f"alarm:{node_wide}", "version 8 imported"),
                     ("alarm.acknowledge", f"alarm:{ours}", "calling FRA")]


def test_refusals_are_problem_documents_that_say_what_to_do(vnm: Node) -> None:
    duty, admin = token(vnm, "duty_officer", name="Lan"), token(vnm, "admin", name="Operator")
    examiner, reviewer = token(vnm, "examiner"), token(vnm, "reviewer")
    ours, theirs = raise_alarm(vnm, "message_refused", "247"), raise_alarm(vnm, "request_not_delivered", "CA")
    with TestClient(create_app(vnm, background=False)) as client:
        no_token = client.get("/api/v1/alarms")
        examiner_list = client.get("/api/v1/alarms", headers=auth(examiner))
        reviewer_list = client.get("/api/v1/alarms", headers=auth(reviewer))
        other_desk = client.post(f"/api/v1/alarms/{theirs}/acknowledge", json={}, headers=auth(duty))
        other_desk_listed = client.get("/api/v1/alarms", params={"desk": "CA"}, headers=auth(duty))
        duty_clear = client.post(f"/api/v1/alarms/{ours}/clear", json={"reason": "done"}, headers=auth(duty))
        no_reason = client.post(f"/api/v1/alarms/{ours}/clear", json={}, headers=auth(admin))
        blank = client.post(f"/api/v1/alarms/{ours}/clear", json={"reason": " "}, headers=auth(admin))
        missing = client.post("/api/v1/alarms/999/acknowledge", json={}, headers=auth(admin))
        huge_id = client.post(f"/api/v1/alarms/{2**64}/acknowledge", json={}, headers=auth(admin))
        bad_state = client.get("/api/v1/alarms", params={"state": "closed"}, headers=auth(admin))
        assert client.post(f"/api/v1/alarms/{ours}/clear", json={"reason": "fixed"}, headers=auth(admin)).is_success
        twice = client.post(f"/api/v1/alarms/{ours}/clear", json={"reason": "again"}, headers=auth(admin))
    assert (no_token.status_code, no_token.json()["code"]) == (401, "unauthenticated")
    assert (examiner_list.status_code, reviewer_list.status_code) == (403, 403)
    assert (other_desk.status_code, other_desk.json()["detail"]) == (404, f"no alarm {theirs} visible to desk 247")
    assert other_desk_listed.status_code == 403
    assert (duty_clear.status_code, duty_clear.json()["code"]) == (403, "forbidden")
    assert f"hanoinet alarms ack {ours}" in duty_clear.json()["hint"]
    assert no_reason.status_code == 422 and "reason" in no_reason.json()["detail"]
    assert (blank.status_code, blank.json()["detail"]) == (422, "clearing an alarm needs a reason")
    assert missing.status_code == 404 and huge_id.status_code == 422 and bad_state.status_code == 422
    assert (twice.status_code, twice.json()["code"]) == (409, "alarm_cleared")
    assert twice.json()["detail"].endswith(": fixed") and "Operator" in twice.json()["detail"]
    for response in (no_token, other_desk, duty_clear, blank, twice):
        assert response.headers["content-type"] == "application/problem+json"


def test_the_openapi_document_describes_the_refusals(vnm: Node) -> None:
    with TestClient(create_app(vnm, background=False)) as client:
        paths = client.get("/openapi.json").json()["paths"]
    clear = paths["/api/v1/alarms/{alarm_id}/clear"]["post"]["responses"]
    assert {"401", "403", "404", "409", "422"} <= set(clear)
    assert "application/problem+json" in clear["409"]["content"]
    assert "alarm_cleared" in clear["409"]["description"]
    assert "403" in paths["/api/v1/alarms"]["get"]["responses"]
