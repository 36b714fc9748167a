"""The authorisation matrix (docs/authorisation.md): every /api/v1 route, called by every role, on an object of the
officer's own desk and of another desk (and, for offers, an offer received from another State), with the status
each call must get. A route missing from the table fails the test: a new route must be classified.

One node (Viet Nam, desks 247 and CA) with officers of every role on both desks, and on each desk a message, a
request, an evidence file, an upload, an offer sent, an offer received from France, and custody records.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from hanoinet.api.app import create_app
from hanoinet.crypto.keys import KeyPair
from hanoinet.db.models import EvidenceCustody, LedgerEntry
from hanoinet.evidence import transfer
from hanoinet.evidence.package import UseConditions
from hanoinet.evidence.service import EvidenceService
from hanoinet.ledger.log import Sequencer
from hanoinet.node.node import Node
from hanoinet.node.officers import add_officer
from hanoinet.node.roles import Role
from tests.api.test_roles import ALLOWED, api_routes
from tests.requests.test_service import PRESERVATION
from tests.support import READ, auth, make_node, publish, pump

DESKS = ("247", "CA")
#: The officer of each desk who makes its objects.
MAKER = {"247": Role.DUTY_OFFICER, "CA": Role.CENTRAL_AUTHORITY}
PARAMETER = re.compile(r"{(\w+)(?::\w+)?}")
ALL = tuple(Role)
CONFINED = (Role.ADVOCATE, Role.REVIEWER)
EVERY_DESK = (Role.SUPERVISOR, Role.ADMIN)


def other(desk: str) -> str:
    """The node's other desk."""
    return DESKS[1 - DESKS.index(desk)]


@dataclass
class Objects:
    """What one desk holds: the ids the routes' parameters take, and words only its work shows."""

    message_id: str = ""
    ref: str = ""
    upload_id: str = ""
    file_id: str = ""
    case: str = ""
    package_out: str = ""
    package_in: str = ""
    case_in: str = ""
    entry: int = -1

    def secrets(self) -> list[str]:
        """Strings that appear in a response only if it shows this desk's work."""
        return [s for s in (self.message_id, self.ref, self.upload_id, self.file_id, self.case, self.package_out,
                            self.package_in, self.case_in) if s]


@dataclass
class Matrix:
    """The node, its API and the officers' headers by (role, desk)."""

    node: Node
    app: FastAPI
    client: TestClient
    officers: dict[tuple[Role, str], dict[str, str]] = field(default_factory=dict)
    objects: dict[str, Objects] = field(default_factory=dict)


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    root = tmp_path_factory.mktemp("authorisation")
    authority = KeyPair.generate("sig")
    vnm = make_node(root, "VNM", authority, port=8461)
    fra = make_node(root, "FRA", authority, port=8462)
    publish([vnm, fra], authority)
    headers: dict[tuple[Role, str], dict[str, str]] = {}
    with vnm.db.transaction() as uow:
        for role in Role:
            for desk in DESKS:
                _, token = add_officer(uow.session, name=f"{role} of {desk}", role=role, desk=desk,
                                       desks=vnm.settings.desk_ids)
                headers[role, desk] = auth(token)
    # France offers evidence to each desk of Viet Nam; Viet Nam's node pulls it.
    france = EvidenceService(fra)
    received: dict[str, tuple[str, str]] = {}
    for desk in DESKS:
        case = f"FRA-{desk}-0009"
        france.ingest(io.BytesIO(f"records for {desk}".encode()), name=f"fra-{desk}.log", case=case,
                      actor="officer:1")
        offered = transfer.offer(france, case=case, to=f"VNM/{desk}", desk="247", actor="officer:1",
                                 conditions=UseConditions(purpose="answer to a request"))
        received[desk] = (offered.package_id, case)
    pump({"VNM": vnm, "FRA": fra})
    fra_app = create_app(fra, background=False)
    fra_app.state.evidence = france
    app = create_app(vnm, background=False)
    with TestClient(fra_app, base_url=fra.settings.endpoint) as fra_client, TestClient(app) as client:
        puller = transfer.Puller(app.state.evidence, client=fra_client)
        for package_id, _ in received.values():
            assert puller.pull(package_id)
        matrix = Matrix(vnm, app, client, headers)
        for desk in DESKS:
            maker = headers[MAKER[desk], desk]
            made = Objects(case=f"VNM-{desk}-0117", package_in=received[desk][0], case_in=received[desk][1])
            sent = client.post("/api/v1/messages", headers=maker, json={
                "to": "FRA/247", "kind": "note.text", "case": made.case,
                "body": {"subject": f"Note of desk {desk}", "text": "Call me"}})
            assert sent.status_code == 202, sent.text
            made.message_id = sent.json()["message_id"]
            request = client.post("/api/v1/requests", headers=maker, json={
                "kind": "preservation", "to": "FRA/247", "fields": PRESERVATION, "case": made.case})
            assert request.status_code == 201, request.text
            made.ref = request.json()["ref"]
            upload = client.post("/api/v1/evidence/uploads", headers=maker,
                                 json={"case": made.case, "name": f"{desk}.log", "size": 9})
            assert upload.status_code == 201, upload.text
            put = client.put(f"/api/v1/evidence/uploads/{upload.json()['id']}", content=b"log lines",
                             headers={**maker, "upload-offset": "0"})
            assert put.status_code == 200, put.text
            done = client.post(f"/api/v1/evidence/uploads/{upload.json()['id']}/complete", headers=maker)
            assert done.status_code == 201, done.text
            made.file_id = done.json()["id"]
            pending = client.post("/api/v1/evidence/uploads", headers=maker,
                                  json={"case": made.case, "name": f"{desk}-more.log", "size": 5})
            made.upload_id = pending.json()["id"]
            offer = client.post("/api/v1/evidence/offers", headers=maker, json={
                "case": made.case, "to": "FRA/247", "purpose": "answer to request FRA-2026-0001"})
            assert offer.status_code == 201, offer.text
            made.package_out = offer.json()["package"]
            matrix.objects[desk] = made
        while (step := Sequencer(vnm, holder="t", batch=500).step()) is not None and step.count:
            pass
        with vnm.db.transaction(readonly=True) as uow:
            for made in matrix.objects.values():
                entry = uow.session.scalar(select(EvidenceCustody.entry).where(
                    EvidenceCustody.file_id == made.file_id, EvidenceCustody.action == "ingested"))
                made.entry = uow.session.scalar(select(LedgerEntry.idx).where(LedgerEntry.entry == entry)) or 0
        yield matrix
    vnm.close()
    fra.close()


