"""Advocates and reviewers are filed at a desk but read none of its work: they use only their own routes.

Every route under ``/api/v1`` is taken from the application itself, so a route added later is checked too.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hanoinet.api.app import create_app
from hanoinet.crypto.keys import KeyPair
from hanoinet.db.models import AuditEntry, OutboxMessage, RequestRecord, VictimCase
from hanoinet.errors import Forbidden
from hanoinet.node.node import Node
from hanoinet.node.officers import Principal, Role
from tests.requests.test_service import PRESERVATION
from tests.support import READ, auth, make_node, officer_token, publish

#: What each confined role may call: (method, route path). Any other route under /api/v1 answers 403.
ALLOWED = {
    "advocate": {("GET", "/api/v1/me"), ("POST", "/api/v1/victims/cases")},
    "reviewer": {("GET", "/api/v1/me"), ("POST", "/api/v1/match"), ("GET", "/api/v1/reviews"),
                 ("POST", "/api/v1/reviews/{report_id}"), ("POST", "/api/v1/reviews/entries/{entry}/release")},
}
PLATFORMS_ONLY = "platforms_only"
NOTE = {"subject": "Ransomware at the Bach Mai hospital", "text": "Call me at +84 24 0000 0000, Lan"}
PARAMETER = re.compile(r"{(\w+)(?::\w+)?}")


@dataclass(frozen=True)
class Desk:
    """Desk 247 of Viet Nam with a duty officer's message, request and upload on it, and its officers' tokens."""

    node: Node
    app: FastAPI
    client: TestClient
    duty_officer: dict[str, str]
    advocate: dict[str, str]
    reviewer: dict[str, str]
    message_id: str
    ref: str
    upload_id: str

    def headers(self, role: str) -> dict[str, str]:
        """The headers of the advocate or the reviewer."""
        return self.advocate if role == "advocate" else self.reviewer


@pytest.fixture
def desk(tmp_path: Path, authority: KeyPair) -> Iterator[Desk]:
    vnm = make_node(tmp_path, "VNM", authority, port=8401)
    fra = make_node(tmp_path, "FRA", authority, port=8402)
    publish([vnm, fra], authority)
    lan = auth(officer_token(vnm, "duty_officer", name="Nguyen Thi Lan"))
    app = create_app(vnm, background=False)
    with TestClient(app) as client:
        sent = client.post("/api/v1/messages", json={"to": "FRA/247", "kind": "note.text", "body": NOTE},
                           headers=lan)
        assert sent.status_code == 202, sent.text
        made = client.post("/api/v1/requests", json={"kind": "preservation", "to": "FRA/247",
                                                     "fields": PRESERVATION, "case": "VNM-2026-0117"}, headers=lan)
        assert made.status_code == 201, made.text
        upload = client.post("/api/v1/evidence/uploads", json={"case": "VNM-2026-0117", "name": "server.log",
                                                               "size": 10}, headers=lan)
        assert upload.status_code == 201, upload.text
        yield Desk(node=vnm, app=app, client=client, duty_officer=lan, advocate=auth(officer_token(vnm, "advocate")),
                   reviewer=auth(officer_token(vnm, "reviewer")), message_id=sent.json()["message_id"],
                   ref=made.json()["ref"], upload_id=upload.json()["id"])
    vnm.close()
    fra.close()


def api_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) of the application under /api/v1, however its routers were included."""
    found: list[tuple[str | None, set[str] | None]]
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before 0.137 lists every route in app.routes
        found = [(r.path, r.methods) for r in app.routes if isinstance(r, APIRoute)]
    else:
        found = [(c.path, c.methods) for c in iter_route_contexts(app.routes) if isinstance(c.original_route, APIRoute)]
    routes = sorted({(method, path) for path, methods in found if path and path.startswith("/api/v1/")
                     for method in methods or ()})
    # Not quietly vacuous: the routes of every router are there.
    for known in [("GET", "/api/v1/messages/{message_id}"), ("GET", "/api/v1/requests/{ref}"), ("GET", "/api/v1/rota"),
                  ("GET", "/api/v1/evidence"), ("GET", "/api/v1/ledger"), ("GET", "/api/v1/hashbank/stats"),
                  ("GET", "/api/v1/reviews"), ("POST", "/api/v1/victims/cases"), ("POST", "/api/v1/match")]:
        assert known in routes, known
    return routes


