"""The custody log in the database: queue in the caller's transaction, sequence in batches, prove from tiles."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hanoinet.clock import format_instant, now
from hanoinet.crypto.keys import KeyPair
from hanoinet.db.models import LedgerEntry, LedgerQueued
from hanoinet.ledger import log, merkle
from hanoinet.ledger.checkpoint import open_checkpoint
from hanoinet.ledger.events import CustodyEvent
from hanoinet.ledger.tiles import Tile, decode_tile, tiles_for_size
from hanoinet.network import inbox, outbox
from hanoinet.node.node import Node
from tests.support import make_node, publish


def event(i: int) -> CustodyEvent:
    return CustodyEvent(action="received", at=format_instant(now()), node="FRA", actor="peer:VNM",
                        object_sha256=f"{i:064x}", case="CASE-1", detail={"n": i})


def queue(node: Node, count: int, start: int = 0) -> None:
    with node.db.transaction() as uow:
        for i in range(start, start + count):
            log.record(uow.session, event(i))


@pytest.fixture
def fra(tmp_path: Path, authority: KeyPair, database_urls: Callable[[], str]) -> Node:
    """A node on SQLite, then on PostgreSQL."""
    return make_node(tmp_path, "FRA", authority, database_url=database_urls())


def test_events_are_queued_only_with_the_change_they_record(fra: Node) -> None:
    with pytest.raises(RuntimeError), fra.db.transaction() as uow:
        log.record(uow.session, event(1))
        raise RuntimeError("the change failed")
    with fra.db.transaction(readonly=True) as uow:
        assert uow.session.scalar(select(func.count()).select_from(LedgerQueued)) == 0


def test_sequencing_signs_a_checkpoint_whose_root_proves_every_entry(fra: Node) -> None:
    queue(fra, 300)  # more than one tile of leaves
    done = log.Sequencer(fra, holder="a", batch=120).step()
    assert done is not None and (done.count, done.size) == (120, 120)
    while (step := log.Sequencer(fra, holder="a", batch=120).step()) is not None and step.count:
        done = step
    assert done.size == 300
    with fra.db.transaction(readonly=True) as uow:
        latest = log.latest_checkpoint(uow.session)
        assert latest is not None and latest.size == 300
        checkpoint, _ = open_checkpoint(latest.note.encode(), [log.verifier(fra)], origin=log.origin(fra))
        assert checkpoint.root_hash == latest.root == done.root
        entries = [r.entry for r in uow.session.scalars(select(LedgerEntry).order_by(LedgerEntry.idx))]
        assert merkle.root([merkle.leaf_hash(e) for e in entries]) == checkpoint.root_hash
        for index in (0, 1, 255, 256, 299):
            entry, proof = log.inclusion(uow.session, index, 300)
            merkle.verify_inclusion(merkle.leaf_hash(entry), index, 300, proof, checkpoint.root_hash)
        for old in (1, 120, 240, 256):
            old_root = merkle.root([merkle.leaf_hash(e) for e in entries[:old]])
            merkle.verify_consistency(old, 300, log.consistency(uow.session, old, 300), old_root, done.root)
        # Every tile a log of this size serves is stored and holds the right hashes.
        for tile in tiles_for_size(300):
            hashes = decode_tile(log.tile_data(uow.session, tile), tile)
            assert len(hashes) == tile.width


def test_proofs_for_a_past_size_use_the_tiles_of_that_size(fra: Node) -> None:
    queue(fra, 10)
    first = log.Sequencer(fra, holder="a").step()
    queue(fra, 5, start=10)
    log.Sequencer(fra, holder="a").step()
    assert first is not None
    with fra.db.transaction(readonly=True) as uow:
        entry, proof = log.inclusion(uow.session, 3, 10)
        merkle.verify_inclusion(merkle.leaf_hash(entry), 3, 10, proof, first.root)
        assert log.tile_data(uow.session, Tile(level=0, index=0, width=10))[:32] == merkle.leaf_hash(
            uow.session.get(LedgerEntry, 0).entry)


def test_two_sequencers_cannot_both_run(fra: Node) -> None:
    queue(fra, 3)
    t = now()
    assert log.Sequencer(fra, holder="a").step(t) is not None
    queue(fra, 3, start=3)
    assert log.Sequencer(fra, holder="b").step(t + timedelta(seconds=1)) is None  # a's lease holds
    later = log.Sequencer(fra, holder="b").step(t + log.LEASE + timedelta(seconds=1))  # a is gone
    assert later is not None and later.size == 6


def test_a_sequencer_killed_mid_batch_leaves_no_gap_or_duplicate(fra: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    queue(fra, 50)

    def crash(*args: object) -> bytes:
        raise RuntimeError("killed while signing")

    with monkeypatch.context() as patched:
        patched.setattr(log, "sign_checkpoint", crash)
        with pytest.raises(RuntimeError):
            log.Sequencer(fra, holder="a").step()
    done = log.Sequencer(fra, holder="a").step()
    assert done is not None and done.size == 50
    with fra.db.transaction(readonly=True) as uow:
        indices = list(uow.session.scalars(select(LedgerEntry.idx).order_by(LedgerEntry.idx)))
        assert indices == list(range(50))
        details = [log_detail(r) for r in uow.session.scalars(select(LedgerEntry).order_by(LedgerEntry.idx))]
        assert details == list(range(50))  # the order they were queued in


def log_detail(row: LedgerEntry) -> int:
    """The number an event of :func:`event` carries."""
    assert row.record is not None
    return int(json.loads(row.record)["detail"]["n"])


def test_concurrent_writers_all_get_sequenced_once(fra: Node) -> None:
    writers = [threading.Thread(target=queue, args=(fra, 40, 1000 * w)) for w in range(4)]
    for w in writers:
        w.start()
    sequencer = log.Sequencer(fra, holder="a", batch=25)
    while any(w.is_alive() for w in writers):
        sequencer.step()
    for w in writers:
        w.join()
    while (done := sequencer.step()) is not None and done.count:
        pass
    with fra.db.transaction(readonly=True) as uow:
        assert log.size(uow.session) == 160
        numbers = sorted(log_detail(r) for r in uow.session.scalars(select(LedgerEntry)))
        assert numbers == sorted(1000 * w + i for w in range(4) for i in range(40))


def test_every_envelope_sent_and_received_is_a_custody_event(tmp_path: Path, authority: KeyPair) -> None:
    vnm, fra = make_node(tmp_path, "VNM", authority), make_node(tmp_path, "FRA", authority)
    publish([vnm, fra], authority)
    with vnm.db.transaction() as uow:
        sent = outbox.enqueue(vnm, uow, sender_desk="247", recipient="FRA/247", kind="note.text",
                              body={"subject": "s", "text": "t"}, case="CASE-9")
    inbox.receive(fra, sent.jwe)
    for node, action in ((vnm, "sent"), (fra, "received")):
        log.Sequencer(node, holder="t").step()
        with node.db.transaction(readonly=True) as uow:
            [row] = uow.session.scalars(select(LedgerEntry)).all()
            assert row.record is not None
            record = json.loads(row.record)
            assert (record["action"], record["object_sha256"], record["case"]) == (action, sent.jws_sha256, "CASE-9")
            assert record["detail"]["message_id"] == sent.message_id
