"""One case, everything in it: Viet Nam's preservation and MLA requests to France, France's evidence package in
answer, a consent asked about it, seen from both States' nodes, desk by desk, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hanoinet import cases
from hanoinet.api.app import create_app
from hanoinet.clock import format_instant, now
from hanoinet.crypto.keys import KeyPair
from hanoinet.db.models import RequestRecord
from hanoinet.errors import Forbidden, NotFound
from hanoinet.evidence import transfer
from hanoinet.evidence.package import UseConditions
from hanoinet.evidence.service import EvidenceService
from hanoinet.node.node import Node
from hanoinet.node.officers import Principal, Role, add_officer
from hanoinet.privacy import consent
from hanoinet.privacy.use import Use
from hanoinet.requests import commands
from hanoinet.requests.machine import Action
from tests.convention.drafts import REQUESTS
from tests.requests.test_service import PRESERVATION
from tests.support import auth, make_node, publish, pump

CASE = "VNM-HN-2026-0117"
#: A case filed only at Viet Nam's central authority, with a '/' as case references may have.
CA_CASE = "VNM-CA/2026 0001"
PURPOSE = f"Evidence answering the stored data request of case {CASE}, for that case only"
READ = {"reason": "preparing the hearing in case VNM-HN-2026-0117"}


@dataclass
class World:
    """Both nodes, their officers (by node and role) with their tokens, and what the story made."""

    nodes: dict[str, Node]
    officers: dict[tuple[str, str], tuple[Principal, str]]
    refs: dict[str, str]
    made: dict[str, str]

    def who(self, state: str, role: str) -> Principal:
        return self.officers[state, role][0]

    def token(self, state: str, role: str) -> dict[str, str]:
        return auth(self.officers[state, role][1])


#: Each node's officers: (name, role, desk).
STAFF = (("duty", "duty_officer", "247"), ("lawyer", "central_authority", "CA"), ("chief", "supervisor", "CA"),
         ("examiner", "examiner", "CA"))


def _officers(node: Node) -> dict[str, tuple[Principal, str]]:
    made = {}
    with node.db.transaction() as uow:
        for name, role, desk in STAFF:
            row, token = add_officer(uow.session, name=f"{name} of {node.state}", role=role, desk=desk,
                                     desks={"247", "CA"})
            uow.session.flush()
            made[name] = (Principal(id=row.id, name=row.name, role=Role(role), desk=desk), token)
    return made


def build(root: Path, authority: KeyPair, database_urls: Callable[[], str]) -> World:
    """The story of the case, told through the services both nodes run."""
    vnm = make_node(root, "VNM", authority, port=8611, database_url=database_urls())
    fra = make_node(root, "FRA", authority, port=8612, database_url=database_urls())
    publish([vnm, fra], authority)
    nodes = {"VNM": vnm, "FRA": fra}
    officers = {(state, name): value for state, node in nodes.items() for name, value in _officers(node).items()}
    world = World(nodes, officers, {}, {})
    duty, lawyer = world.who("VNM", "duty"), world.who("VNM", "lawyer")
    # Viet Nam's 24/7 desk asks France to preserve; France does.
    preservation = commands.create(vnm, duty, commands.Draft(kind="preservation", to="FRA/247", fields=PRESERVATION,
                                                             case=CASE))["ref"]
    pump(nodes)
    commands.act(fra, world.who("FRA", "duty"), preservation, Action.ACKNOWLEDGE, {})
    commands.act(fra, world.who("FRA", "duty"), preservation, Action.EXECUTE, {"result": {
        "preserved_at": format_instant(now()), "provider": "ExampleHost SAS", "what_preserved": "logs"}})
    pump(nodes)
    # Viet Nam's central authority asks for the preserved data (Art. 44), naming the preservation; ...
    stored = commands.create(vnm, lawyer, commands.Draft(
        kind="stored_data", to="FRA/CA", case=CASE,
        fields={**REQUESTS["stored_data"], "preservation_ref": preservation}))["ref"]
    # ... a further request, filed under no case, lists it among the earlier requests of the matter; ...
    further = commands.create(vnm, lawyer, commands.Draft(
        kind="general_assistance", to="FRA/CA",
        fields={**REQUESTS["general_assistance"], "earlier_requests": [f"stored_data {stored}, France"]}))["ref"]
    # ... and the preservation is followed up by the stored data request (Art. 42: kept until it is decided).
    commands.act(vnm, duty, preservation, Action.FOLLOW_UP, {"mla_ref": stored})
    pump(nodes)
    world.refs = {"preservation": preservation, "stored": stored, "further": further}
    # France's central authority answers with a package of evidence, filed under the case it was asked for.
    france = EvidenceService(fra)
    original = france.ingest(io.BytesIO(b"mailbox export\n" * 100), name="collector.mbox", case=CASE,
                             actor=world.who("FRA", "lawyer").actor, desk="CA")
    offered = transfer.offer(france, case=CASE, to="VNM/CA", desk="CA", actor=world.who("FRA", "lawyer").actor,
                             conditions=UseConditions(purpose=PURPOSE, retain_until=now() + timedelta(days=365)))
    pump(nodes)
    app = create_app(fra, background=False)
    app.state.evidence = france
    vietnam = EvidenceService(vnm)
    with TestClient(app, base_url=fra.settings.endpoint) as client:
        assert transfer.Puller(vietnam, client=client).pull(offered.package_id)
    [received] = [item for item in vietnam.list(CASE) if item.origin == "FRA"]
    # Viet Nam asks France whether it may pass the evidence on to Brazil (Art. 36).
    asked = consent.request(vnm, file_ids=[received.id], use=Use("transfer", "BRA"), reason="Brazil's case",
                            actor=lawyer.actor, desk="CA")
    pump(nodes)
    # Its own copy of a seized disk, shredded; and a case of the central authority alone.
    own = vietnam.ingest(io.BytesIO(b"disk image"), name="disk.img", case=CASE, actor=lawyer.actor, desk="CA")
    vietnam.shred(own.id, actor=lawyer.actor, reason="a copy of the same disk was kept")
    alone = vietnam.ingest(io.BytesIO(b"notes"), name="notes.txt", case=CA_CASE, actor=lawyer.actor, desk="CA")
    world.made = {"original": original.id, "received": received.id, "package": offered.package_id,
                  "consent": asked.request_id, "own": own.id, "alone": alone.id}
    return world


@pytest.fixture
def world(tmp_path: Path, authority: KeyPair, database_urls: Callable[[], str]) -> Iterator[World]:
    built = build(tmp_path, authority, database_urls)
    yield built
    for node in built.nodes.values():
        node.close()


def _refs(shown: dict[str, Any]) -> dict[str, str]:
    return {r["ref"]: r["linked"] for r in shown["requests"]}


def test_the_requesting_state_sees_the_whole_case_with_its_links(world: World) -> None:
    p, s, f = world.refs["preservation"], world.refs["stored"], world.refs["further"]
    shown = cases.show(world.nodes["VNM"], world.who("VNM", "chief"), CASE)
    assert _refs(shown) == {p: "filed under the case", s: "filed under the case", f: f"names {s}"}
    by_ref = {r["ref"]: r for r in shown["requests"]}
    assert (by_ref[s]["kind"], by_ref[s]["article"], by_ref[s]["other"], by_ref[s]["state"]) == \
        ("stored_data", "44", "FRA/CA", "received")
    assert by_ref[f]["case"] is None and by_ref[p]["kind"] == "preservation"
    clocks = {c["name"]: c["status"] for c in by_ref[p]["clocks"]}
    assert clocks.get("preservation") == "held", by_ref[p]["clocks"]  # held for the stored data request
    files = {e["id"]: e for e in shown["evidence"]}
    received, own = files[world.made["received"]], files[world.made["own"]]
    assert set(files) == {world.made["received"], world.made["own"]}
    assert received["received"]["sender"] == "FRA/CA" and received["received"]["purpose"] == PURPOSE
    assert received["retention"]["until"] is not None and not received["shredded"]
    assert [e["action"] for e in received["custody"]["latest"]] == ["consent_requested", "received"]
    assert received["custody"]["count"] == 2 and received["custody"]["latest"][1]["actor"] == "peer:FRA"
    assert own["shredded"] and own["custody"]["latest"][0]["action"] == "shredded"
    [package] = shown["packages"]
    assert (package["package"], package["direction"], package["peer"], package["verified"], package["purpose"]) == \
        (world.made["package"], "received", "FRA", True, PURPOSE)
    [asked] = shown["consents"]
    assert (asked["request"], asked["direction"], asked["use"], asked["target"], asked["status"]) == \
        (world.made["consent"], "sent", "transfer", "BRA", "asked")
    assert shown["more"] == {"requests": False, "evidence": False, "packages": False, "consents": False}


def test_the_requested_state_sees_the_same_case_from_its_side(world: World) -> None:
    p, s, f = world.refs["preservation"], world.refs["stored"], world.refs["further"]
    shown = cases.show(world.nodes["FRA"], world.who("FRA", "lawyer"), CASE)
    # France's central authority: the MLA requests (received under Viet Nam's case), not the 24/7 preservation.
    assert _refs(shown) == {s: "filed under the case", f: f"names {s}"}
    assert {r["other"] for r in shown["requests"]} == {"VNM/CA"} and {r["side"] for r in shown["requests"]} == \
        {"requested"}
    [original] = shown["evidence"]
    assert original["id"] == world.made["original"] and original["received"] is None
    custody = original["custody"]
    assert custody["latest"][0]["action"] == "consent_requested" and custody["latest"][-1]["action"] == "ingested"
    assert custody["count"] == len(custody["latest"]) <= cases.LATEST_CUSTODY
    [package] = shown["packages"]
    assert (package["direction"], package["peer"], package["verified"]) == ("sent", "VNM", None)
    [asked] = shown["consents"]
    assert (asked["request"], asked["direction"], asked["peer"]) == (world.made["consent"], "received", "VNM")
    # France's 24/7 desk: the preservation alone. Its follow-up names the MLA request, but that request is the
    # central authority's, and links are followed only to what the desk may read.
    duty = cases.show(world.nodes["FRA"], world.who("FRA", "duty"), CASE)
    assert _refs(duty) == {p: "filed under the case"}
    assert duty["evidence"] == duty["packages"] == duty["consents"] == []


def test_another_desk_sees_nothing_of_what_is_not_its_own(world: World) -> None:
    vnm = world.nodes["VNM"]
    duty = cases.show(vnm, world.who("VNM", "duty"), CASE)
    assert _refs(duty) == {world.refs["preservation"]: "filed under the case"}
    assert duty["evidence"] == duty["packages"] == duty["consents"] == []
    text = json.dumps(duty)
    for secret in (world.refs["stored"], world.refs["further"], *world.made.values()):
        assert secret not in text, secret
    with pytest.raises(NotFound) as refused:
        cases.show(vnm, world.who("VNM", "duty"), CA_CASE)
    assert refused.value.code == "case_not_found"
    with pytest.raises(NotFound) as unknown:
        cases.show(vnm, world.who("VNM", "chief"), "VNM-NO-SUCH-CASE")
    assert unknown.value.message == refused.value.message.replace(CA_CASE, "VNM-NO-SUCH-CASE")
    advocate = Principal(id=99, name="Advocate", role=Role.ADVOCATE, desk="CA")
    with pytest.raises(Forbidden):
        cases.show(vnm, advocate, CA_CASE)
    lawyer = cases.show(vnm, world.who("VNM", "lawyer"), CA_CASE)
    assert [e["id"] for e in lawyer["evidence"]] == [world.made["alone"]] and lawyer["requests"] == []
    # The central authority follows links from its own requests, never through the 24/7 desk's preservation.
    assert _refs(cases.show(vnm, world.who("VNM", "lawyer"), CASE)) == {
        world.refs["stored"]: "filed under the case", world.refs["further"]: f"names {world.refs['stored']}"}


def test_links_are_followed_both_ways_and_bounded(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    vnm, chief = world.nodes["VNM"], world.who("VNM", "chief")
    # The preservation is named by the stored data request, and follows up to it: from a case holding only the
    # further request, the chain is walked back to the preservation.
    p, s, f = world.refs["preservation"], world.refs["stored"], world.refs["further"]
    with vnm.db.transaction() as uow:
        for row in uow.session.query(RequestRecord):
            row.case_ref = "VNM-OTHER" if row.ref != f else "VNM-FURTHER"
    assert _refs(cases.show(vnm, chief, "VNM-FURTHER")) == {
        f: "filed under the case", s: f"named by {f}", p: f"named by {s}"}
    monkeypatch.setattr(cases, "MAX_DEPTH", 1)
    assert _refs(cases.show(vnm, chief, "VNM-FURTHER")) == {f: "filed under the case", s: f"named by {f}"}
    monkeypatch.setattr(cases, "MAX_DEPTH", 4)
    monkeypatch.setattr(cases, "MAX_LINKED", 1)
    assert len(cases.show(vnm, chief, "VNM-FURTHER")["requests"]) == 2
    monkeypatch.setattr(cases, "MAX_ITEMS", 1)
    cut = cases.show(vnm, chief, "VNM-OTHER")
    assert cut["more"]["requests"] and [r["linked"] for r in cut["requests"]].count("filed under the case") == 1
    cut = cases.show(vnm, chief, CASE)
    assert cut["more"]["evidence"] and len(cut["evidence"]) == 1 and not cut["more"]["packages"]
    monkeypatch.setattr(cases, "MAX_ITEMS", 500)
    # Custody: every record counted, the newest shown.
    monkeypatch.setattr(cases, "LATEST_CUSTODY", 1)
    received = next(e for e in cases.show(vnm, chief, CASE)["evidence"] if e["id"] == world.made["received"])
    assert received["custody"]["count"] == 2 and [e["action"] for e in received["custody"]["latest"]] == \
        ["consent_requested"]


def test_the_api_takes_a_reason_and_records_one_read_of_the_case(world: World) -> None:
    app = create_app(world.nodes["VNM"], background=False)
    with TestClient(app) as client:
        route = "/api/v1/cases/VNM-HN-2026-0117"
        refused = client.get(route, headers=world.token("VNM", "lawyer"))
        assert refused.status_code == 422 and refused.json()["code"] == "reason_required"
        shown = client.get(route, headers=world.token("VNM", "lawyer"), params=READ)
        assert shown.status_code == 200, shown.text
        assert {r["ref"] for r in shown.json()["requests"]} == {world.refs["stored"], world.refs["further"]}
        slashed = client.get("/api/v1/cases/VNM-CA%2F2026%200001", headers=world.token("VNM", "lawyer"), params=READ)
        assert slashed.status_code == 200 and slashed.json()["case"] == CA_CASE
        hidden = client.get("/api/v1/cases/VNM-CA%2F2026%200001", headers=world.token("VNM", "duty"), params=READ)
        assert hidden.status_code == 404 and hidden.json()["code"] == "case_not_found"
        assert hidden.headers["content-type"] == "application/problem+json"
        log = client.get("/api/v1/access-log", headers=world.token("VNM", "chief"),
                         params={"reason": "audit", "kind": "case"}).json()["entries"]
        lawyer = world.who("VNM", "lawyer")
        assert [(e["actor"], e["item"], e["case"], e["reason"], e["via"]) for e in reversed(log)] == [
            (lawyer.actor, CASE, CASE, READ["reason"], "GET /api/v1/cases/{case}"),
            (lawyer.actor, CA_CASE, CA_CASE, READ["reason"], "GET /api/v1/cases/{case}")]
        described = client.get("/openapi.json").json()["paths"]["/api/v1/cases/{case}"]["get"]["responses"]
        assert {"404", "422"} <= set(described) and \
            "application/problem+json" in described["404"]["content"]
