"""Two nodes witnessing each other's custody logs: cosign while the log only grows, catch it when it forks."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hanoinet.api.app import create_app
from hanoinet.clock import format_instant, now
from hanoinet.crypto.keys import KeyPair
from hanoinet.db.models import Alarm, LedgerCheckpoint, LedgerEntry, WitnessEvidence, WitnessState
from hanoinet.errors import HanoinetError
from hanoinet.ledger import log, merkle, witnessing
from hanoinet.ledger.bundle import verify_bundle, verify_tiles
from hanoinet.ledger.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from hanoinet.ledger.cosignature import witness_cosignatures
from hanoinet.ledger.events import CustodyEvent
from hanoinet.ledger.tiles import Tile
from hanoinet.ledger.witness import Verdict
from hanoinet.node.node import Node
from tests.support import make_node, publish


@pytest.fixture
def pair(tmp_path: Path, authority: KeyPair) -> tuple[Node, Node]:
    vnm = make_node(tmp_path, "VNM", authority, port=18401)
    fra = make_node(tmp_path, "FRA", authority, port=18402)
    publish([vnm, fra], authority)
    return vnm, fra


def grow(node: Node, count: int) -> None:
    with node.db.transaction() as uow:
        for i in range(count):
            log.record(uow.session, CustodyEvent(action="sealed", at=format_instant(now()), node=node.state,
                                                 actor="system", object_sha256=f"{i:064x}"))
    log.Sequencer(node, holder="t").step()


def witness(witness_node: Node, log_node: Node) -> Verdict | None:
    async def go() -> Verdict | None:
        transport = httpx.ASGITransport(app=create_app(log_node, background=False))
        async with httpx.AsyncClient(mounts={log_node.settings.endpoint: transport}) as client:
            card = witness_node.require_directory().find(log_node.state)
            assert card is not None
            return await witnessing.witness_peer(witness_node, card, client)

    return asyncio.run(go())


def served(node: Node) -> bytes:
    with node.db.transaction(readonly=True) as uow:
        note = witnessing.served_checkpoint(uow.session)
    assert note is not None
    return note.encode()


def test_a_growing_log_is_cosigned_and_serves_the_cosignature(pair: tuple[Node, Node]) -> None:
    vnm, fra = pair
    grow(vnm, 3)
    assert witness(fra, vnm) is Verdict.FIRST
    grow(vnm, 4)
    assert witness(fra, vnm) is Verdict.EXTENDS
    assert witness(fra, vnm) is Verdict.SAME
    keys = [*witnessing.log_verifiers(vnm.card()), *witnessing.witness_verifiers(fra.card())]
    checkpoint, note = open_checkpoint(served(vnm), keys, origin="hanoinet/VNM/ledger")
    assert checkpoint.size == 7
    [cosignature] = witness_cosignatures(note, witnessing.witness_verifiers(fra.card()))
    assert cosignature.name == "hanoinet/FRA/witness" and abs(cosignature.timestamp - now().timestamp()) < 60
    with fra.db.transaction(readonly=True) as uow:
        state = uow.session.get(WitnessState, "VNM")
        assert state is not None and state.size == 7  # kept in the database: survives a restart


def test_a_fork_is_caught_kept_as_evidence_and_alarmed_on_both_sides(pair: tuple[Node, Node]) -> None:
    vnm, fra = pair
    grow(vnm, 5)
    witness(fra, vnm)
    # The log's operator rewrites history: a different tree of the same size, signed with the log's key.
    forged_root = merkle.root([merkle.leaf_hash(bytes([i])) for i in range(5)])
    forged = sign_checkpoint(Checkpoint(origin="hanoinet/VNM/ledger", size=5, root_hash=forged_root),
                             [log.signer(vnm)])
    with vnm.db.transaction() as uow:
        row = uow.session.get(LedgerCheckpoint, 5)
        assert row is not None
        row.note, row.root = forged.decode(), forged_root
    assert witness(fra, vnm) is Verdict.FORK
    with fra.db.transaction(readonly=True) as uow:
        [evidence] = uow.session.scalars(select(WitnessEvidence)).all()
        assert evidence.verdict == "fork" and evidence.note.startswith(forged.decode())
        assert "ledger_fork" in [a.code for a in uow.session.scalars(select(Alarm))]
        assert uow.session.get(WitnessState, "VNM").root != forged_root  # type: ignore[union-attr]
    with vnm.db.transaction(readonly=True) as uow:
        assert "ledger_fork_reported" in [a.code for a in uow.session.scalars(select(Alarm))]


def test_a_shrunk_log_is_caught(pair: tuple[Node, Node]) -> None:
    vnm, fra = pair
    grow(vnm, 6)
    witness(fra, vnm)
    with vnm.db.transaction() as uow:
        uow.session.delete(uow.session.get(LedgerCheckpoint, 6))
        uow.session.add(LedgerCheckpoint(size=2, root=b"\0" * 32, signed_at=now(), note=sign_checkpoint(
            Checkpoint(origin="hanoinet/VNM/ledger", size=2, root_hash=b"\1" * 32), [log.signer(vnm)]).decode()))
    assert witness(fra, vnm) is Verdict.SHRINK


# -- what a peer answers, handled on purpose (protocol.md section 14.6) -----------------------------------


def answering(witness_node: Node, log_node: Node, routes: dict[str, httpx.Response]) -> Verdict | None:
    """A round against a peer that answers ``routes`` (by path) and whatever its real node answers otherwise."""
    app = create_app(log_node, background=False)

    async def go() -> Verdict | None:
        real = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=log_node.settings.endpoint)

        async def handler(request: httpx.Request) -> httpx.Response:
            if request.url.path in routes:
                return routes[request.url.path]
            forwarded = await real.request(request.method, str(request.url), content=request.content)
            return httpx.Response(forwarded.status_code, headers=forwarded.headers, content=forwarded.content)

        async with real, httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            card = witness_node.require_directory().find(log_node.state)
            assert card is not None
            return await witnessing.witness_peer(witness_node, card, client)

    return asyncio.run(go())


def alarms(node: Node) -> list[str]:
    with node.db.transaction(readonly=True) as uow:
        return [a.code for a in uow.session.scalars(select(Alarm))]


CHECKPOINT = "/federation/v1/ledger/checkpoint"
CONSISTENCY = "/federation/v1/ledger/proof/consistency"


def test_a_peer_whose_log_is_still_empty_is_not_witnessed_and_not_alarmed(pair: tuple[Node, Node]) -> None:
    vnm, fra = pair
    assert witness(fra, vnm) is None  # VNM's real node answers 404 no_checkpoint
    with fra.db.transaction(readonly=True) as uow:
        assert uow.session.get(WitnessState, "VNM") is None
    assert alarms(fra) == []


def test_a_log_that_loses_its_checkpoints_raises_one_alarm(pair: tuple[Node, Node]) -> None:
    vnm, fra = pair
    grow(vnm, 3)
    assert witness(fra, vnm) is Verdict.FIRST
    gone = httpx.Response(404, headers={"content-type": "application/problem+json"},
                          json={"type": "urn:hanoinet:problem:no_checkpoint", "code": "no_checkpoint"})
    assert answering(fra, vnm, {CHECKPOINT: gone}) is None
    assert answering(fra, vnm, {CHECKPOINT: gone}) is None
    assert alarms(fra) == ["ledger_checkpoint_gone"]  # once, not every round
    with fra.db.transaction(readonly=True) as uow:
        kept = uow.session.get(WitnessState, "VNM")
        assert kept is not None and kept.size == 3


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(404, text="Not Found"),  # no problem code: a proxy, or a node without the endpoint
        httpx.Response(404, headers={"content-type": "application/problem+json"}, json={"code": "not_found"}),
        httpx.Response(503, text="maintenance"),
        httpx.Response(301, headers={"location": "https://elsewhere.example/"}),
    ],
    ids=["plain_404", "other_404", "503", "redirect"],
)
def test_any_other_failure_answer_stops_the_round_without_a_verdict(
    pair: tuple[Node, Node], answer: httpx.Response
) -> None:
    vnm, fra = pair
    grow(vnm, 2)
    with pytest.raises(HanoinetError) as info:
        answering(fra, vnm, {CHECKPOINT: answer})
    assert info.value.code == "witness_unusable_answer"
    assert str(answer.status_code) in info.value.message
    assert alarms(fra) == []


@pytest.mark.parametrize("body", [b"", b"garbage", b"hanoinet/VNM/ledger\n1\nAAAA\n\n"])
def test_a_checkpoint_that_does_not_open_is_refused_not_alarmed(pair: tuple[Node, Node], body: bytes) -> None:
    vnm, fra = pair
    with pytest.raises(HanoinetError) as info:
        answering(fra, vnm, {CHECKPOINT: httpx.Response(200, content=body)})
    assert info.value.code.startswith(("checkpoint_", "note_"))
    assert alarms(fra) == []


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(503, text="busy"),
        httpx.Response(200, text="not json"),
        httpx.Response(200, json={"old": 2}),
        httpx.Response(200, json={"proof": ["!!"]}),
        httpx.Response(200, json={"proof": [base64.b64encode(b"short").decode()]}),
    ],
    ids=["503", "not_json", "no_proof", "not_base64", "short_hash"],
)
def test_an_unusable_consistency_answer_stops_the_round_instead_of_alarming(
    pair: tuple[Node, Node], answer: httpx.Response
) -> None:
    vnm, fra = pair
    grow(vnm, 2)
    assert witness(fra, vnm) is Verdict.FIRST
    grow(vnm, 3)
    with pytest.raises(HanoinetError) as info:
        answering(fra, vnm, {CONSISTENCY: answer})
    assert info.value.code == "witness_unusable_answer"
    assert alarms(fra) == []
    with fra.db.transaction(readonly=True) as uow:
        assert uow.session.scalars(select(WitnessEvidence)).all() == []
    assert witness(fra, vnm) is Verdict.EXTENDS  # the next good round goes on from the same point


def test_forged_cosignatures_and_unproven_reports_are_refused(pair: tuple[Node, Node]) -> None:
    vnm, _ = pair
    grow(vnm, 2)
    api = TestClient(create_app(vnm, background=False))
    line = witnessing.cosigner(vnm).cosign(Checkpoint(origin="hanoinet/VNM/ledger", size=2, root_hash=b"\0" * 32),
                                           timestamp=1).note_signature.line
    refused = api.post("/federation/v1/ledger/cosignatures", json={"witness": "FRA", "size": 2, "line": line})
    assert refused.status_code == 422 and refused.json()["code"] in ("bad_cosignature", "cosignature_wrong_key")
    note = served(vnm).decode()
    unproven = api.post("/federation/v1/ledger/reports", json={"witness": "FRA", "verdict": "fork",
                                                               "previous": note, "current": note})
    assert unproven.status_code == 422 and unproven.json()["code"] == "unproven_report"


def test_a_bundle_can_require_witnesses_and_tiles_are_checked_against_the_checkpoint(
    pair: tuple[Node, Node]
) -> None:
    vnm, fra = pair
    grow(vnm, 300)
    witness(fra, vnm)
    with vnm.db.transaction(readonly=True) as uow:
        entry, proof = log.inclusion(uow.session, 7, 300)
        row = uow.session.get(LedgerEntry, 7)
        assert row is not None
        record = row.record
    bundle = {"origin": "hanoinet/VNM/ledger", "verifier_key": log.verifier(vnm).vkey,
              "checkpoint": served(vnm).decode(), "index": 7, "size": 300,
              "entry": base64.b64encode(entry).decode(), "record": record,
              "proof": [base64.b64encode(h).decode() for h in proof]}
    fra_witness = witnessing.cosigner(fra).verifier.vkey
    verified = verify_bundle(bundle, [log.verifier(vnm).vkey], witnesses=[fra_witness], min_witnesses=1)
    assert [c.name for c in verified.cosignatures] == ["hanoinet/FRA/witness"]
    assert verified.witnessed_before is not None and verified.witnessed_before <= now().timestamp()
    bra_like = witnessing.cosigner(vnm).verifier.vkey  # a witness that did not cosign
    with pytest.raises(HanoinetError) as refused:
        verify_bundle(bundle, [log.verifier(vnm).vkey], witnesses=[bra_like], min_witnesses=1)
    assert refused.value.code == "too_few_witnesses"

    api = TestClient(create_app(vnm, background=False))
    checkpoint, _ = open_checkpoint(served(vnm), witnessing.log_verifiers(vnm.card()), origin="hanoinet/VNM/ledger")

    def read(tile: Tile) -> bytes:
        return api.get(f"/federation/v1/ledger/{tile.path}").content

    verify_tiles(checkpoint, read)

    def tampered(tile: Tile) -> bytes:
        data = bytearray(read(tile))
        if tile.level == 0 and tile.index == 0:
            data[100] ^= 1
        return bytes(data)

    with pytest.raises(merkle.RootMismatch):
        verify_tiles(checkpoint, tampered)
