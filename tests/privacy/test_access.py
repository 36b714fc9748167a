"""The access log: rows recorded in the caller's transaction, found by an auditor's filters, refused UPDATE and
DELETE by both databases, and a chain of digests that shows a row removed or changed behind the triggers."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from hanoinet.db.database import Database
from hanoinet.errors import ValidationError
from hanoinet.privacy import access
from hanoinet.privacy.access import GENESIS, AccessEntry, ItemKind, Read, Reader
from hanoinet.privacy.reasons import MAX_REASON, check_reason

T0 = datetime(2026, 12, 7, 22, 10, tzinfo=UTC)
LAN = Reader(officer_id=3, actor="officer:3", name="Nguyen Thi Lan")
MARIE = Reader(officer_id=4, actor="officer:4", name="Marie Dubois")
OPERATOR = Reader.operator("operator:root")


def _read(reader: Reader = LAN, item: str = "VNM-2026-0007", *, case: str | None = "VNM-2026-0117",
          kind: ItemKind = ItemKind.REQUEST, reason: str = "answering FRA-2026-0012") -> Read:
    return Read(reader=reader, kind=kind, item=item, case=case, reason=reason, via="GET /api/v1/requests/{ref}")


@pytest.fixture
def database(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """A migrated database of the kind under test, with the log's clock pinned to T0 plus a minute per call."""
    ticks = iter(T0 + timedelta(minutes=i) for i in range(10_000))
    monkeypatch.setattr(access, "now", lambda: next(ticks))
    db = Database(database_url or f"sqlite:///{tmp_path / 'a.db'}")
    db.migrate()
    yield db
    db.dispose()


def _record(db: Database, *reads: Read) -> list[AccessEntry]:
    with db.transaction() as uow:
        return access.record_many(uow.session, reads)


def _all(db: Database) -> list[AccessEntry]:
    with db.transaction(readonly=True) as uow:
        return access.query(uow.session, limit=access.MAX_PAGE).entries


def test_a_read_is_recorded_with_who_when_what_why_and_how(database: Database) -> None:
    [entry] = _record(database, _read())
    assert entry.as_json() == {
        "seq": 1, "at": "2026-12-07T22:10:00.000Z", "officer_id": 3, "actor": "officer:3", "name": "Nguyen Thi Lan",
        "kind": "request", "item": "VNM-2026-0007", "case": "VNM-2026-0117", "reason": "answering FRA-2026-0012",
        "via": "GET /api/v1/requests/{ref}", "previous": GENESIS, "digest": entry.digest}
    assert _all(database) == [entry]


def test_reads_exist_only_if_the_callers_transaction_commits(database: Database) -> None:
    with pytest.raises(ZeroDivisionError), database.transaction() as uow:
        access.record(uow.session, _read())
        1 / 0  # noqa: B018 - the caller's work fails after recording
    assert _all(database) == []
    _record(database, _read())
    assert [e.seq for e in _all(database)] == [1]


def test_a_read_only_transaction_cannot_record(database: Database) -> None:
    with pytest.raises(RuntimeError, match="writing transaction"), database.transaction(readonly=True) as uow:
        access.record(uow.session, _read())


def test_the_auditors_filters_newest_first_a_page_at_a_time(database: Database) -> None:
    _record(database, _read(LAN, "VNM-2026-0007"), _read(MARIE, "VNM-2026-0007"))  # at T0
    _record(database, _read(LAN, "f" * 32, kind=ItemKind.EVIDENCE_FILE, case="FRA-CA-0009"))  # T0 + 1 min
    _record(database, _read(OPERATOR, "VNM-2026-0008", case=None))  # T0 + 2 min
    with database.transaction(readonly=True) as uow:
        def seqs(**filters: object) -> list[int]:
            return [e.seq for e in access.query(uow.session, **filters).entries]  # type: ignore[arg-type]

        assert seqs() == [4, 3, 2, 1]
        assert seqs(actor="officer:3") == [3, 1]
        assert seqs(actor=access.actor_of("4")) == [2]
        assert seqs(actor="operator:root") == [4]
        assert seqs(item="VNM-2026-0007") == [2, 1]
        assert seqs(kind=ItemKind.EVIDENCE_FILE) == [3]
        assert seqs(case="VNM-2026-0117") == [2, 1]
        assert seqs(since=T0 + timedelta(minutes=1)) == [4, 3]
        assert seqs(until=T0 + timedelta(minutes=1)) == [2, 1]
        assert seqs(since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=2)) == [3]
        assert seqs(actor="officer:3", case="FRA-CA-0009") == [3]
        first = access.query(uow.session, limit=3)
        assert [e.seq for e in first.entries] == [4, 3, 2] and first.before == 2
        rest = access.query(uow.session, limit=3, before=first.before)
        assert [e.seq for e in rest.entries] == [1] and rest.before is None
        with pytest.raises(ValidationError):
            access.query(uow.session, limit=access.MAX_PAGE + 1)


