"""Purpose limitation across nodes: Brazil sends evidence to France; France may not use it in another case or send
it on to Viet Nam, through any interface, until Brazil's consent arrives by envelope; answers that do not fit
the request are refused and recorded."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hanoinet.api.app import create_app
from hanoinet.crypto.keys import KeyPair
from hanoinet.db.models import Alarm, ConsentItem, EvidenceCustody, LedgerEntry, OutboxMessage
from hanoinet.errors import HanoinetError
from hanoinet.evidence import transfer
from hanoinet.evidence.package import UseConditions, seal
from hanoinet.evidence.service import EvidenceItem, EvidenceService
from hanoinet.ledger.log import Sequencer
from hanoinet.network import outbox
from hanoinet.node.node import Node
from hanoinet.node.officers import add_officer
from hanoinet.privacy import consent
from hanoinet.privacy.use import Use
from tests.cli.test_cli import invoke
from tests.support import auth, make_node, officer_token, publish, pump

CASE = "BRA-2026-0042"
PURPOSE = "answer to request FRA-2026-0001"


@dataclass
class World:
    bra: Node
    fra: Node
    vnm: Node
    sender: EvidenceService
    receiver: EvidenceService
    package: str
    received: list[EvidenceItem]

    @property
    def nodes(self) -> dict[str, Node]:
        return {"BRA": self.bra, "FRA": self.fra, "VNM": self.vnm}


@pytest.fixture
def world(tmp_path: Path, authority: KeyPair, database_url: str) -> Iterator[World]:
    """Brazil's evidence, offered to France's 24/7 desk and pulled by France; Viet Nam a third State."""
    bra = make_node(tmp_path, "BRA", authority, port=8501)
    fra = make_node(tmp_path, "FRA", authority, port=8502, database_url=database_url)
    vnm = make_node(tmp_path, "VNM", authority, port=8503)
    publish([bra, fra, vnm], authority)
    sender = EvidenceService(bra)
    for name, data in {"mail.mbox": b"m" * 3000, "chat.json": b"{}" * 500}.items():
        sender.ingest(io.BytesIO(data), name=name, case=CASE, actor="officer:7")
    offered = transfer.offer(sender, case=CASE, to="FRA/247", desk="247", actor="officer:7",
                             conditions=UseConditions(purpose=PURPOSE, conditions=("no disclosure to the press",)))
    assert pump({"BRA": bra, "FRA": fra}) == 1
    receiver = EvidenceService(fra)
    app = create_app(bra, background=False)
    app.state.evidence = sender
    with TestClient(app, base_url=bra.settings.endpoint) as client:
        assert transfer.Puller(receiver, client=client).pull(offered.package_id)
    yield World(bra, fra, vnm, sender, receiver, offered.package_id, receiver.list(CASE))
    for node in (bra, fra, vnm):
        node.close()


def _fra_api(world: World) -> TestClient:
    app = create_app(world.fra, background=False)
    app.state.evidence = world.receiver
    return TestClient(app, base_url=world.fra.settings.endpoint)


def _records(node: Node, action: str) -> list[dict[str, object]]:
    Sequencer(node, holder="test").step()
    with node.db.transaction(readonly=True) as uow:
        records = [json.loads(r) for r in uow.session.scalars(select(LedgerEntry.record)) if r]
    return [r for r in records if r["action"] == action]


def test_received_evidence_knows_its_sender_case_purpose_and_conditions(world: World) -> None:
    assert len(world.received) == 2
    for item in world.received:
        assert item.origin == "BRA" and item.received is not None
        assert item.received.as_json() == {
            "sender": "BRA/247", "package": world.package, "case": CASE, "purpose": PURPOSE,
            "conditions": ["no disclosure to the press"],
            "onward_transfer": "only with the prior written consent of the sending State"}
    # Its own evidence, on the sending node, says nothing of the kind.
    assert all(i.received is None for i in world.sender.list(CASE))


def test_the_file_list_shows_what_received_evidence_was_given_for(
        world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = invoke(monkeypatch, capsys, "evidence", "list", "--data", str(world.fra.settings.data_dir))
    assert code == 0
    assert out.count(f"from      BRA/247, package {world.package}") == 2
    assert out.count(f"given for case {CASE}: {PURPOSE}") == 2
    assert out.count("condition no disclosure to the press") == 2


def test_onward_transfer_and_other_use_are_refused_through_every_interface_until_consent(
        world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    fra, receiver = world.fra, world.receiver
    ids = [i.id for i in world.received]
    data = str(fra.settings.data_dir)
    token = officer_token(fra, "central_authority")

    def refusals() -> dict[str, str]:
        """Every way to send the files on to Viet Nam: how each ended."""
        ended: dict[str, str] = {}
        try:
            transfer.offer(receiver, case=CASE, to="VNM/247", desk="247", actor="officer:1",
                           conditions=UseConditions(purpose="Viet Nam's case"))
            ended["service offer"] = "ok"
        except HanoinetError as exc:
            ended["service offer"] = exc.code
        try:
            seal(receiver, case=CASE, out=tmp_path / "service.zip", actor="officer:1", recipient="VNM",
                 conditions=UseConditions(purpose="Viet Nam's case"))
            ended["service package"] = "ok"
        except HanoinetError as exc:
            ended["service package"] = exc.code
        with _fra_api(world) as client:
            answer = client.post("/api/v1/evidence/offers", headers=auth(token),
                                 json={"case": CASE, "to": "VNM/247", "purpose": "Viet Nam's case"})
            ended["API offer"] = "ok" if answer.status_code == 201 else answer.json()["code"]
        code, _, err = invoke(monkeypatch, capsys, "evidence", "send", "--case", CASE, "--to", "VNM/247",
                              "--purpose", "Viet Nam's case", "--data", data)
        ended["CLI send"] = "ok" if code == 0 else "consent_required" if "consent of BRA" in err else err
        code, _, err = invoke(monkeypatch, capsys, "evidence", "package", "--case", CASE, "--out",
                              str(tmp_path / "cli.zip"), "--recipient", "VNM", "--purpose", "Viet Nam's case",
                              "--reason", "Viet Nam's request for the evidence", "--data", data)
        ended["CLI package"] = "ok" if code == 0 else "consent_required" if "consent of BRA" in err else err
        return ended

    assert set(refusals().values()) == {"consent_required"}
    # Nothing left: no offer envelope, no package, no sealing recorded.
    with fra.db.transaction(readonly=True) as uow:
        assert not uow.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "evidence.offer")).all()
    assert not list(tmp_path.glob("*.zip")) and not _records(fra, "sealed")

    # The refusal says what to run; France runs it through the API.
    with _fra_api(world) as client:
        answer = client.post("/api/v1/evidence/offers", headers=auth(token),
                             json={"case": CASE, "to": "VNM/247", "purpose": "p"})
        assert "hanoinet evidence consent request" in answer.json()["hint"]
        asked = client.post("/api/v1/evidence/consents", headers=auth(token), json={
            "files": ids, "use": "transfer", "target": "VNM", "reason": "Viet Nam prosecutes the same group"})
        assert asked.status_code == 201, asked.text
    request_id = asked.json()["request"]
    assert asked.json()["to"] == "BRA/247"
    assert refusals()["service offer"] == "consent_required"  # asking is not consenting
    assert pump(world.nodes) == 1

    # Brazil sees the request and grants it from the command line.
    bra_data = str(world.bra.settings.data_dir)
    code, out, err = invoke(monkeypatch, capsys, "evidence", "consent", "list", "--data", bra_data, "--json")
    listed = json.loads(out)
    assert code == 0 and [(r["request"], r["direction"], r["status"], r["target"]) for r in listed] == [
        (request_id, "in", "asked", "VNM")]
    code, out, err = invoke(monkeypatch, capsys, "evidence", "consent", "answer", request_id, "--grant", "--reason",
                            "same investigation", "--condition", "Viet Nam applies the same conditions",
                            "--data", bra_data)
    assert code == 0, err
    assert pump(world.nodes) == 1

    ended = refusals()
    assert set(ended.values()) == {"ok"}, ended
    # Consent to send on is not consent to use in another case, nor to send anywhere else.
    with pytest.raises(HanoinetError) as caught:
        receiver.refile(ids[0], case="FRA-2026-7", actor="officer:1")
    assert caught.value.code == "consent_required"
    with pytest.raises(HanoinetError) as caught:
        seal(receiver, case=CASE, out=tmp_path / "deu.zip", actor="officer:1", recipient="DEU",
             conditions=UseConditions(purpose="p"))
    assert caught.value.code == "consent_required" and "transfer to DEU" in caught.value.message

    # Both custody logs hold the request and the grant, for each file.
    for node in (world.bra, fra):
        for action in ("consent_requested", "consent_granted"):
            found = [r for r in _records(node, action) if r["detail"]["request"] == request_id]  # type: ignore[index]
            assert len(found) == 2, (node.state, action)
    code, out, _ = invoke(monkeypatch, capsys, "evidence", "consent", "list", "--data", data)
    assert code == 0 and "granted" in out and "Viet Nam applies the same conditions" in out


def test_use_in_another_case_needs_consent_for_that_case_and_a_refusal_keeps_it_out(
        world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    fra, receiver = world.fra, world.receiver
    first, second = (i.id for i in world.received)
    data = str(fra.settings.data_dir)
    token = officer_token(fra, "central_authority")
    with _fra_api(world) as client:
        answer = client.post(f"/api/v1/evidence/{first}/refile", headers=auth(token), json={"case": "FRA-2026-7"})
        assert answer.status_code == 403 and answer.json()["code"] == "consent_required"
        assert "consent of BRA" in answer.json()["detail"]
    code, _, err = invoke(monkeypatch, capsys, "evidence", "refile", first, "--case", "FRA-2026-7", "--data", data)
    assert code == 2 and "consent of BRA" in err
    code, out, err = invoke(monkeypatch, capsys, "evidence", "consent", "request", "--file", first, "--file", second,
                            "--case", "FRA-2026-7", "--reason", "the same suspect in a French case", "--data", data)
    assert code == 0, err
    assert "asked BRA/247 to consent to use in case FRA-2026-7 of 2 file(s)" in out
    assert pump(world.nodes) == 1
    [asked] = consent.list_requests(world.bra)
    # Brazil consents for the first file only (through its API, at the desk asked), and refuses the second.
    bra_app = create_app(world.bra, background=False)
    bra_app.state.evidence = world.sender
    with TestClient(bra_app, base_url=world.bra.settings.endpoint) as client:
        path = f"/api/v1/evidence/consents/{asked['request']}/answer"
        body = {"granted": True, "reason": "fine", "items": [world.received[0].sha256]}
        with world.bra.db.transaction() as uow:
            _, other_desk = add_officer(uow.session, name="CA lawyer", role="central_authority", desk="CA",
                                        desks=world.bra.settings.desk_ids)
        assert client.get("/api/v1/evidence/consents", headers=auth(other_desk)).json() == []
        assert client.post(path, headers=auth(other_desk), json=body).status_code == 404
        answered = client.post(path, headers=auth(officer_token(world.bra, "central_authority")), json=body)
        assert answered.status_code == 200, answered.text
    consent.answer(world.bra, asked["request"], granted=False, reason="it names a protected witness",
                   actor="officer:2", sha256s=[world.received[1].sha256])
    with pytest.raises(HanoinetError) as caught:  # an item answered once is not answered again
        consent.answer(world.bra, asked["request"], granted=True, reason="changed my mind", actor="officer:2")
    assert caught.value.code == "consent_answered"
    assert pump(world.nodes) == 2
    [held] = consent.list_requests(fra)
    assert held["status"] == "partly answered"
    assert {i["sha256"]: i["status"] for i in held["items"]} == {
        world.received[0].sha256: "granted", world.received[1].sha256: "refused"}
    with pytest.raises(HanoinetError) as caught:
        receiver.refile(first, case="FRA-2026-8", actor="officer:1")  # another case than the one consented to
    assert caught.value.code == "consent_required"
    with _fra_api(world) as client:
        answer = client.post(f"/api/v1/evidence/{first}/refile", headers=auth(token), json={"case": "FRA-2026-7"})
        assert answer.status_code == 200 and answer.json()["case"] == "FRA-2026-7"
    code, _, err = invoke(monkeypatch, capsys, "evidence", "refile", second, "--case", "FRA-2026-7", "--data", data)
    assert code == 2 and "consent of BRA" in err
    # Back to the case it was given for: always allowed.
    assert receiver.refile(first, case=CASE, actor="officer:1").case == CASE
    assert len(_records(fra, "refiled")) == 2


def _answer_from(node: Node, to: str, body: dict[str, object]) -> None:
    """An answer envelope built by hand, as a node that does not follow the rules could send it."""
    with node.db.transaction() as uow:
        outbox.enqueue(node, uow, sender_desk="247", recipient=to, kind=consent.ANSWER_KIND, body=body,
                       actor="officer:9")


@pytest.mark.parametrize("wrong", ["state", "desk", "item", "request"])
def test_an_answer_for_the_wrong_item_from_the_wrong_state_or_to_no_request_is_refused_and_recorded(
        world: World, wrong: str) -> None:
    fra = world.fra
    asked = consent.request(fra, file_ids=[world.received[0].id], use=Use("transfer", "VNM"), reason="r",
                            actor="officer:1", desk="247")
    assert pump(world.nodes) == 1
    item = {"sha256": world.received[0].sha256, "package": world.package}
    body: dict[str, object] = {"request": asked.request_id, "items": [item], "granted": True, "conditions": [],
                               "reason": "yes"}
    if wrong == "state":  # Viet Nam, the would-be recipient, answers in Brazil's place
        _answer_from(world.vnm, "FRA/247", body)
    elif wrong == "desk":  # Brazil's central authority answers a request put to Brazil's 24/7 desk
        with world.bra.db.transaction() as uow:
            outbox.enqueue(world.bra, uow, sender_desk="CA", recipient="FRA/247", kind=consent.ANSWER_KIND,
                           body=body, actor="officer:9")
    elif wrong == "item":  # Brazil answers for the other file, which France did not ask about
        body["items"] = [{"sha256": world.received[1].sha256, "package": world.package}]
        _answer_from(world.bra, "FRA/247", body)
    else:
        body["request"] = str(uuid.uuid4())
        _answer_from(world.bra, "FRA/247", body)
    assert pump(world.nodes) == 1
    code = {"state": "consent_wrong_state", "desk": "consent_wrong_desk", "item": "consent_unknown_item",
            "request": "consent_unknown_request"}[wrong]
    with fra.db.transaction(readonly=True) as uow:
        assert uow.session.scalars(select(Alarm.code)).all() == [code]
        assert set(uow.session.scalars(select(ConsentItem.status))) == {"asked"}
    [recorded] = _records(fra, "consent_answer_refused")
    assert recorded["detail"]["code"] == code  # type: ignore[index]
    with pytest.raises(HanoinetError) as caught:
        transfer.offer(world.receiver, case=CASE, to="VNM/247", desk="247", actor="officer:1",
                       conditions=UseConditions(purpose="p"))
    assert caught.value.code == "consent_required"


def test_a_request_naming_an_item_never_sent_to_the_asker_is_refused_by_the_originating_state(world: World) -> None:
    # Viet Nam asks Brazil about a file Brazil sent to France, not to Viet Nam.
    with world.vnm.db.transaction() as uow:
        outbox.enqueue(world.vnm, uow, sender_desk="247", recipient="BRA/247", kind=consent.REQUEST_KIND, body={
            "request": str(uuid.uuid4()), "use": "transfer", "target": "DEU", "reason": "r",
            "items": [{"sha256": world.received[0].sha256, "package": world.package}]}, actor="officer:9")
    assert pump(world.nodes) == 0
    assert consent.list_requests(world.bra) == []
    with world.vnm.db.transaction(readonly=True) as uow:
        [message] = uow.session.scalars(select(OutboxMessage)).all()
    assert message.status != "delivered" and "consent_unknown_item" in (message.last_error or "")


def test_a_request_is_refused_before_sending_when_it_cannot_be_right(world: World) -> None:
    fra = world.fra
    own = EvidenceService(fra).ingest(io.BytesIO(b"ours"), name="own.txt", case="FRA-1", actor="officer:1")
    cases = [
        ([own.id], Use("transfer", "VNM"), None, "consent_not_needed"),
        ([world.received[0].id], Use("case", CASE), None, "consent_not_needed"),
        ([world.received[0].id], Use("transfer", "VNM"), "VNM/247", "consent_wrong_state"),
        (["0" * 32], Use("transfer", "VNM"), None, "evidence_not_found"),
    ]
    for files, use, to, code in cases:
        with pytest.raises(HanoinetError) as caught:
            consent.request(fra, file_ids=files, use=use, reason="r", actor="officer:1", desk="247", to=to)
        assert caught.value.code == code
    with fra.db.transaction(readonly=True) as uow:
        assert not uow.session.scalars(select(EvidenceCustody).where(
            EvidenceCustody.action == "consent_requested")).all()


def test_received_evidence_cannot_be_offered_to_its_own_state_to_come_back_as_its_own(world: World) -> None:
    # Offered to France's other desk, the copies would come back with France as their origin: own evidence,
    # free of Brazil's purpose, conditions and consent.
    with pytest.raises(HanoinetError) as caught:
        transfer.offer(world.receiver, case=CASE, to="FRA/CA", desk="247", actor="officer:1",
                       conditions=UseConditions(purpose="internal"))
    assert caught.value.code == "offer_to_self"
    with _fra_api(world) as client:
        answer = client.post("/api/v1/evidence/offers", headers=auth(officer_token(world.fra, "duty_officer")),
                             json={"case": CASE, "to": "FRA/CA", "purpose": "internal"})
    assert answer.status_code == 422 and answer.json()["code"] == "offer_to_self"


def test_a_copy_of_received_content_cannot_be_taken_in_as_own_evidence(world: World) -> None:
    data = b"".join(world.receiver.plaintext(world.received[0].id))
    with pytest.raises(HanoinetError) as caught:
        world.receiver.ingest(io.BytesIO(data), name="copy.mbox", case="FRA-LAUNDER-1", actor="officer:1")
    assert caught.value.code == "received_content" and "BRA" in caught.value.message
    assert [i.name for i in world.receiver.list("FRA-LAUNDER-1")] == []