def fresh_upload(matrix: Matrix, desk: str) -> str:
    """A new upload started by the desk's maker, for the routes that change or end one."""
    answer = matrix.client.post("/api/v1/evidence/uploads", headers=matrix.officers[MAKER[desk], desk],
                                json={"case": matrix.objects[desk].case, "name": "fresh.log", "size": 5})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def call(matrix: Matrix, method: str, path: str, role: Role, where: str) -> tuple[int, str, str]:
    """Call the route as ``role`` of desk 247 on desk ``where``'s objects (``own`` 247's, ``other`` CA's)."""
    desk = "247" if where == "own" else "CA"
    made = matrix.objects[desk]
    values = {"case": made.case, "message_id": made.message_id, "ref": made.ref, "upload_id": made.upload_id,
              "file_id": made.file_id, "package_id": made.package_in, "index": str(made.entry), "action": "acknowledge",
              "entry": "0193a1b2-0000-7000-8000-000000000000", "path": "0/000"}
    if method != "GET" and "{upload_id}" in path:
        values["upload_id"] = fresh_upload(matrix, desk)
    url = PARAMETER.sub(lambda m: values.get(m.group(1), "1"), path)
    headers = {**matrix.officers[role, "247"], "upload-offset": "0"}
    # Every call gives a reason: the routes that show personal data need one (docs/privacy.md).
    answer = matrix.client.request(method, url, json={} if method != "GET" else None, headers=headers, params=READ)
    return answer.status_code, answer.text, url


