"""The bank between nodes: each origin's changes reach every member as signed envelopes, in any order."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from hanoinet.crypto.keys import KeyPair
from hanoinet.db.models import HashEntry, InboxMessage, OutboxMessage
from hanoinet.errors import EnvelopeRefused
from hanoinet.hashbank import bank, replication
from hanoinet.hashbank.bank import NewHash
from hanoinet.network import kinds
from hanoinet.node.node import Node
from tests.support import make_node, publish, pump


@pytest.fixture
def nodes(tmp_path: Path, authority: KeyPair, database_urls: Callable[[], str]) -> Iterator[dict[str, Node]]:
    made = {state: make_node(tmp_path, state, authority, port=8450 + i, database_url=database_urls())
            for i, state in enumerate(("VNM", "FRA", "BRA"))}
    publish(made.values(), authority)
    yield made
    for node in made.values():
        node.close()


def add(node: Node, count: int) -> list[bank.Entry]:
    with node.db.transaction() as uow:
        return bank.add(uow.session, node.state, [NewHash(hash=secrets.token_hex(32), quality=90, category="art16")
                                                  for _ in range(count)], actor="test")


def withdraw(node: Node, entries: list[bank.Entry]) -> None:
    with node.db.transaction() as uow:
        bank.withdraw(uow.session, node.state, [e.entry_id for e in entries], actor="test")


def held(node: Node) -> dict[str, tuple[str, str | None]]:
    with node.db.transaction(readonly=True) as uow:
        return {e.entry_id: (e.status, e.hash) for e in bank.entries(uow.session, limit=100_000)}


def test_every_member_holds_every_origins_entries_and_withdrawals(nodes: dict[str, Node]) -> None:
    vnm, fra, bra = nodes["VNM"], nodes["FRA"], nodes["BRA"]
    ours, theirs = add(vnm, 3), add(fra, 2)
    assert replication.publish(vnm) == 2 and replication.publish(fra) == 2  # one envelope per peer
    assert replication.publish(vnm) == 0, "nothing is sent twice"
    pump(nodes)
    expected = {e.entry_id: ("active", e.hash) for e in ours + theirs}
    assert held(vnm) == held(fra) == held(bra) == expected

    withdraw(vnm, ours[:1])
    replication.publish(vnm)
    pump(nodes)
    expected[ours[0].entry_id] = ("withdrawn", ours[0].hash)
    assert held(vnm) == held(fra) == held(bra) == expected
    with bra.db.transaction(readonly=True) as uow:
        kinds_in = {r.kind for r in uow.session.scalars(select(InboxMessage))}
    assert kinds_in == {replication.KIND}


def test_a_member_that_joins_later_receives_the_bank_without_what_was_withdrawn(
        tmp_path: Path, authority: KeyPair, nodes: dict[str, Node]) -> None:
    vnm = nodes["VNM"]
    entries = add(vnm, 4)
    withdraw(vnm, entries[:2])
    replication.publish(vnm)
    pump(nodes)
    late = make_node(tmp_path, "DEU", authority, port=8460)
    try:
        publish([*nodes.values(), late], authority, version=2)
        assert replication.publish(vnm) == 1, "only the newcomer is sent anything"
        pump({**nodes, "DEU": late})
        with late.db.transaction(readonly=True) as uow:
            rows = bank.entries(uow.session, limit=100)
            tombstones = bank.changes_after(uow.session, 0, 100)
        assert {e.entry_id: e.status for e in rows} == {e.entry_id: "active" for e in entries[2:]}
        assert all(c.op == "add" for c in tombstones)
        with vnm.db.transaction(readonly=True) as uow:
            sent = [r.payload for r in uow.session.scalars(
                select(OutboxMessage).where(OutboxMessage.recipient == "DEU/247"))]
        assert len(sent) == 1
        for withdrawn in entries[:2]:
            assert withdrawn.hash not in sent[0], "a withdrawn hash is not sent to a member that never had it"
    finally:
        late.close()


def test_large_banks_travel_in_bounded_envelopes(nodes: dict[str, Node]) -> None:
    vnm, fra = nodes["VNM"], nodes["FRA"]
    entries = add(vnm, replication.MAX_CHANGES + 7)
    assert replication.publish(vnm) == 4  # two envelopes to each of the two peers
    pump(nodes, rounds=10)
    assert held(fra) == {e.entry_id: ("active", e.hash) for e in entries}


def test_a_large_backlog_goes_out_a_few_envelopes_at_a_time(nodes: dict[str, Node],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replication, "MAX_CHANGES", 2)
    monkeypatch.setattr(replication, "IN_FLIGHT", 2)
    vnm, fra, bra = nodes["VNM"], nodes["FRA"], nodes["BRA"]
    entries = add(vnm, 9)  # five envelopes for each peer
    assert replication.publish(vnm) == 4  # two waiting per peer
    assert replication.publish(vnm) == 0, "no more until those are delivered"
    queued = []
    for _ in range(3):
        before = replication._position(vnm)
        pump(nodes)
        assert replication._position(vnm) != before, "a delivery wakes the publisher"
        queued.append(replication.publish(vnm))
        with vnm.db.transaction(readonly=True) as uow:
            assert replication._waiting(uow.session, "FRA") <= 2 and replication._waiting(uow.session, "BRA") <= 2
    assert queued == [4, 2, 0]
    assert held(fra) == held(bra) == {e.entry_id: ("active", e.hash) for e in entries}
    with vnm.db.transaction(readonly=True) as uow:
        sent = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == replication.KIND)).all()
    assert len(sent) == 10


def test_malformed_changes_are_refused_whole() -> None:
    good = {"op": "add", "id": "0193a1b2-0000-7000-8000-000000000000", "kind": "pdq", "hash": "ab" * 32,
            "quality": 90, "category": "art16", "submitted_at": "2026-11-24T03:00:00.000Z"}
    for change in (
        {**good, "hash": "AB" * 32},  # not in the one written form
        {**good, "hash": "ab" * 31},
        {**good, "quality": 10},
        {**good, "category": "art99"},
        {**good, "kind": "md5"},
        {**good, "op": "replace"},
        {**good, "victim": "name"},
        {**good, "id": "not-an-id"},
    ):
        with pytest.raises(EnvelopeRefused) as caught:
            kinds.validate_body(replication.KIND, {"changes": [change]})
        assert caught.value.code == "invalid_body"
    with pytest.raises(EnvelopeRefused):
        kinds.validate_body(replication.KIND, {"changes": []})
    assert kinds.validate_body(replication.KIND, {"changes": [good]})["changes"][0]["hash"] == "ab" * 32
    assert not kinds.get(replication.KIND).direct, "officers cannot send bank changes as plain messages"


def _give_up(node: Node, peer: str, status: str) -> int:
    """Mark every pending bank envelope to ``peer`` as the outbox does when it gives up on it."""
    with node.db.transaction() as uow:
        rows = list(uow.session.scalars(select(OutboxMessage).where(
            OutboxMessage.recipient == f"{peer}/247", OutboxMessage.status == "pending")))
        for row in rows:
            row.status = status
    return len(rows)


@pytest.mark.parametrize("status", ["refused", "undeliverable"])
def test_changes_in_an_envelope_that_never_arrived_are_sent_again(nodes: dict[str, Node], status: str) -> None:
    vnm, fra = nodes["VNM"], nodes["FRA"]
    entries = add(vnm, 3)
    replication.publish(vnm)
    assert _give_up(vnm, "FRA", status) == 1
    withdraw(vnm, entries[:1])
    replication.publish(vnm)
    pump(nodes)
    expected = {entries[0].entry_id: ("withdrawn", None)} | {e.entry_id: ("active", e.hash) for e in entries[1:]}
    with fra.db.transaction(readonly=True) as uow:
        rows = {r.entry_id: (r.status, r.hash) for r in uow.session.scalars(select(HashEntry))}
    assert rows == expected, "the lost additions came again, without the one withdrawn meanwhile"
    # A member that keeps refusing gets the bank again at most once an hour, not in a loop.
    withdraw(vnm, entries[1:2])
    replication.publish(vnm)
    _give_up(vnm, "FRA", status)
    assert replication.publish(vnm) == 0
