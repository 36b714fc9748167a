"""``/api/v1/hashbank/reports``, ``/notices`` and ``/api/v1/reviews``: platforms report, reviewers decide."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hanoinet.api.app import create_app
from hanoinet.crypto.keys import KeyPair
from hanoinet.db.models import TakedownStatus
from hanoinet.hashbank import bank, platforms
from hanoinet.hashbank.bank import NewHash
from hanoinet.node.node import Node
from tests.support import auth, make_node, officer_token, publish

#: What a reviewer sees of a report: the report, the platform, the entry's category and origin, distance and
#: trust. Nothing of a victim's case.
REVIEWER_VIEW = {"id", "platform", "entry", "kind", "category", "origin", "entry_status", "content_ref", "distance",
                 "action", "reason", "review", "reviewed_at", "reviewed_by", "reported_at", "updated_at", "due_at",
                 "escalated_at", "resolved_at", "overdue", "trust"}


@pytest.fixture
def vnm(tmp_path: Path, authority: KeyPair, database_url: str) -> Iterator[Node]:
    node = make_node(tmp_path, "VNM", authority, port=8401, database_url=database_url)
    publish([node], authority)
    yield node
    node.close()


@pytest.fixture
def client(vnm: Node) -> Iterator[TestClient]:
    with TestClient(create_app(vnm, background=False)) as made:
        yield made


def platform_token(node: Node, name: str) -> dict[str, str]:
    with node.db.transaction() as uow:
        _, token = platforms.register(uow.session, name=name, email=None, actor="test")
    return auth(token)


@pytest.fixture
def platform(vnm: Node) -> dict[str, str]:
    return platform_token(vnm, "Example Photos")


@pytest.fixture
def reviewer(vnm: Node) -> dict[str, str]:
    return auth(officer_token(vnm, "reviewer"))


def add(node: Node, category: str = "art14") -> tuple[bank.Entry, str]:
    code = secrets.token_hex(32)
    with node.db.transaction() as uow:
        [entry] = bank.add(uow.session, node.state, [NewHash(hash=code, quality=90, category=category)],
                           actor="test")
    return entry, code


def test_a_report_is_reviewed_noticed_and_answered(client: TestClient, vnm: Node, platform: dict[str, str],
                                                   reviewer: dict[str, str]) -> None:
    entry, _ = add(vnm)
    body = {"entry": entry.entry_id, "content_ref": "upload-1", "distance": 3, "action": "under_review"}
    first = client.post("/api/v1/hashbank/reports", json=body, headers=platform)
    assert first.status_code == 201, first.text
    made = first.json()
    assert (made["review"], made["category"], made["origin"], made["due_at"]) == ("pending", "art14", "VNM", None)
    assert "reviewed_by" not in made
    assert client.post("/api/v1/hashbank/reports", json=body, headers=platform).status_code == 200
    assert client.get("/api/v1/hashbank/notices", headers=platform).json()["notices"] == []

    queue = client.get("/api/v1/reviews", headers=reviewer).json()
    assert queue["status"] == "pending" and [r["id"] for r in queue["reports"]] == [made["id"]]
    shown = queue["reports"][0]
    assert set(shown) == REVIEWER_VIEW
    assert (shown["platform"], shown["distance"], shown["trust"]["trust"]) == ("Example Photos", 3, 0.5)

    decided = client.post(f"/api/v1/reviews/{made['id']}", json={"decision": "confirm", "note": "same image"},
                          headers=reviewer)
    assert decided.status_code == 200, decided.text
    assert decided.json()["review"] == "confirmed" and decided.json()["reviewed_by"].startswith("officer:")
    [notice] = client.get("/api/v1/hashbank/notices", headers=platform).json()["notices"]
    assert notice["id"] == made["id"] and notice["due_at"] and not notice["overdue"]
    again = client.post(f"/api/v1/reviews/{made['id']}", json={"decision": "reject"}, headers=reviewer)
    assert again.status_code == 409 and again.json()["code"] == "already_reviewed"

    answered = client.post("/api/v1/hashbank/reports", json={**body, "action": "removed"}, headers=platform)
    assert answered.status_code == 200 and answered.json()["resolved_at"]
    assert client.get("/api/v1/hashbank/notices", headers=platform).json()["notices"] == []
    with vnm.db.transaction(readonly=True) as uow:
        [status] = uow.session.scalars(select(TakedownStatus)).all()
    assert (status.state, status.platform, status.status) == ("VNM", "Example Photos", "removed")


def test_platforms_record_false_positives_on_their_own_reports(client: TestClient, vnm: Node,
                                                               platform: dict[str, str],
                                                               reviewer: dict[str, str]) -> None:
    entry, _ = add(vnm, "art16")
    made = client.post("/api/v1/hashbank/reports", json={"entry": entry.entry_id, "content_ref": "u1", "distance": 0,
                                                         "action": "under_review"}, headers=platform).json()
    other = platform_token(vnm, "Other Videos")
    assert client.post(f"/api/v1/hashbank/reports/{made['id']}/false-positive", headers=other).status_code == 404
    answer = client.post(f"/api/v1/hashbank/reports/{made['id']}/false-positive",
                         json={"reason": "a different person"}, headers=platform)
    assert answer.status_code == 200, answer.text
    assert answer.json()["review"] == "rejected" and answer.json()["trust"]["false_positives"] == 1
    assert answer.json()["reason"] == "a different person"
    assert client.post(f"/api/v1/hashbank/reports/{made['id']}/false-positive", headers=platform).status_code == 200
    assert client.get("/api/v1/reviews", headers=reviewer).json()["reports"] == []


def test_a_flood_is_quarantined_shown_in_matches_and_released(client: TestClient, vnm: Node,
                                                              platform: dict[str, str],
                                                              reviewer: dict[str, str]) -> None:
    vnm.settings.takedown_flood_threshold = 2  # each platform counts for at most 2 // 2 + 1 = 2 reports
    entry, code = add(vnm)
    other = platform_token(vnm, "Other Videos")

    def matched() -> dict[str, Any]:
        [match] = client.post("/api/v1/match", json={"items": [{"hashes": [code]}]},
                              headers=platform).json()["items"][0]["matches"]
        return cast(dict[str, Any], match)

    for ref, who in (("u1", platform), ("u2", platform), ("u3", platform), ("u1", other)):
        client.post("/api/v1/hashbank/reports", json={"entry": entry.entry_id, "content_ref": ref, "distance": 1,
                                                      "action": "under_review"}, headers=who)
        if who is platform:
            assert matched()["quarantined"] is False, "one platform alone floods nothing"
    match = matched()
    assert match["quarantined"] is True and match["trust"] == 0.5
    quarantined = client.get("/api/v1/reviews", params={"status": "quarantined"}, headers=reviewer).json()
    assert len(quarantined["reports"]) == 4 and quarantined["reports"][0]["trust"]["quarantine_reason"]

    released = client.post(f"/api/v1/reviews/entries/{entry.entry_id}/release", json={"note": "checked"},
                           headers=reviewer)
    assert released.status_code == 200, released.text
    assert released.json()["reports_pending_again"] == 4 and not released.json()["trust"]["quarantined"]
    again = client.post(f"/api/v1/reviews/entries/{entry.entry_id}/release", headers=reviewer)
    assert again.status_code == 409 and again.json()["code"] == "not_quarantined"
    assert matched()["quarantined"] is False


def test_who_may_do_what(client: TestClient, vnm: Node, platform: dict[str, str], reviewer: dict[str, str]) -> None:
    entry, _ = add(vnm)
    made = client.post("/api/v1/hashbank/reports", json={"entry": entry.entry_id, "content_ref": "u1", "distance": 1,
                                                         "action": "under_review"}, headers=platform).json()
    admin, examiner = auth(officer_token(vnm, "admin")), auth(officer_token(vnm, "examiner"))
    assert client.get("/api/v1/reviews", headers=admin).status_code == 200, "an admin may read the queues"
    for who in (admin, examiner):
        answer = client.post(f"/api/v1/reviews/{made['id']}", json={"decision": "confirm"}, headers=who)
        assert answer.status_code == 403 and "reviewer" in answer.json()["detail"]
    assert client.get("/api/v1/reviews", headers=examiner).status_code == 403
    assert client.get("/api/v1/reviews", headers=platform).status_code == 401, "platforms do not review"
    refused = client.get("/api/v1/hashbank/notices", headers=reviewer)
    assert refused.status_code == 403 and refused.json()["code"] == "platforms_only"
    refused = client.post("/api/v1/hashbank/reports", json={"entry": entry.entry_id, "content_ref": "u2",
                                                            "distance": 1, "action": "removed"}, headers=reviewer)
    assert refused.status_code == 403 and refused.json()["code"] == "platforms_only"
    assert client.get("/api/v1/hashbank/notices").status_code == 401


@pytest.mark.parametrize(("change", "status", "code"), [
    ({"action": "not_removed"}, 422, "reason_required"),
    ({"action": "deleted"}, 422, "invalid"),
    ({"distance": 40}, 422, "bad_distance"),
    ({"entry": "0193a1b2-0000-7000-8000-000000000000"}, 404, "entry_not_found"),
    ({"content_ref": ""}, 422, "bad_content_ref"),
    ({"victim": "name"}, 422, "invalid"),
])
def test_bad_reports_are_refused_naming_the_problem(client: TestClient, vnm: Node, platform: dict[str, str],
                                                    change: dict[str, object], status: int, code: str) -> None:
    entry, _ = add(vnm)
    body = {"entry": entry.entry_id, "content_ref": "u1", "distance": 1, "action": "under_review", **change}
    answer = client.post("/api/v1/hashbank/reports", json=body, headers=platform)
    assert answer.status_code == status, answer.text
    assert answer.json()["code"] == code


@pytest.mark.parametrize(("change", "code"), [
    # Refused by the node's one text rule at the API's door (invalid_text), a line break by the report's own.
    ({"content_ref": "a\u0000b"}, "invalid_text"),
    ({"content_ref": "upload\n1"}, "bad_content_ref"),
    ({"content_ref": "upload\u001b[1"}, "invalid_text"),
    ({"action": "not_removed", "reason": "court\u0000order"}, "invalid_text"),
    ({"action": "not_removed", "reason": "court order\u007f"}, "invalid_text"),
])
def test_control_characters_are_refused_on_every_database(client: TestClient, vnm: Node, platform: dict[str, str],
                                                          reviewer: dict[str, str], change: dict[str, object],
                                                          code: str) -> None:
    entry, _ = add(vnm)
    body = {"entry": entry.entry_id, "content_ref": "u1", "distance": 1, "action": "under_review"}
    answer = client.post("/api/v1/hashbank/reports", json={**body, **change}, headers=platform)
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == code and answer.json()["hint"]
    made = client.post("/api/v1/hashbank/reports", json=body, headers=platform).json()
    for path, sent, who in ((f"/api/v1/reviews/{made['id']}", {"decision": "confirm", "note": "same\u0000"}, reviewer),
                            (f"/api/v1/hashbank/reports/{made['id']}/false-positive", {"reason": "\u0000"}, platform)):
        refused = client.post(path, json=sent, headers=who)
        assert refused.status_code == 422 and refused.json()["code"] == "invalid_text", refused.text
    assert client.get("/api/v1/reviews", headers=reviewer).json()["reports"][0]["review"] == "pending"


def test_bad_review_requests_are_refused(client: TestClient, reviewer: dict[str, str]) -> None:
    assert client.get("/api/v1/reviews", params={"status": "all"}, headers=reviewer).status_code == 422
    missing = client.post("/api/v1/reviews/999", json={"decision": "confirm"}, headers=reviewer)
    assert missing.status_code == 404 and missing.json()["code"] == "report_not_found"
    assert client.post("/api/v1/reviews/1", json={"decision": "maybe"}, headers=reviewer).status_code == 422
    bad = client.post("/api/v1/reviews/entries/nope/release", headers=reviewer)
    assert bad.status_code == 422 and bad.json()["code"] == "bad_entry_id"