@pytest.mark.parametrize("statement", ["UPDATE access_log SET reason = 'nothing to see'",
                                       "DELETE FROM access_log", "DELETE FROM access_log WHERE seq = 1"])
def test_the_database_refuses_to_change_or_remove_a_row(database: Database, statement: str) -> None:
    before = _record(database, _read(), _read(MARIE))
    with pytest.raises(DatabaseError, match="access_log is append-only"), database.engine.begin() as connection:
        connection.execute(text(statement))
    assert _all(database) == before[::-1]


def test_postgresql_refuses_truncate_too(tmp_path: Path, pg_url: str) -> None:
    db = Database(pg_url)
    db.migrate()
    _record(db, _read())
    with pytest.raises(DatabaseError, match="access_log is append-only"), db.engine.begin() as connection:
        connection.execute(text("TRUNCATE access_log"))
    assert len(_all(db)) == 1
    db.dispose()


def _without_triggers(db: Database, statement: str) -> None:
    """Run ``statement`` as someone with direct access to the database who first disabled the triggers."""
    with db.engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            connection.execute(text("DROP TRIGGER access_log_no_update"))
            connection.execute(text("DROP TRIGGER access_log_no_delete"))
        else:
            connection.execute(text("ALTER TABLE access_log DISABLE TRIGGER USER"))
        connection.execute(text(statement))


def _verify(db: Database, anchor: str | None = None) -> access.ChainReport:
    with db.transaction(readonly=True) as uow:
        return access.verify(uow.session, anchor=anchor)


def test_an_intact_log_verifies_and_names_its_head(database: Database) -> None:
    assert _verify(database) == access.ChainReport(rows=0, head=GENESIS, breaks=(), anchored=None)
    entries = _record(database, _read(), _read(MARIE)) + _record(database, _read(OPERATOR))
    report = _verify(database, anchor=entries[0].digest)
    assert report.intact and report.rows == 3 and report.head == entries[-1].digest and report.anchored


def test_a_row_deleted_behind_the_triggers_is_found(database: Database) -> None:
    _record(database, _read(), _read(MARIE), _read(OPERATOR))
    _without_triggers(database, "DELETE FROM access_log WHERE seq = 2")
    report = _verify(database)
    assert not report.intact and report.breaks == (access.Break(3, "rows 2 to 2 are missing"),)


def test_a_row_changed_behind_the_triggers_is_found(database: Database) -> None:
    _record(database, _read(), _read(MARIE), _read(OPERATOR))
    _without_triggers(database, "UPDATE access_log SET reason = 'routine check' WHERE seq = 2")
    assert _verify(database).breaks == (access.Break(2, "its content does not match its digest: it was changed"),)


def test_a_row_changed_with_its_digest_recomputed_breaks_the_link_to_the_next(database: Database) -> None:
    first, second, _ = _record(database, _read(), _read(MARIE), _read(OPERATOR))
    forged = access.digest_of(first.digest, replace(second, reason="routine check").body())
    _without_triggers(database, f"UPDATE access_log SET reason = 'routine check', digest = '{forged}' WHERE seq = 2")
    assert _verify(database).breaks == (
        access.Break(3, "does not follow the row before it: that row was changed or replaced"),)


def test_the_newest_rows_removed_are_found_only_against_an_anchor(database: Database) -> None:
    entries = _record(database, _read(), _read(MARIE), _read(OPERATOR))
    _without_triggers(database, "DELETE FROM access_log WHERE seq = 3")
    assert _verify(database).intact  # the chain alone cannot tell
    report = _verify(database, anchor=entries[-1].digest)
    assert not report.intact and report.anchored is False and report.breaks == ()


