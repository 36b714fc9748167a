"""The bank's entries and change log: validation at the boundary, origin rules, ordering, and received changes
applied in any order."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from hanoinet.clock import format_instant, now
from hanoinet.db.database import Database
from hanoinet.db.models import Alarm, HashEntry
from hanoinet.errors import Forbidden, HanoinetError, NotFound, ValidationError
from hanoinet.hashbank import bank
from hanoinet.hashbank.bank import NewHash
from hanoinet.ids import uuid7


def random_hash() -> str:
    return secrets.token_hex(32)


@pytest.fixture
def db(tmp_path: Path, database_url: str) -> Iterator[Database]:
    database = Database(database_url or f"sqlite:///{tmp_path / 'bank.db'}")
    database.migrate()
    yield database
    database.dispose()


def add(db: Database, count: int = 1, origin: str = "VNM", category: str = "art16") -> list[bank.Entry]:
    with db.transaction() as uow:
        return bank.add(uow.session, origin, [NewHash(hash=random_hash(), quality=90, category=category)
                                              for _ in range(count)], actor="test")


def test_added_entries_are_logged_in_order_with_a_chain(db: Database) -> None:
    first = add(db, 3)
    second = add(db, 2, category="art14")
    with db.transaction(readonly=True) as uow:
        changes = bank.changes_after(uow.session, 0, 100)
        seq, chain = bank.head(uow.session)
    assert [c.seq for c in changes] == [1, 2, 3, 4, 5]
    assert [c.entry.entry_id for c in changes] == [e.entry_id for e in first + second]
    assert seq == 5 and chain == changes[-1].chain
    expected = bank.GENESIS
    for change in changes:
        expected = bank.chain_next(expected, change.seq, change.op, change.entry.entry_id)
        assert change.chain == expected
    assert all(e.status == "active" and e.origin == "VNM" for e in first)


def test_hashes_are_stored_in_lower_case_and_checked_before_anything_is_written(db: Database) -> None:
    upper = random_hash().upper()
    with db.transaction() as uow:
        [entry] = bank.add(uow.session, "VNM", [NewHash(hash=upper, quality="77", category="art16")], actor="t")
    assert entry.hash == upper.lower() and entry.quality == 77
    bad = [
        (NewHash(hash="zz" * 32, quality=90, category="art16"), "bad_hash"),
        (NewHash(hash=random_hash()[:-1], quality=90, category="art16"), "bad_hash"),
        (NewHash(hash=random_hash(), quality=49, category="art16"), "low_quality"),
        (NewHash(hash=random_hash(), quality=101, category="art16"), "bad_quality"),
        (NewHash(hash=random_hash(), quality=90, category="art15"), "bad_category"),
        (NewHash(hash=random_hash(), quality=90, category="art16", kind="md5"), "unknown_hash_kind"),
    ]
    for item, code in bad:
        with pytest.raises(ValidationError) as caught, db.transaction() as uow:
            bank.add(uow.session, "VNM", [NewHash(hash=random_hash(), quality=90, category="art16"), item],
                     actor="t")
        assert caught.value.code == code
        assert caught.value.message.startswith("hash 2:")
    with db.transaction(readonly=True) as uow:
        assert bank.statistics(uow.session)["active"] == 1


def test_only_the_origin_withdraws_and_withdrawing_twice_changes_nothing(db: Database) -> None:
    [ours] = add(db)
    [theirs] = add(db, origin="FRA")
    with pytest.raises(Forbidden) as caught, db.transaction() as uow:
        bank.withdraw(uow.session, "VNM", [ours.entry_id, theirs.entry_id], actor="t")
    assert caught.value.code == "not_origin"
    with pytest.raises(NotFound), db.transaction() as uow:
        bank.withdraw(uow.session, "VNM", [uuid7()], actor="t")
    with pytest.raises(ValidationError), db.transaction() as uow:
        bank.withdraw(uow.session, "VNM", ["not-an-id"], actor="t")
    for _ in range(2):
        with db.transaction() as uow:
            [gone] = bank.withdraw(uow.session, "VNM", [ours.entry_id, ours.entry_id], actor="t")
        assert gone.status == "withdrawn" and gone.withdrawn_at is not None
    with db.transaction(readonly=True) as uow:
        ops = [(c.op, c.entry.entry_id) for c in bank.changes_after(uow.session, 0, 10)]
        counts = bank.statistics(uow.session)
    assert ops == [("add", ours.entry_id), ("add", theirs.entry_id), ("withdraw", ours.entry_id)]
    assert counts["active"] == 1 and counts["withdrawn"] == 1
    assert counts["by_origin"] == {"FRA": {"active": 1, "withdrawn": 0}, "VNM": {"active": 0, "withdrawn": 1}}


def test_the_lean_read_of_the_log_gives_what_the_full_one_does_for_an_index(db: Database) -> None:
    entries = add(db, 4) + add(db, 2, origin="FRA", category="art14")
    with db.transaction() as uow:
        bank.withdraw(uow.session, "VNM", [entries[1].entry_id, entries[3].entry_id], actor="t")
    with db.transaction(readonly=True) as uow:
        full = bank.changes_after(uow.session, 0, 100)
        lean = bank.index_changes_after(uow.session, 0, 100)
        pages = [bank.index_changes_after(uow.session, after, 3) for after in (0, 3, 6)]
        beyond = bank.index_changes_after(uow.session, 8, 100)
    assert lean == [(c.seq, c.op, c.chain, c.entry.row, c.entry.kind, c.entry.hash, c.entry.status) for c in full]
    assert [len(page) for page in pages] == [3, 3, 2] and [c for page in pages for c in page] == lean
    assert beyond == []
    # Each change carries its entry as it is now: the addition of a withdrawn entry reads as withdrawn.
    assert (lean[1].op, lean[1].status, lean[1].hash) == ("add", "withdrawn", entries[1].hash)
    assert [(c.op, c.row) for c in lean[6:]] == [("withdraw", entries[1].row), ("withdraw", entries[3].row)]


def test_listing_pages_and_filters(db: Database) -> None:
    entries = add(db, 5) + add(db, 2, origin="BRA", category="art14")
    with db.transaction(readonly=True) as uow:
        page = bank.entries(uow.session, limit=3)
        rest = bank.entries(uow.session, after=page[-1].row, limit=100)
        brazil = bank.entries(uow.session, origin="BRA")
        child = bank.entries(uow.session, category="art14")
    assert [e.entry_id for e in page + rest] == [e.entry_id for e in entries]
    assert [e.entry_id for e in brazil] == [e.entry_id for e in child] == [e.entry_id for e in entries[5:]]


def _wire_add(entry_id: str, code: str) -> dict[str, Any]:
    return {"op": "add", "id": entry_id, "kind": "pdq", "hash": code, "quality": 80, "category": "art16",
            "submitted_at": format_instant(now())}


def _wire_withdraw(entry_id: str) -> dict[str, Any]:
    return {"op": "withdraw", "id": entry_id, "kind": "pdq", "withdrawn_at": format_instant(now())}


@settings(max_examples=40)
@given(data=st.data(), count=st.integers(1, 6))
def test_received_changes_give_the_same_bank_in_any_order_and_repeated(tmp_path_factory: pytest.TempPathFactory,
                                                                       data: st.DataObject, count: int) -> None:
    ids = [uuid7() for _ in range(count)]
    codes = [random_hash() for _ in range(count)]
    withdrawn = data.draw(st.sets(st.sampled_from(range(count))))
    changes = [_wire_add(ids[i], codes[i]) for i in range(count)] + [_wire_withdraw(ids[i]) for i in withdrawn]
    delivered = data.draw(st.permutations(changes + data.draw(st.lists(st.sampled_from(changes), max_size=4))))
    batches = data.draw(st.lists(st.integers(1, 4), min_size=len(delivered), max_size=len(delivered)))
    database = Database(f"sqlite:///{tmp_path_factory.mktemp('bank') / 'b.db'}")
    database.migrate()
    try:
        position = 0
        while position < len(delivered):
            with database.transaction() as uow:
                bank.apply_received(uow.session, "FRA", delivered[position:position + batches[position]])
            position += batches[position]
        with database.transaction(readonly=True) as uow:
            rows = {r.entry_id: r for r in uow.session.scalars(select(HashEntry))}
            changes_logged = bank.changes_after(uow.session, 0, 1000)
    finally:
        database.dispose()
    for i, entry_id in enumerate(ids):
        row = rows[entry_id]
        assert row.origin == "FRA"
        if i in withdrawn:
            assert row.status == "withdrawn"
        else:
            assert row.status == "active" and row.hash == codes[i]
    # The log never re-adds a withdrawn entry: its last word on each entry is the entry's status.
    last = {c.entry.entry_id: c.op for c in changes_logged}
    assert all(last.get(ids[i]) in (None, "withdraw") for i in withdrawn)
    assert all(last[ids[i]] == "add" for i in range(count) if i not in withdrawn)


def test_a_member_cannot_touch_or_pre_empt_another_origins_entry(db: Database) -> None:
    [ours] = add(db)
    with db.transaction() as uow:
        bank.apply_received(uow.session, "FRA", [_wire_withdraw(ours.entry_id)])
    with db.transaction(readonly=True) as uow:
        assert bank.get(uow.session, ours.entry_id).status == "active", "FRA cannot withdraw VNM's entry"
    # FRA's withdrawal of an id arrives before BRA's addition of it: BRA's entry must still be added.
    early = uuid7()
    with db.transaction() as uow:
        bank.apply_received(uow.session, "FRA", [_wire_withdraw(early)])
    with db.transaction() as uow:
        added, _ = bank.apply_received(uow.session, "BRA", [_wire_add(early, random_hash())])
    assert added == 1
    with db.transaction(readonly=True) as uow:
        entry = bank.get(uow.session, early)
    assert (entry.origin, entry.status) == ("BRA", "active")


def test_an_id_reused_by_another_origin_keeps_both_entries_and_raises_an_alarm(db: Database) -> None:
    [ours] = add(db)
    with db.transaction() as uow:
        added, _ = bank.apply_received(uow.session, "FRA", [_wire_add(ours.entry_id, random_hash())])
    assert added == 1
    with db.transaction(readonly=True) as uow:
        assert bank.get(uow.session, ours.entry_id).origin == "VNM", "the entry recorded first is the one meant"
        assert [a.code for a in uow.session.scalars(select(Alarm))] == ["hashbank_id_reused"]
        assert bank.statistics(uow.session)["by_origin"]["FRA"]["active"] == 1
    with db.transaction() as uow:
        [gone] = bank.withdraw(uow.session, "VNM", [ours.entry_id], actor="t")
    assert gone.origin == "VNM" and gone.status == "withdrawn"


def test_too_many_or_no_items_are_refused(db: Database) -> None:
    for items in ([], [NewHash(hash=random_hash(), quality=90, category="art16")] * (bank.MAX_BATCH + 1)):
        with pytest.raises(HanoinetError), db.transaction() as uow:
            bank.add(uow.session, "VNM", items, actor="t")
