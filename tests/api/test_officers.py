"""The officer API: tokens, roles and desks, and the audit trail of who did what."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hanoinet.api.app import create_app
from hanoinet.clock import now, parse_instant
from hanoinet.crypto.keys import KeyPair
from hanoinet.node.node import Node
from hanoinet.node.officers import add_officer
from tests.alerts.support import policy_for
from tests.support import auth, make_node, publish


def token(node: Node, role: str, desk: str = "247", name: str = "Officer") -> str:
    with node.db.transaction() as uow:
        _, value = add_officer(uow.session, name=name, role=role, desk=desk, desks=node.settings.desk_ids)
    return value


@pytest.fixture
def vnm(tmp_path: Path, authority: KeyPair) -> Node:
    node = make_node(tmp_path, "VNM", authority, port=8401)
    fra = make_node(tmp_path, "FRA", authority, port=8402)
    publish([node, fra], authority)
    return node


NOTE = {"to": "FRA/247", "kind": "note.text", "body": {"subject": "Preserve", "text": "Please preserve"},
        "case": "VNM-1"}


def test_requests_without_a_valid_token_are_refused(vnm: Node) -> None:
    with TestClient(create_app(vnm, background=False)) as client:
        missing = client.get("/api/v1/me")
        wrong = client.get("/api/v1/me", headers=auth("hnt_not-a-token"))
    assert (missing.status_code, missing.json()["code"]) == (401, "unauthenticated")
    assert (wrong.status_code, wrong.json()["code"]) == (401, "unauthenticated")
    assert missing.headers["content-type"] == "application/problem+json"
    # RFC 9110 section 11.6.1: a 401 says how to authenticate (RFC 6750: a bearer token; an invalid one named).
    assert missing.headers["www-authenticate"] == 'Bearer realm="hanoinet"'
    assert wrong.headers["www-authenticate"] == 'Bearer realm="hanoinet", error="invalid_token"'


def test_officer_sends_from_own_desk_only(vnm: Node) -> None:
    duty = token(vnm, "duty_officer")
    with TestClient(create_app(vnm, background=False)) as client:
        sent = client.post("/api/v1/messages", json=NOTE, headers=auth(duty))
        other_desk = client.post("/api/v1/messages", json={**NOTE, "desk": "CA"}, headers=auth(duty))
    assert sent.status_code == 202, sent.text
    assert sent.json()["status"] == "pending"
    assert (other_desk.status_code, other_desk.json()["code"]) == (403, "forbidden")


def test_admin_cannot_send_from_a_desk_the_node_does_not_have_regression(vnm: Node) -> None:
    admin = token(vnm, "admin")
    with TestClient(create_app(vnm, background=False)) as client:
        malformed = client.post("/api/v1/messages", json={**NOTE, "desk": "X"}, headers=auth(admin))
        unknown = client.post("/api/v1/messages", json={**NOTE, "desk": "ZZZ"}, headers=auth(admin))
    assert (malformed.status_code, malformed.json()["code"]) == (422, "invalid")
    assert (unknown.status_code, unknown.json()["code"]) == (422, "invalid")
    assert "no desk 'ZZZ'" in unknown.json()["detail"]


def test_bad_input_gets_a_problem_naming_the_field(vnm: Node) -> None:
    duty = token(vnm, "duty_officer")
    with TestClient(create_app(vnm, background=False)) as client:
        missing = client.post("/api/v1/messages", json={"to": "FRA/247"}, headers=auth(duty))
        bad_body = client.post("/api/v1/messages", json={**NOTE, "body": {"subject": "x"}}, headers=auth(duty))
        unknown_state = client.post("/api/v1/messages", json={**NOTE, "to": "DEU/247"}, headers=auth(duty))
        bad_address = client.post("/api/v1/messages", json={**NOTE, "to": "XXX/247"}, headers=auth(duty))
    assert missing.status_code == 422 and "kind" in missing.json()["detail"]
    assert (bad_body.status_code, bad_body.json()["code"]) == (400, "invalid_body")
    assert "text" in bad_body.json()["detail"]
    assert (unknown_state.status_code, unknown_state.json()["code"]) == (400, "unknown_state")
    assert bad_address.status_code == 422 and "XXX" in bad_address.json()["detail"]


def test_desks_see_only_their_messages_and_views_are_audited(vnm: Node) -> None:
    duty = token(vnm, "duty_officer", name="Duty")
    lawyer = token(vnm, "central_authority", desk="CA", name="Lawyer")
    supervisor = token(vnm, "supervisor", name="Chief")
    admin = token(vnm, "admin", name="Operator")
    with TestClient(create_app(vnm, background=False)) as client:
        message_id = client.post("/api/v1/messages", json=NOTE, headers=auth(duty)).json()["message_id"]
        assert client.get(f"/api/v1/messages/{message_id}", headers=auth(duty)).json()["body"]["text"]
        assert client.get(f"/api/v1/messages/{message_id}", headers=auth(lawyer)).status_code == 404
        assert client.get("/api/v1/messages", headers=auth(lawyer)).json() == []
        assert len(client.get("/api/v1/messages", headers=auth(supervisor)).json()) == 1
        assert client.get("/api/v1/audit", headers=auth(supervisor)).status_code == 403
        assert client.get("/api/v1/alarms", headers=auth(duty)).json() == [], "only its own desk's alarms"
        trail = client.get("/api/v1/audit", headers=auth(admin)).json()
    actions = [(e["action"], e["actor"]) for e in trail]
    assert ("message.view", "officer:1") in actions
    assert ("message.send", "officer:1") in actions


def test_health_and_metrics(vnm: Node) -> None:
    with TestClient(create_app(vnm, background=False)) as client:
        health = client.get("/healthz").json()
        metrics = client.get("/metrics")
    assert health["state"] == "VNM" and health["directory_version"] == 1
    assert metrics.status_code == 200 and "hanoinet_envelopes_received" in metrics.text


def test_admin_imports_a_directory_and_rollback_is_refused(vnm: Node, authority: KeyPair) -> None:
    from tests.support import directory_for

    admin = token(vnm, "admin")
    duty = token(vnm, "duty_officer")
    newer = directory_for([vnm.card()], authority, version=5)
    older = directory_for([vnm.card()], authority, version=4)
    headers = {**auth(admin), "content-type": "application/jose"}
    with TestClient(create_app(vnm, background=False)) as client:
        assert client.post("/api/v1/directory", content=newer, headers={**auth(duty)}).status_code == 403
        assert client.post("/api/v1/directory", content=newer, headers=headers).json()["version"] == 5
        rollback = client.post("/api/v1/directory", content=older, headers=headers)
    assert (rollback.status_code, rollback.json()["code"]) == (400, "directory_rollback")


def test_a_disabled_officer_is_refused_at_once(vnm: Node) -> None:
    from hanoinet.node.officers import disable_officer

    duty = token(vnm, "duty_officer")
    with TestClient(create_app(vnm, background=False)) as client:
        assert client.get("/api/v1/me", headers=auth(duty)).status_code == 200
        with vnm.db.transaction() as uow:
            disable_officer(uow.session, 1)
        refused = client.get("/api/v1/me", headers=auth(duty))
        sent = client.post("/api/v1/messages", json=NOTE, headers=auth(duty))
    assert (refused.status_code, refused.json()["code"]) == (401, "unauthenticated")
    assert sent.status_code == 401


def test_workflow_kinds_cannot_be_sent_as_plain_messages(tmp_path: Path, authority: KeyPair) -> None:
    vnm = make_node(tmp_path, "VNM", authority)
    publish([vnm, make_node(tmp_path, "FRA", authority)], authority)
    with vnm.db.transaction() as uow:
        _, token = add_officer(uow.session, name="Lan", role="duty_officer", desk="247", desks={"247", "CA"})
    client = TestClient(create_app(vnm, background=False))
    answer = client.post("/api/v1/messages", headers={"authorization": f"Bearer {token}"},
                         json={"to": "FRA/247", "kind": "request.event", "body": {}})
    assert answer.status_code == 422 and "sent by their workflow" in answer.json()["detail"]


def test_me_names_the_time_zone_of_the_officers_desk_and_messages_carry_protocol_instants(vnm: Node) -> None:
    duty = token(vnm, "duty_officer")
    with TestClient(create_app(vnm, background=False)) as client:
        before = client.get("/api/v1/me", headers=auth(duty)).json()
        policy_for(vnm, timezone="Asia/Ho_Chi_Minh")
        after = client.get("/api/v1/me", headers=auth(duty)).json()
        assert client.post("/api/v1/messages", json=NOTE, headers=auth(duty)).status_code == 202
        [listed] = client.get("/api/v1/messages", headers=auth(duty)).json()
    assert (before["desk"], before["timezone"], after["timezone"]) == ("247", "UTC", "Asia/Ho_Chi_Minh")
    assert parse_instant(listed["created_at"]) <= now()  # the protocol's one form, as every instant the API gives