#: For every /api/v1 route: the status each role of desk 247 gets on its own desk's objects, then on desk CA's.
#: Roles in the order duty_officer, central_authority, examiner, supervisor, admin, advocate, reviewer. Routes
#: without an object of a desk answer the same both times; lists are checked for the other desk's work below.
#: Bodies are empty (``{}``), so a role allowed a write gets 422 (the body), a role refused gets 403; uploads are
#: fresh ones started by the desk's maker, so only the starter (here the 247 duty officer) and an admin act on them.
#: Messages, requests and received offers of another desk are answered 404 (not disclosed), not 403.
EXPECTED: dict[tuple[str, str], tuple[str, str]] = {
    ("DELETE", "/api/v1/evidence/uploads/{upload_id}"):
        ("204 403 403 403 204 403 403", "403 403 403 403 204 403 403"),
    ("DELETE", "/api/v1/rota/{entry_id}"):
        ("403 403 403 404 404 403 403", "403 403 403 404 404 403 403"),
    ("GET", "/api/v1/access-log"):
        ("403 403 403 200 200 403 403", "403 403 403 200 200 403 403"),
    ("GET", "/api/v1/access-log/chain"):
        ("403 403 403 200 200 403 403", "403 403 403 200 200 403 403"),
    ("GET", "/api/v1/alarms"):
        ("200 200 403 200 200 403 403", "200 200 403 200 200 403 403"),
    ("GET", "/api/v1/audit"):
        ("403 403 403 403 200 403 403", "403 403 403 403 200 403 403"),
    ("GET", "/api/v1/cases/{case:path}"):
        ("200 200 200 200 200 403 403", "404 404 404 200 200 403 403"),
    ("GET", "/api/v1/convention"):
        ("200 200 200 200 200 403 403", "200 200 200 200 200 403 403"),
    ("GET", "/api/v1/directory"):
        ("200 200 200 200 200 403 403", "200 200 200 200 200 403 403"),
    ("GET", "/api/v1/evidence"):
        ("200 200 200 200 200 403 403", "200 200 200 200 200 403 403"),
    ("GET", "/api/v1/evidence/{file_id}"):
        ("200 200 200 200 200 403 403", "404 404 404 200 200 403 403"),
    ("GET", "/api/v1/evidence/consents"):
        ("200 200 200 200 200 403 403", "200 200 200 200 200 403 403"),
    ("GET", "/api/v1/evidence/offers"):
        ("200 200 200 200 200 403 403", "200 200 200 200 200 403 403"),
    ("GET", "/api/v1/evidence/offers/{package_id}/package"):
        ("200 200 200 200 200 403 403", "404 404 404 200 200 403 403"),
    ("GET", "/api/v1/evidence/uploads/{upload_id}"):
        ("200 403 403 403 200 403 403", "403 403 403 403 200 403 403"),
    ("GET", "/api/v1/hashbank/feed"):
        ("403 403 403 403 403 403 403", "403 403 403 403 403 403 403"),
    ("GET", "/api/v1/hashbank/notices"):
        ("403 403 403 403 403 403 403", "403 403 403 403 403 403 403"),
    ("GET", "/api/v1/hashbank/stats"):
        ("200 200 200 200 200 403 403", "200 200 200 200 200 403 403"),
    ("GET", "/api/v1/kinds"):
        ("200 200 200 200 200 403 403", "200 200 200 200 200 403 403"),
    ("GET", "/api/v1/ledger"):
        ("200 200 200 200 200 403 403", "200 200 200 200 200 403 403"),
    ("GET", "/api/v1/ledger/entries/{index}"):
        ("200 200 200 200 200 403 403", "200 200 200 200 200 403 403"),
    ("GET", "/api/v1/me"):
        ("200 200 200 200 200 200 200", "200 200 200 200 200 200 200"),
    ("GET", "/api/v1/messages"):
        ("200 200 200 200 200 403 403", "200 200 200 200 200 403 403"),
    ("GET", "/api/v1/messages/{message_id}"):
        ("200 200 200 200 200 403 403", "404 404 404 200 200 403 403"),
    ("GET", "/api/v1/pages"):
        ("200 200 200 200 200 403 403", "200 200 200 200 200 403 403"),
    ("GET", "/api/v1/requests"):
        ("200 200 200 200 200 403 403", "200 200 200 200 200 403 403"),
    ("GET", "/api/v1/requests/{ref}"):
        ("200 200 200 200 200 403 403", "404 404 404 200 200 403 403"),
    ("GET", "/api/v1/reviews"):
        ("403 403 403 403 200 403 200", "403 403 403 403 200 403 200"),
    ("GET", "/api/v1/rota"):
        ("200 200 200 200 200 403 403", "200 200 200 200 200 403 403"),
    ("POST", "/api/v1/alarms/{alarm_id}/acknowledge"):
        ("404 404 403 404 404 403 403", "404 404 403 404 404 403 403"),
    ("POST", "/api/v1/alarms/{alarm_id}/clear"):
        ("422 422 422 422 422 403 403", "422 422 422 422 422 403 403"),
    ("POST", "/api/v1/directory"):
        ("403 403 403 403 400 403 403", "403 403 403 403 400 403 403"),
    ("POST", "/api/v1/evidence/consents"):
        ("422 422 422 422 422 403 403", "422 422 422 422 422 403 403"),
    ("POST", "/api/v1/evidence/consents/{request_id}/answer"):
        ("422 422 422 422 422 403 403", "422 422 422 422 422 403 403"),
    ("POST", "/api/v1/evidence/offers"):
        ("422 422 422 422 422 403 403", "422 422 422 422 422 403 403"),
    ("POST", "/api/v1/evidence/retention"):
        ("422 422 422 422 422 403 403", "422 422 422 422 422 403 403"),
    ("POST", "/api/v1/evidence/uploads"):
        ("422 422 422 422 422 403 403", "422 422 422 422 422 403 403"),
    ("POST", "/api/v1/evidence/uploads/{upload_id}/complete"):
        ("409 403 403 403 409 403 403", "403 403 403 403 409 403 403"),
    ("POST", "/api/v1/evidence/{file_id}/refile"):
        ("422 422 422 422 422 403 403", "422 422 422 422 422 403 403"),
    ("POST", "/api/v1/hashbank/reports"):
        ("403 403 403 403 403 403 403", "403 403 403 403 403 403 403"),
    ("POST", "/api/v1/hashbank/reports/{report_id}/false-positive"):
        ("403 403 403 403 403 403 403", "403 403 403 403 403 403 403"),
    ("POST", "/api/v1/match"):
        ("422 422 422 422 422 403 422", "422 422 422 422 422 403 422"),
    ("POST", "/api/v1/messages"):
        ("422 422 422 422 422 403 403", "422 422 422 422 422 403 403"),
    ("POST", "/api/v1/requests"):
        ("422 422 422 422 422 403 403", "422 422 422 422 422 403 403"),
    ("POST", "/api/v1/requests/{ref}/approve"):
        ("409 409 403 409 403 403 403", "404 404 403 403 403 403 403"),
    ("POST", "/api/v1/requests/{ref}/{action}"):
        ("409 409 403 409 403 403 403", "404 404 403 403 403 403 403"),
    ("POST", "/api/v1/reviews/entries/{entry}/release"):
        ("403 403 403 403 403 403 404", "403 403 403 403 403 403 404"),
    ("POST", "/api/v1/reviews/{report_id}"):
        ("403 403 403 403 403 403 422", "403 403 403 403 403 403 422"),
    ("POST", "/api/v1/rota"):
        ("422 422 422 422 422 403 403", "422 422 422 422 422 403 403"),
    ("POST", "/api/v1/victims/cases"):
        ("422 422 422 422 422 422 403", "422 422 422 422 422 422 403"),
    ("PUT", "/api/v1/evidence/uploads/{upload_id}"):
        ("200 403 403 403 200 403 403", "403 403 403 403 200 403 403"),
    ("PUT", "/api/v1/requests/{ref}"):
        ("422 422 422 422 422 403 403", "422 422 422 422 422 403 403"),
}
#: Roles that see no work of another desk: what they get must not name any of it.
DESK_BOUND = tuple(r for r in Role if r not in EVERY_DESK)


