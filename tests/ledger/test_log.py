"""The custody log in the database: queue in the caller's transaction, sequence in batches, prove from tiles."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from hanoinet.clock import format_instant, now
from hanoinet.crypto.keys import KeyPair
from hanoinet.db.models import LedgerEntry, LedgerQueued
from hanoinet.ledger import log, merkle
from hanoinet.ledger.checkpoint import open_checkpoint
from hanoinet.ledger.events import CustodyEvent, leaf_data
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


def queued_rows(node: Node) -> list[tuple[str, bytes]]:
    with node.db.transaction(readonly=True) as uow:
        return [(r.record, r.entry) for r in uow.session.scalars(select(LedgerQueued).order_by(LedgerQueued.id))]


def test_record_many_queues_what_record_queues_in_the_same_order(fra: Node) -> None:
    events = [event(i) for i in range(5)]
    with fra.db.transaction() as uow:
        for e in events:
            log.record(uow.session, e)
    with fra.db.transaction() as uow:
        log.record_many(uow.session, events[:3])
        log.record_many(uow.session, [])
        log.record_many(uow.session, iter(events[3:]))
    rows = queued_rows(fra)
    assert rows[5:] == rows[:5] and [entry for _, entry in rows[:5]] == [leaf_data(e.record()) for e in events]
    done = log.Sequencer(fra, holder="a").step()
    assert done is not None and done.size == 10
    with fra.db.transaction(readonly=True) as uow:
        assert [log_detail(r) for r in uow.session.scalars(select(LedgerEntry).order_by(LedgerEntry.idx))] == [
            0, 1, 2, 3, 4] * 2


def test_record_many_is_part_of_the_callers_transaction(fra: Node) -> None:
    with pytest.raises(RuntimeError), fra.db.transaction() as uow:
        log.record_many(uow.session, [event(i) for i in range(3)])
        assert log.queued(uow.session) == 3  # visible inside the transaction...
        raise RuntimeError("the change failed")
    assert queued_rows(fra) == []  # ...and gone with it


def test_a_plan_made_before_another_step_is_made_again(tmp_path: Path, authority: KeyPair,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    node = make_node(tmp_path, "FRA", authority)  # SQLite: the sequencer plans before taking the write lock
    queue(node, 30)
    plan = log._plan

    def overtaken(session: Session, batch: int) -> object:
        planned = plan(session, batch)
        monkeypatch.setattr(log, "_plan", plan)
        # The same holder restarted, sequenced 10, and more events came, all after this plan was read.
        assert log.Sequencer(node, holder="a", batch=10).step() is not None
        queue(node, 5, start=30)
        return planned

    monkeypatch.setattr(log, "_plan", overtaken)
    done = log.Sequencer(node, holder="a").step()
    assert done is not None and (done.count, done.size) == (25, 35)
    with node.db.transaction(readonly=True) as uow:
        rows = list(uow.session.scalars(select(LedgerEntry).order_by(LedgerEntry.idx)))
        assert [r.idx for r in rows] == list(range(35)) and [log_detail(r) for r in rows] == list(range(35))
        assert merkle.root([merkle.leaf_hash(r.entry) for r in rows]) == done.root


def test_a_queue_changed_behind_the_plan_fails_the_step_without_writing(tmp_path: Path, authority: KeyPair,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    node = make_node(tmp_path, "FRA", authority)
    queue(node, 20)
    plan = log._plan

    def tampered(session: Session, batch: int) -> object:
        planned = plan(session, batch)
        with node.db.transaction() as uow:
            uow.session.execute(delete(LedgerQueued).where(LedgerQueued.id == 7))
        return planned

    with monkeypatch.context() as patched:
        patched.setattr(log, "_plan", tampered)
        with pytest.raises(RuntimeError, match="queue changed"):
            log.Sequencer(node, holder="a").step()
    with node.db.transaction(readonly=True) as uow:
        assert (log.size(uow.session), log.queued(uow.session)) == (0, 19)
    done = log.Sequencer(node, holder="a").step()
    assert done is not None and done.size == 19
