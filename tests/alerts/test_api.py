"""The rota and pages API: supervisors and admins edit, desk officers read their own desk, errors explain."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from hanoinet.api.app import create_app
from hanoinet.clock import format_instant, now
from hanoinet.errors import ValidationError
from hanoinet.node.node import Node
from hanoinet.node.officers import add_officer
from tests.alerts.support import officer, page, policy_for
from tests.support import auth


def test_supervisors_edit_the_rota_in_the_desks_time_and_officers_see_who_is_on_duty(local_node: Node) -> None:
    node = local_node
    policy_for(node, timezone="Europe/Paris")
    anh, duty = officer(node, "Anh")
    _, chief = officer(node, "Chief", role="supervisor")
    _, lawyer = officer(node, "Lawyer", role="central_authority", desk="CA")
    mute, _ = officer(node, "Mute", email=None)
    entry = {"desk": "247", "officer_id": anh, "from": "2026-11-24 22:00", "to": "2026-11-25 06:00", "order": 1}
    with TestClient(create_app(node, background=False)) as client:
        refused = client.post("/api/v1/rota", json=entry, headers=auth(duty))
        added = client.post("/api/v1/rota", json=entry, headers=auth(chief))
        no_email = client.post("/api/v1/rota", json={**entry, "officer_id": mute, "order": 2}, headers=auth(chief))
        at_night = client.get("/api/v1/rota", params={"at": "2026-11-24T23:30:00Z"}, headers=auth(duty))
        # The same instant read off a clock in Paris, and a time with no offset, which could be on any clock.
        in_paris = client.get("/api/v1/rota", params={"at": "2026-11-25T00:30:00+01:00"}, headers=auth(duty))
        no_offset = client.get("/api/v1/rota", params={"at": "2026-11-25T00:30:00"}, headers=auth(duty))
        other_desk = client.get("/api/v1/rota", params={"desk": "247"}, headers=auth(lawyer))
        removed = client.delete(f"/api/v1/rota/{no_email.json()['id']}", headers=auth(chief))
        gone = client.delete(f"/api/v1/rota/{no_email.json()['id']}", headers=auth(chief))
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    assert added.status_code == 201, added.text
    view = added.json()
    assert (view["from"], view["to"]) == ("2026-11-24T21:00:00.000Z", "2026-11-25T05:00:00.000Z")
    assert (view["from_local"], view["to_local"]) == ("2026-11-24 22:00 CET (+01:00)", "2026-11-25 06:00 CET (+01:00)")
    assert view["timezone"] == "Europe/Paris"
    assert view["warnings"] == []
    assert "has no e-mail address" in no_email.json()["warnings"][0]
    rota = at_night.json()
    assert rota["timezone"] == "Europe/Paris" and rota["at"] == "2026-11-24T23:30:00.000Z"
    assert [(e["officer"], e["on_duty"]) for e in rota["entries"]] == [("Anh", True), ("Mute", True)]
    assert in_paris.json() == rota
    assert (no_offset.status_code, no_offset.json()["code"]) == (422, "invalid")
    assert "at: " in no_offset.json()["detail"] and "+01:00" in no_offset.json()["hint"]
    assert rota["on_duty"] == [{"officer_id": anh, "officer": "Anh"}]  # Mute has no address: skipped
    assert [s["officer"] for s in rota["supervisors"]] == ["Chief"]
    assert (other_desk.status_code, other_desk.json()["code"]) == (403, "forbidden")
    assert removed.json() == {"removed": no_email.json()["id"], "desk": "247"}
    assert (gone.status_code, gone.json()["code"]) == (404, "not_found")


@pytest.mark.parametrize(("change", "status", "words"), [
    ({"to": "2026-11-24 21:00"}, 422, "before it starts"),
    ({"from": "2026-03-29 02:30", "to": "2026-03-29 08:00"}, 422, "does not exist in Europe/Paris"),
    ({"from": "tonight"}, 422, "not a date and time"),
    ({"desk": "ZZZ"}, 422, "no desk 'ZZZ'"),
    ({"officer_id": 99}, 404, "no officer 99"),
    ({"order": 0}, 422, "order"),
])
def test_bad_rota_entries_are_refused_with_the_reason(local_node: Node, change: dict[str, object], status: int,
                                                      words: str) -> None:
    node = local_node
    policy_for(node, timezone="Europe/Paris")
    anh, _ = officer(node, "Anh")
    _, admin = officer(node, "Root", role="admin")
    entry = {"desk": "247", "officer_id": anh, "from": "2026-11-24 22:00", "to": "2026-11-25 06:00", **change}
    with TestClient(create_app(node, background=False)) as client:
        response = client.post("/api/v1/rota", json=entry, headers=auth(admin))
    assert response.status_code == status and words in response.json()["detail"]
    assert response.headers["content-type"] == "application/problem+json"


def test_an_officer_of_another_desk_cannot_be_put_on_the_rota(local_node: Node) -> None:
    lawyer, _ = officer(local_node, "Lawyer", role="central_authority", desk="CA")
    _, chief = officer(local_node, "Chief", role="supervisor")
    t = now()
    entry = {"desk": "247", "officer_id": lawyer, "from": format_instant(t), "to": format_instant(t + timedelta(1))}
    with TestClient(create_app(local_node, background=False)) as client:
        response = client.post("/api/v1/rota", json=entry, headers=auth(chief))
    assert response.status_code == 422 and "works at desk CA, not 247" in response.json()["detail"]


def test_open_pages_are_shown_to_their_desk_and_to_supervisors(local_node: Node) -> None:
    node = local_node
    _, duty = officer(node, "Anh")
    _, lawyer = officer(node, "Lawyer", role="central_authority", desk="CA")
    _, chief = officer(node, "Chief", role="supervisor")
    page(node)
    with TestClient(create_app(node, background=False)) as client:
        mine = client.get("/api/v1/pages", headers=auth(duty)).json()
        theirs = client.get("/api/v1/pages", headers=auth(lawyer)).json()
        every = client.get("/api/v1/pages", headers=auth(chief)).json()
    assert theirs == [] and mine == every
    [shown] = mine
    assert (shown["subject_ref"], shown["level"], shown["no_one_on_duty"]) == ("FRA-2026-0003", 1, True)
    assert [e["what"] for e in shown["timeline"]] == ["no_one_on_duty", "alert"]


def test_officers_have_an_email_address_shown_by_me(local_node: Node) -> None:
    _, duty = officer(local_node, "Anh")
    with TestClient(create_app(local_node, background=False)) as client:
        me = client.get("/api/v1/me", headers=auth(duty)).json()
    assert me["email"] == "anh@police.example.org"
    with pytest.raises(ValidationError, match="is not an e-mail address") as refused, \
            local_node.db.transaction() as uow:
        add_officer(uow.session, name="X", role="duty_officer", desk="247", desks=local_node.settings.desk_ids,
                    email="x@example.org\r\nBcc: everyone@example.org")
    assert "without a display name" in refused.value.hint


@pytest.mark.parametrize("role", ["advocate", "reviewer"])
def test_advocates_and_reviewers_take_no_duty(local_node: Node, role: str) -> None:
    _, chief = officer(local_node, "Chief", role="supervisor")
    confined, _ = officer(local_node, "Someone", role=role)
    with TestClient(create_app(local_node, background=False)) as client:
        refused = client.post("/api/v1/rota", headers=auth(chief), json={
            "desk": "247", "officer_id": confined, "order": 1, "from": "2026-11-23 22:00",
            "to": "2026-11-24 06:00"})
    assert refused.status_code == 422 and "takes no duty" in refused.json()["detail"]