def test_concurrent_writers_chain_in_one_line(database: Database) -> None:
    def write(reader: Reader) -> None:
        for i in range(15):
            _record(database, _read(reader, f"VNM-2026-{i:04d}"))

    threads = [threading.Thread(target=write, args=(r,)) for r in (LAN, MARIE)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report = _verify(database)
    assert report.intact and report.rows == 30


def test_the_digest_is_sha256_of_the_previous_digest_and_the_rows_canonical_json() -> None:
    # A naive reference: for ASCII text and integers, RFC 8785 is sorted, compact JSON.
    [entry] = access.chained([_read()], after=(0, GENESIS), at=T0)
    body = {"seq": 1, "at": "2026-12-07T22:10:00.000Z", "officer_id": 3, "actor": "officer:3",
            "name": "Nguyen Thi Lan", "kind": "request", "item": "VNM-2026-0007", "case": "VNM-2026-0117",
            "reason": "answering FRA-2026-0012", "via": "GET /api/v1/requests/{ref}"}
    expected = hashlib.sha256(bytes(32) + json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert entry.digest == expected
    [following] = access.chained([_read(MARIE)], after=(1, entry.digest), at=T0)
    assert following.previous == entry.digest and following.seq == 2


_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Cn")), min_size=1, max_size=20)
_READS = st.lists(st.builds(_read, reader=st.sampled_from([LAN, MARIE, OPERATOR]), item=_TEXT,
                            case=st.none() | _TEXT, kind=st.sampled_from(ItemKind), reason=_TEXT),
                  min_size=1, max_size=8)
_MUTABLE = ("officer_id", "actor", "name", "kind", "item", "case", "reason", "via", "at", "previous", "digest")


@given(reads=_READS, data=st.data())
def test_any_single_change_removal_or_swap_is_found(reads: list[Read], data: st.DataObject) -> None:
    entries = access.chained(reads, after=(0, GENESIS), at=T0)
    assert access.check_chain(entries).intact
    at = data.draw(st.integers(0, len(entries) - 1))
    member = data.draw(st.sampled_from(_MUTABLE))
    value = {"officer_id": 99, "at": T0 + timedelta(milliseconds=1), "previous": "1" * 64,
             "digest": "2" * 64}.get(member, "changed!")
    if getattr(entries[at], member) != value:
        changed = [*entries[:at], replace(entries[at], **{member: value}), *entries[at + 1:]]
        report = access.check_chain(changed)
        # The newest row's digest, changed alone, breaks nothing after it: its anchor shows it.
        assert not report.intact or (member == "digest" and at == len(entries) - 1)
        assert not access.check_chain(changed, anchor=entries[-1].digest).intact
    if len(entries) > 1:
        removed = data.draw(st.integers(0, len(entries) - 2))
        assert not access.check_chain(entries[:removed] + entries[removed + 1:]).intact
        swapped = [*entries[:removed], entries[removed + 1], entries[removed], *entries[removed + 2:]]
        assert not access.check_chain(swapped).intact


def test_a_missing_or_empty_reason_is_refused_saying_what_to_add() -> None:
    for missing in (None, "", "   "):
        with pytest.raises(ValidationError) as refused:
            check_reason(missing, add="--reason TEXT")
        assert refused.value.code == "reason_required" and "--reason TEXT" in refused.value.hint
    assert check_reason("  answering FRA-2026-0012 ", add="x") == "answering FRA-2026-0012"
    assert check_reason("trả lời yêu cầu FRA-2026-0012", add="x") == "trả lời yêu cầu FRA-2026-0012"
    assert check_reason("الرد على الطلب FRA-2026-0012", add="x")  # right-to-left text needs no controls
    invisible = ("\u200b", "\ufeff\u3164", "\u2800 \u200b", "\U000e0041\U000e0042")  # no letter, no digit
    spoofed = ("\u202eroF yadot", "audit \u2066x\u2069")  # reads otherwise than it is written
    for bad, code in (("two\nlines", "invalid_text"), ("x" * (MAX_REASON + 1), "reason_too_long"),
                      *((blank, "reason_required") for blank in invisible),
                      *((reversed_, "invalid_text") for reversed_ in spoofed)):
        with pytest.raises(ValidationError) as refused:
            check_reason(bad, add="x")
        assert refused.value.code == code