def test_every_route_is_classified(matrix: Matrix) -> None:
    routes = set(api_routes(matrix.app))
    assert routes == set(EXPECTED), ("classify new routes in EXPECTED", routes - set(EXPECTED),
                                     set(EXPECTED) - routes)
    # The confined roles' own routes, as tests/api/test_roles.py has them, are the only ones they get past.
    for role in CONFINED:
        index = ALL.index(role)
        passed = {route for route, (own, _) in EXPECTED.items() if own.split()[index] != "403"}
        assert passed <= ALLOWED[role.value], (role, passed - ALLOWED[role.value])


@pytest.mark.parametrize("where", ["own", "other"])
@pytest.mark.parametrize("route", sorted(EXPECTED), ids=" ".join)
def test_route_by_role_and_desk(matrix: Matrix, route: tuple[str, str], where: str) -> None:
    method, path = route
    expected = EXPECTED[route][0 if where == "own" else 1].split()
    got = {}
    for role in ALL:
        answer, text, url = call(matrix, method, path, role, where)
        got[role.value] = answer
        if role in DESK_BOUND:  # (an id the caller gave may be echoed in a refusal)
            leaked = [s for s in matrix.objects["CA"].secrets() if s in text and s not in url]
            assert not leaked, (role, method, path, where, leaked)
    assert got == {role.value: int(status) for role, status in zip(ALL, expected, strict=True)}


def test_a_desk_cannot_send_another_desks_case_abroad(matrix: Matrix) -> None:
    ca = matrix.objects["CA"]
    for role in (Role.DUTY_OFFICER, Role.CENTRAL_AUTHORITY, Role.EXAMINER):
        answer = matrix.client.post("/api/v1/evidence/offers", headers=matrix.officers[role, "247"], json={
            "case": ca.case, "to": "FRA/247", "purpose": "anything"})
        assert answer.status_code == 403 and answer.json()["code"] == "other_desk", (role, answer.text)
        named = matrix.client.post("/api/v1/evidence/offers", headers=matrix.officers[role, "247"], json={
            "case": ca.case, "to": "FRA/247", "purpose": "anything", "files": [ca.file_id]})
        assert named.status_code == 403 and named.json()["code"] == "other_desk", (role, named.text)