def url(path: str, desk: Desk) -> str:
    """``path`` with real values for the desk's message, request and upload, and dummies for the rest."""
    real = {"message_id": desk.message_id, "ref": desk.ref, "upload_id": desk.upload_id, "action": "acknowledge",
            "package_id": "0193a1b2-0000-7000-8000-000000000000", "entry": "0193a1b2-0000-7000-8000-000000000000",
            "path": "0/000"}
    return PARAMETER.sub(lambda m: real.get(m.group(1), "1"), path)


def counts(node: Node) -> tuple[int, ...]:
    """How many messages, requests and victims' cases the node holds."""
    with node.db.transaction(readonly=True) as uow:
        return tuple(uow.session.scalar(select(func.count()).select_from(table)) or 0
                     for table in (OutboxMessage, RequestRecord, VictimCase))


def audit_actions(node: Node) -> list[str]:
    """The audit trail's actions, oldest first (reading a message or a request is one)."""
    with node.db.transaction(readonly=True) as uow:
        return list(uow.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def test_a_desk_member_reads_the_message_and_the_request(desk: Desk) -> None:
    """The data the next tests keep from advocates and reviewers is there for the desk's officers."""
    message = desk.client.get(f"/api/v1/messages/{desk.message_id}", headers=desk.duty_officer)
    assert message.status_code == 200 and message.json()["body"]["text"] == NOTE["text"]
    request = desk.client.get(f"/api/v1/requests/{desk.ref}", params=READ, headers=desk.duty_officer)
    assert request.status_code == 200, request.text
    listed = desk.client.get("/api/v1/messages", headers=desk.duty_officer).json()
    assert desk.message_id in [m["message_id"] for m in listed]
    assert [r["ref"] for r in desk.client.get("/api/v1/requests", headers=desk.duty_officer).json()] == [desk.ref]


@pytest.mark.parametrize("role", ["advocate", "reviewer"])
def test_advocates_and_reviewers_read_nothing_of_their_desk(desk: Desk, role: str) -> None:
    headers = desk.headers(role)
    routes = [(method, path) for method, path in api_routes(desk.app) if method == "GET"]
    before = audit_actions(desk.node)
    for method, path in routes:
        answer = desk.client.request(method, url(path, desk), headers=headers)
        if (method, path) in ALLOWED[role]:
            assert answer.status_code == 200, (role, path, answer.text)
            continue
        assert answer.status_code == 403, (role, path, answer.status_code, answer.text)
        problem = answer.json()
        if problem["code"] != PLATFORMS_ONLY:  # the platforms' routes refuse every officer
            assert problem["code"] == "forbidden", (role, path, problem)
            assert f"role {role} may not use GET {path}" in problem["detail"], problem
        assert NOTE["text"] not in answer.text and desk.ref not in answer.text
    assert audit_actions(desk.node) == before, "no reading of a message or a request was recorded"


@pytest.mark.parametrize("role", ["advocate", "reviewer"])
def test_advocates_and_reviewers_change_nothing_outside_their_routes(desk: Desk, role: str) -> None:
    headers = desk.headers(role)
    routes = [(method, path) for method, path in api_routes(desk.app) if method != "GET"]
    before = counts(desk.node)
    for method, path in routes:
        if (method, path) in ALLOWED[role]:
            continue
        answer = desk.client.request(method, url(path, desk), json={}, headers={**headers, "upload-offset": "0"})
        assert answer.status_code == 403, (role, method, path, answer.status_code, answer.text)
        assert answer.json()["code"] in ("forbidden", PLATFORMS_ONLY), (role, method, path, answer.text)
    assert counts(desk.node) == before
    # Refused by the role, not by the body: a message a duty officer could send.
    refused = desk.client.post("/api/v1/messages", json={"to": "FRA/247", "kind": "note.text", "body": NOTE},
                               headers=headers)
    assert refused.status_code == 403 and "may only" in refused.json()["detail"]


def test_the_routes_of_advocates_and_reviewers_keep_working(desk: Desk) -> None:
    client = desk.client
    me = client.get("/api/v1/me", headers=desk.advocate).json()
    assert (me["role"], me["desk"]) == ("advocate", "247")
    hashes = [secrets.token_hex(32) for _ in range(8)]
    case = {"category": "art16", "language": "vi", "images": [{"hashes": hashes, "quality": 90}]}
    opened = client.post("/api/v1/victims/cases", json=case, headers=desk.advocate)
    assert opened.status_code == 201, opened.text
    code = hashes[0]

    refused = client.post("/api/v1/match", json={"items": [{"hashes": [code]}]}, headers=desk.advocate)
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden", "advocates do not search the bank"

    assert client.get("/api/v1/me", headers=desk.reviewer).json()["role"] == "reviewer"
    assert client.get("/api/v1/reviews", headers=desk.reviewer).json() == {"status": "pending", "reports": []}
    missing = client.post("/api/v1/reviews/999", json={"decision": "confirm"}, headers=desk.reviewer)
    assert missing.status_code == 404 and missing.json()["code"] == "report_not_found"
    matched = client.post("/api/v1/match", json={"items": [{"hashes": [code]}]}, headers=desk.reviewer)
    assert matched.status_code == 200, matched.text
    assert [m["distance"] for m in matched.json()["items"][0]["matches"]] == [0]
    for_advocates = client.post("/api/v1/victims/cases", json=case, headers=desk.reviewer)
    assert for_advocates.status_code == 403 and "advocate" in for_advocates.json()["detail"]


@pytest.mark.parametrize(("role", "path"), [("advocate", "/api/v1/reviews"), ("reviewer", "/api/v1/messages")])
def test_a_refusal_says_what_the_role_may_do(desk: Desk, role: str, path: str) -> None:
    problem = desk.client.get(path, headers=desk.headers(role)).json()
    detail = problem["detail"]
    assert detail.startswith(f"role {role} may not use GET {path}"), detail
    if role == "advocate":
        assert "POST /api/v1/victims/cases" in detail and "reviewers" in detail
    else:
        assert "/api/v1/reviews" in detail and "POST /api/v1/match" in detail
    assert "GET /api/v1/me" in detail and problem["hint"]


def test_admins_and_desk_officers_keep_their_routes(desk: Desk) -> None:
    admin = auth(officer_token(desk.node, "admin"))
    supervisor = auth(officer_token(desk.node, "supervisor"))
    for headers in (admin, supervisor, desk.duty_officer):
        assert desk.client.get(f"/api/v1/requests/{desk.ref}", params=READ, headers=headers).status_code == 200
        assert desk.client.get("/api/v1/hashbank/stats", headers=headers).status_code == 200
    assert desk.client.get("/api/v1/reviews", headers=admin).status_code == 200
    assert desk.client.get("/api/v1/audit", headers=admin).status_code == 200


def test_only_advocates_and_reviewers_are_confined_and_each_has_its_routes() -> None:
    from hanoinet.api.officers import CONFINED_ROUTES
    from hanoinet.node.officers import CONFINED_ROLES

    assert {Role.ADVOCATE, Role.REVIEWER} == CONFINED_ROLES == set(CONFINED_ROUTES)
    for role in Role:
        officer = Principal(id=1, name="Someone", role=role, desk="247")
        confined = role in CONFINED_ROLES
        assert officer.can_read_desk("247") is not confined
        assert not (confined and officer.reads_every_desk)
        if confined:
            with pytest.raises(Forbidden, match="acts for no desk"):
                officer.require_desk("247")
        else:
            officer.require_desk("247")