def test_another_desks_custody_record_keeps_its_leaf_and_proof_but_not_its_content(matrix: Matrix) -> None:
    index = matrix.objects["CA"].entry
    withheld = matrix.client.get(f"/api/v1/ledger/entries/{index}",
                                 headers=matrix.officers[Role.DUTY_OFFICER, "247"]).json()
    shown = matrix.client.get(f"/api/v1/ledger/entries/{index}",
                              headers=matrix.officers[Role.SUPERVISOR, "247"]).json()
    own = matrix.client.get(f"/api/v1/ledger/entries/{index}",
                            headers=matrix.officers[Role.CENTRAL_AUTHORITY, "CA"]).json()
    assert withheld["record"] is None and "another desk" in withheld["withheld"]
    assert matrix.objects["CA"].case in shown["record"] and own["record"] == shown["record"]
    assert "withheld" not in shown
    assert {k: withheld[k] for k in ("entry", "proof", "size", "checkpoint")} == \
        {k: shown[k] for k in ("entry", "proof", "size", "checkpoint")}
    # An envelope's record belongs to the desk that sent it.
    message_id = matrix.objects["CA"].message_id
    with matrix.node.db.transaction(readonly=True) as uow:
        sent = uow.session.scalar(select(LedgerEntry.idx).where(LedgerEntry.record.contains(message_id)))
    assert sent is not None
    for role, desk, visible in ((Role.DUTY_OFFICER, "247", False), (Role.EXAMINER, "CA", True),
                                (Role.ADMIN, "247", True)):
        answer = matrix.client.get(f"/api/v1/ledger/entries/{sent}", headers=matrix.officers[role, desk]).json()
        assert (answer["record"] is not None and message_id in answer["record"]) is visible, (role, desk)


def test_each_desk_lists_its_own_evidence_and_offers_and_supervisors_all(matrix: Matrix) -> None:
    for desk in DESKS:
        mine, theirs = matrix.objects[desk], matrix.objects[other(desk)]
        files = matrix.client.get("/api/v1/evidence", headers=matrix.officers[MAKER[desk], desk]).json()
        assert {f["desk"] for f in files} == {desk} and mine.file_id in [f["id"] for f in files]
        offers = matrix.client.get("/api/v1/evidence/offers", headers=matrix.officers[Role.EXAMINER, desk]).json()
        assert {o["package"] for o in offers} == {mine.package_out, mine.package_in}
        received = [f for f in files if f["origin"] == "FRA"]
        assert [f["case"] for f in received] == [mine.case_in], "a received file is filed at the desk addressed"
        assert theirs.file_id not in str(files)
    everything = matrix.client.get("/api/v1/evidence", headers=matrix.officers[Role.SUPERVISOR, "CA"]).json()
    assert {f["desk"] for f in everything} == set(DESKS)


def test_downloading_a_received_package_records_each_file_read(matrix: Matrix) -> None:
    package, case = matrix.objects["247"].package_in, matrix.objects["247"].case_in
    headers = matrix.officers[Role.EXAMINER, "247"]
    route = f"/api/v1/evidence/offers/{package}/package"
    refused = matrix.client.get(route, headers=headers)
    assert refused.status_code == 422 and refused.json()["code"] == "reason_required"
    assert matrix.client.get(route, headers=headers, params={"reason": "for the court, case FRA-247-0009"}).content
    auditor = matrix.officers[Role.ADMIN, "CA"]
    log = matrix.client.get("/api/v1/access-log", headers=auditor, params={
        "reason": "audit", "item": matrix.objects["247"].file_id, "kind": "evidence_file"}).json()["entries"]
    assert log == [], "a file of the desk's own case is not in the received package"
    reads = matrix.client.get("/api/v1/access-log", headers=auditor, params={
        "reason": "audit", "case": case, "officer": f"officer:{headers_id(matrix, Role.EXAMINER)}"}).json()["entries"]
    # The matrix is shared: other tests may have read the same package, each with its own reason.
    assert [(e["kind"], e["case"], e["via"]) for e in reads if e["reason"] == "for the court, case FRA-247-0009"] == [
        ("evidence_file", case, "GET /api/v1/evidence/offers/{package_id}/package")]


def headers_id(matrix: Matrix, role: Role) -> int:
    """The id of the officer of ``role`` at desk 247."""
    me: int = matrix.client.get("/api/v1/me", headers=matrix.officers[role, "247"]).json()["id"]
    return me
