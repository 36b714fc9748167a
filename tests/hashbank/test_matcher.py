"""The live matcher answers exactly what brute force over the bank's active entries answers: after additions and
withdrawals, entries committed while it builds, restarts from a saved file, damaged files, a database restored
from an older backup (whose log may then pass a saved file's number with other changes), and a process killed
again and again while it merges and saves. A change reaches searches within a second even during a long merge;
saves remove only what is older and no other process's work."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from structlog.testing import capture_logs

from hanoinet.db.database import Database
from hanoinet.db.models import HashEntry
from hanoinet.errors import ConfigurationError, Conflict, ValidationError
from hanoinet.hashbank import bank
from hanoinet.hashbank import index as index_module
from hanoinet.hashbank import matcher as matcher_module
from hanoinet.hashbank.bank import Entry, NewHash
from hanoinet.hashbank.matcher import Matcher
from tests.hashbank.test_index import Triples, brute_force, near_queries, triples

Codes = npt.NDArray[np.uint8]


def open_database(url: str) -> Database:
    db = Database(url)
    db.migrate()
    return db


@pytest.fixture
def db(tmp_path: Path, database_url: str) -> Iterator[Database]:
    """A migrated database of the kind under test (SQLite in tmp_path, or a fresh PostgreSQL one)."""
    database = open_database(database_url or f"sqlite:///{tmp_path / 'n.db'}")
    yield database
    database.dispose()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(f"sqlite:///{tmp_path / 'n.db'}")
    yield database
    database.dispose()


def add(db: Database, count: int, rng: random.Random) -> list[Entry]:
    with db.transaction() as uow:
        return bank.add(uow.session, "VNM", [NewHash(hash=rng.randbytes(32).hex(), quality=90, category="art16")
                                             for _ in range(count)], actor="test")


def withdraw(db: Database, entries: list[Entry]) -> None:
    with db.transaction() as uow:
        bank.withdraw(uow.session, "VNM", [e.entry_id for e in entries], actor="test")


def file_name(db: Database, seq: int) -> str:
    """The name of the file saving the index as of change ``seq`` of the database's log."""
    with db.transaction(readonly=True) as uow:
        chain = bank.chain_at(uow.session, seq)
    assert chain is not None
    return f"pdq-{seq:016d}-{chain[:16]}.idx"


def back_up(path: Path, backup: Path) -> None:
    """A consistent copy of the SQLite database at ``path``, as a backup takes it."""
    source, target = sqlite3.connect(path), sqlite3.connect(backup)
    source.backup(target)
    source.close()
    target.close()


def restore(db: Database, path: Path, backup: Path) -> Database:
    """The database at ``path`` replaced by ``backup``, as restoring an older backup does; returns it opened."""
    db.dispose()
    for leftover in path.parent.glob(f"{path.name}*"):
        leftover.unlink()
    backup.rename(path)
    return Database(f"sqlite:///{path}")


def code_of(entry: Entry) -> Codes:
    assert entry.hash is not None
    return np.frombuffer(bytes.fromhex(entry.hash), dtype=np.uint8).reshape(1, 32)


def stored(db: Database) -> tuple[npt.NDArray[np.uint64], Codes, npt.NDArray[np.bool_]]:
    """Rows, codes and whether active, of every entry with a hash in the database."""
    with db.transaction(readonly=True) as uow:
        found = uow.session.execute(select(HashEntry.id, HashEntry.hash, HashEntry.status)
                                    .where(HashEntry.hash.is_not(None)).order_by(HashEntry.id)).all()
    rows = np.array([r for r, _, _ in found], dtype=np.uint64)
    codes = np.frombuffer(bytes.fromhex("".join(str(h) for _, h, _ in found)), dtype=np.uint8).reshape(-1, 32)
    return rows, codes, np.array([s == "active" for _, _, s in found], dtype=bool)


def assert_exact(matcher: Matcher, db: Database, seed: int) -> None:
    """The matcher holds the active entries and nothing else, at the log's head: near-duplicates of active and
    withdrawn entries alike find exactly what brute force over the active ones finds."""
    rows, codes, active = stored(db)
    with db.transaction(readonly=True) as uow:
        head, _ = bank.head(uow.session)
    assert matcher.seq == head
    assert matcher.stats().index.entries == int(active.sum())
    queries = np.concatenate([near_queries(codes, 300, seed), codes[~active][:100]])
    expected: Triples = brute_force(rows[active], codes[active], queries, 31)
    assert triples(matcher.search(queries)) == expected
    assert triples(matcher.search(queries, 20)) == brute_force(rows[active], codes[active], queries, 20)


def test_follows_additions_and_withdrawals_exactly(db: Database, tmp_path: Path) -> None:
    rng = random.Random(1)
    first = add(db, 300, rng)
    matcher = Matcher(db, tmp_path / "index")
    matcher.open()
    assert matcher.stats().loaded_from is None
    assert_exact(matcher, db, seed=1)
    second = add(db, 200, rng)
    # From the main segment, and entries added and withdrawn before the matcher reads either change.
    withdraw(db, first[:30] + second[:20])
    assert matcher.refresh() == 250
    assert matcher.refresh() == 0
    assert_exact(matcher, db, seed=2)
    assert matcher.search(code_of(first[0]), 0).ids.size == 0
    assert matcher.search(code_of(first[40]), 0).ids.tolist() == [first[40].row]
    path = matcher.merge_and_save()
    assert path == tmp_path / "index" / file_name(db, matcher.seq)
    assert matcher.stats().saved_seq == matcher.seq
    assert matcher.stats().index.delta_entries == 0
    assert_exact(matcher, db, seed=3)
    withdraw(db, first[100:110])
    add(db, 50, rng)
    matcher.refresh()
    assert_exact(matcher, db, seed=4)


def test_entries_committed_while_building_are_indexed_once(db: Database, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(2)
    first = add(db, 200, rng)
    real_active_codes = bank.active_codes
    pages: list[int] = []

    def active_codes_while_others_write(session: Session, kind: str, after: int, limit: int) -> list[tuple[int, str]]:
        # Between two pages: new entries (read by a later page and again as additions after the build's head)
        # and withdrawals of entries read already and of entries not read yet.
        if len(pages) == 1:
            add(db, 30, rng)
            withdraw(db, [first[3], first[150]])
        pages.append(after)
        return real_active_codes(session, kind, after, limit)

    monkeypatch.setattr(matcher_module, "BUILD_PAGE", 50)
    monkeypatch.setattr(bank, "active_codes", active_codes_while_others_write)
    matcher = Matcher(db, tmp_path / "index")
    matcher.open()
    assert len(pages) == 6
    assert_exact(matcher, db, seed=5)


def test_restart_loads_the_saved_file_and_replays_later_changes(db: Database, tmp_path: Path) -> None:
    rng = random.Random(3)
    folder = tmp_path / "index"
    entries = add(db, 400, rng)
    matcher = Matcher(db, folder)
    matcher.open()
    withdraw(db, entries[:10])
    entries += add(db, 20, rng)
    matcher.refresh()
    saved = matcher.merge_and_save()
    # Withdrawn once saved: in the file's main segment, in the delta of the running matcher.
    withdraw(db, entries[10:20] + entries[-5:])
    entries += add(db, 30, rng)
    matcher.refresh()
    restarted = Matcher(db, folder)
    restarted.open()
    assert restarted.stats().loaded_from == saved
    assert restarted.stats().saved_seq == int(saved.stem.split("-")[1]) < restarted.seq
    assert_exact(restarted, db, seed=6)
    for entry in entries[:20] + entries[-35:-30]:
        assert restarted.search(code_of(entry), 31).ids.size == 0
    assert triples(restarted.search(code_of(entries[-1]))) == [(0, entries[-1].row, 0)]


def test_damaged_newest_file_falls_back_to_an_older_one_then_to_the_database(sqlite_db: Database,
                                                                            tmp_path: Path) -> None:
    rng = random.Random(4)
    folder = tmp_path / "index"
    entries = add(sqlite_db, 100, rng)
    matcher = Matcher(sqlite_db, folder)
    matcher.open()
    older = matcher.merge_and_save()
    older_bytes = older.read_bytes()
    withdraw(sqlite_db, entries[:5])
    add(sqlite_db, 50, rng)
    matcher.refresh()
    newest = matcher.merge_and_save()
    assert not older.exists()
    # An older file as another save might have left it, and the newest cut short.
    older.write_bytes(older_bytes)
    newest.write_bytes(newest.read_bytes()[:5000])
    with capture_logs() as logs:
        fallback = Matcher(sqlite_db, folder)
        fallback.open()
    assert fallback.stats().loaded_from == older
    assert [(e["log_level"], e["reason"]) for e in logs if "reason" in e] == [
        ("warning", "hashbank_file_truncated")]
    assert_exact(fallback, sqlite_db, seed=7)
    altered = bytearray(older_bytes)
    altered[300] ^= 1
    older.write_bytes(bytes(altered))
    with capture_logs() as logs:
        rebuilt = Matcher(sqlite_db, folder)
        rebuilt.open()
    assert rebuilt.stats().loaded_from is None
    assert [e["reason"] for e in logs if "reason" in e] == ["hashbank_file_truncated", "hashbank_file_corrupt"]
    assert_exact(rebuilt, sqlite_db, seed=8)


def test_file_ahead_of_a_restored_database_is_removed_and_the_index_rebuilt(tmp_path: Path) -> None:
    rng = random.Random(5)
    folder = tmp_path / "index"
    path = tmp_path / "n.db"
    db = open_database(f"sqlite:///{path}")
    entries = add(db, 100, rng)
    back_up(path, tmp_path / "backup.db")
    matcher = Matcher(db, folder)
    matcher.open()
    later = add(db, 60, rng)
    withdraw(db, entries[:10])
    matcher.refresh()
    ahead = matcher.merge_and_save()
    restored = restore(db, path, tmp_path / "backup.db")
    with capture_logs() as logs:
        matcher = Matcher(restored, folder)
        matcher.open()
    assert matcher.stats().loaded_from is None
    assert not ahead.exists()
    assert any("ahead of the database" in e["event"] for e in logs)
    assert_exact(matcher, restored, seed=9)
    assert matcher.search(code_of(later[0]), 0).ids.size == 0
    assert matcher.search(code_of(entries[0]), 0).ids.tolist() == [entries[0].row]
    # The log now passes the removed file's number again, with other changes: a restart rebuilds, exactly.
    add(restored, 80, rng)
    again = Matcher(restored, folder)
    again.open()
    assert again.seq > int(ahead.stem.split("-")[1])
    assert again.stats().loaded_from is None
    assert_exact(again, restored, seed=10)
    restored.dispose()


def test_file_of_another_history_is_removed_once_a_restored_log_passes_its_number(tmp_path: Path) -> None:
    rng = random.Random(11)
    folder = tmp_path / "index"
    path = tmp_path / "n.db"
    db = open_database(f"sqlite:///{path}")
    entries = add(db, 100, rng)
    matcher = Matcher(db, folder)
    matcher.open()
    shared = matcher.merge_and_save()
    shared_bytes = shared.read_bytes()
    back_up(path, tmp_path / "backup.db")
    later = add(db, 60, rng)
    withdraw(db, entries[:10])
    matcher.refresh()
    stale = matcher.merge_and_save()
    # The file of change 100, which both histories share, as another process's older save might have left it.
    shared.write_bytes(shared_bytes)
    restored = restore(db, path, tmp_path / "backup.db")
    # Before any matcher opens, the restored log passes the stale file's number with other changes: other
    # entries under the rows the stale file holds, none of them withdrawn.
    others = add(restored, 80, rng)
    stale_seq = int(stale.stem.split("-")[1])
    assert [e.row for e in others[:60]] == [e.row for e in later]
    with capture_logs() as logs:
        reopened = Matcher(restored, folder)
        reopened.open()
    assert reopened.seq > stale_seq
    assert_exact(reopened, restored, seed=14)
    assert reopened.search(code_of(later[0]), 0).ids.size == 0
    assert reopened.search(code_of(entries[0]), 0).ids.tolist() == [entries[0].row]
    assert reopened.search(code_of(others[0]), 0).ids.tolist() == [others[0].row]
    assert reopened.stats().loaded_from == shared
    assert shared.name == file_name(restored, 100)
    assert not stale.exists()
    assert any("another history" in e["event"] for e in logs)
    restored.dispose()


def test_file_named_without_the_chain_is_removed_not_loaded(sqlite_db: Database, tmp_path: Path) -> None:
    rng = random.Random(12)
    folder = tmp_path / "index"
    add(sqlite_db, 50, rng)
    matcher = Matcher(sqlite_db, folder)
    matcher.open()
    # An intact file, named by seq alone as an earlier version saved it.
    unchecked = matcher.merge_and_save().rename(folder / f"pdq-{matcher.seq:016d}.idx")
    add(sqlite_db, 5, rng)
    with capture_logs() as logs:
        reopened = Matcher(sqlite_db, folder)
        reopened.open()
    assert reopened.stats().loaded_from is None
    assert not unchecked.exists()
    assert any("without the log's chain value" in e["event"] for e in logs)
    assert_exact(reopened, sqlite_db, seed=15)


def test_saving_removes_older_files_and_stale_temporaries_only(sqlite_db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "index"
    folder.mkdir()
    kept = [folder / "pdq-00000000000000zz.idx", folder / "pdq-0000000000000001-00000000000000zz.idx",
            folder / "other-0000000000000001-0000000000000000.idx", folder / "notes.txt"]
    for path in kept:
        path.write_text("not ours")
    hour_ago = time.time() - 3600

    def temporary(name: str, *, stale: bool) -> Path:
        path = folder / name
        path.write_bytes(bytes(100))
        if stale:
            os.utime(path, (hour_ago, hour_ago))
        return path

    left = temporary(".pdq-0000000000000002-0123456789abcdef.idx.1a2b3c.tmp", stale=True)
    (folder / f"pdq-0000000000000000-{bank.GENESIS[:16]}.idx").write_bytes(b"damaged")
    rng = random.Random(6)
    add(sqlite_db, 10, rng)
    matcher = Matcher(sqlite_db, folder)
    matcher.open()
    assert not left.exists()
    left = temporary(".pdq-0000000000000009-0123456789abcdef.idx.4d5e6f.tmp", stale=True)
    # Another process sharing the folder is ahead: its save in progress and its newer file stay.
    add(sqlite_db, 1, rng)
    writing = temporary(f".{file_name(sqlite_db, 11)}.7a8b9c.tmp", stale=False)
    newer = folder / file_name(sqlite_db, 11)
    newer.write_bytes(b"newer")
    path = matcher.merge_and_save()
    assert path.name == file_name(sqlite_db, 10)
    assert sorted(folder.iterdir()) == sorted([*kept, writing, newer, path])


def test_a_file_saved_by_another_process_meanwhile_is_loaded_not_removed(sqlite_db: Database, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(10)
    folder = tmp_path / "index"
    add(sqlite_db, 10, rng)
    other = Matcher(sqlite_db, folder)
    other.open()
    real_head = bank.head
    saved: list[Path] = []

    def head_then_another_save(session: Session) -> tuple[int, str]:
        # The other process commits a change and saves it just after this one read the log's head.
        found = real_head(session)
        if not saved:
            add(sqlite_db, 1, rng)
            other.refresh()
            saved.append(other.merge_and_save())
        return found

    monkeypatch.setattr(bank, "head", head_then_another_save)
    matcher = Matcher(sqlite_db, folder)
    matcher.open()
    assert saved[0].name == file_name(sqlite_db, 11)
    assert matcher.stats().loaded_from == saved[0]
    assert saved[0].exists()
    assert_exact(matcher, sqlite_db, seed=13)


def test_unusable_kind_folder_or_state_is_refused_clearly(sqlite_db: Database, tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as unknown:
        Matcher(sqlite_db, tmp_path, kind="md5")
    assert unknown.value.code == "unknown_hash_kind"
    matcher = Matcher(sqlite_db, tmp_path / "index")
    with pytest.raises(Conflict) as closed:
        matcher.search(np.zeros((1, 32), np.uint8), 31)
    assert closed.value.code == "hashbank_matcher_closed"
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigurationError) as folder:
        Matcher(sqlite_db, tmp_path / "file" / "index").open()
    assert folder.value.code == "hashbank_folder_unusable"


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``condition`` until it holds; returns the seconds it took."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, f"still waiting for {what} after {timeout} s"
        time.sleep(0.01)
    return time.monotonic() - start


@contextmanager
def running(matcher: Matcher, *, interval: float, idle: float) -> Iterator[None]:
    """``matcher.run`` in an event loop of its own thread, stopped on leaving."""
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    runner = threading.Thread(target=loop.run_until_complete,
                              args=(matcher.run(stop, interval=interval, idle=idle),))
    runner.start()
    try:
        yield
    finally:
        loop.call_soon_threadsafe(stop.set)
        runner.join(timeout=30)
        loop.close()
    assert not runner.is_alive()


def test_run_merges_and_saves_once_the_delta_is_large(sqlite_db: Database, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(9)
    add(sqlite_db, 100, rng)
    monkeypatch.setattr(matcher_module, "MERGE_MIN", 8)
    matcher = Matcher(sqlite_db, tmp_path / "index")
    with running(matcher, interval=0.02, idle=60.0):
        wait_for(lambda: matcher.stats().seq == 100, 10.0, "run to open the matcher")
        add(sqlite_db, 8, rng)
        wait_for(lambda: matcher.stats().index.delta_entries == 8, 2.0, "the additions")
        time.sleep(0.2)
        assert matcher.stats().saved_seq is None
        add(sqlite_db, 1, rng)
        wait_for(lambda: matcher.stats().saved_seq == 109, 5.0, "a merge and save")
    assert matcher.stats().index.delta_entries == 0
    assert [p.name for p in (tmp_path / "index").iterdir()] == [file_name(sqlite_db, 109)]


def test_a_change_reaches_searches_within_a_second_during_a_long_merge(sqlite_db: Database, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(7)
    entries = add(sqlite_db, 500, rng)
    matcher = Matcher(sqlite_db, tmp_path / "index")
    matcher.open()
    real_build = index_module._Segment.build

    def slow_build(cls: type[index_module._Segment], ids: npt.NDArray[np.uint64],
                   codes: Codes) -> index_module._Segment:
        # As long as merging a bank of a million entries; empty segments (a new index) stay instant.
        if len(ids):
            time.sleep(3.0)
        return real_build(ids, codes)

    monkeypatch.setattr(index_module._Segment, "build", classmethod(slow_build))
    add(sqlite_db, 1, rng)  # a nonempty delta: the idle merge will build a segment
    with running(matcher, interval=0.05, idle=0.3):
        wait_for(lambda: matcher.stats().merging, 5.0, "the merge to start")
        new = add(sqlite_db, 1, rng)[0]
        assert wait_for(lambda: matcher.search(code_of(new), 0).ids.size == 1, 1.0, "the addition") < 1.0
        withdraw(sqlite_db, entries[:1])
        assert wait_for(lambda: matcher.search(code_of(entries[0]), 0).ids.size == 0, 1.0, "the withdrawal") < 1.0
        assert matcher.stats().merging
    # Stopping waited for the merge; the file it saved reflects the changes applied during the merge.
    assert not matcher.stats().merging
    monkeypatch.undo()
    assert matcher.stats().saved_seq == matcher.seq
    restarted = Matcher(sqlite_db, tmp_path / "index")
    restarted.open()
    assert restarted.stats().loaded_from is not None
    assert restarted.seq == matcher.seq
    assert restarted.search(code_of(new), 0).ids.tolist() == [new.row]
    assert restarted.search(code_of(entries[0]), 0).ids.size == 0
    assert_exact(restarted, sqlite_db, seed=11)


CHILD = textwrap.dedent('''
    """Adds and withdraws entries, merging and saving the index after each change, until it is killed."""
    import random
    import sys
    import time
    from pathlib import Path

    from hanoinet.db.database import Database
    from hanoinet.hashbank import bank, index
    from hanoinet.hashbank.bank import NewHash
    from hanoinet.hashbank.matcher import Matcher

    url, folder, ready, seed = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
    rng = random.Random(seed)
    real_write = index._write_piece


    def slow_write(out, data):
        # Widens the window in which a save is being written, where some of the kills aim.
        time.sleep(0.01)
        real_write(out, data)


    index._write_piece = slow_write
    db = Database(url)
    matcher = Matcher(db, folder)
    matcher.open()
    ready.touch()
    while True:
        with db.transaction() as uow:
            bank.add(uow.session, "VNM", [NewHash(hash=rng.randbytes(32).hex(), quality=90, category="art16")
                                         for _ in range(rng.randint(1, 40))], actor="test")
        with db.transaction() as uow:
            last, _ = bank.head(uow.session)
            picked = bank.entries(uow.session, status="active", after=rng.randint(0, last), limit=rng.randint(0, 4))
            if picked:
                bank.withdraw(uow.session, "VNM", [e.entry_id for e in picked], actor="test")
        matcher.refresh()
        matcher.merge_and_save()
''')


def kill_at_random(command: list[str], ready: Path, output: Path, folder: Path, *, aimed: bool,
                   rng: random.Random) -> bool:
    """Start the child, kill it once it has run for a random while (``aimed``: then while a save is being
    written); returns whether the kill left the temporary file of a save."""
    ready.unlink(missing_ok=True)
    with open(output, "w") as out:
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: ready.exists() or child.poll() is not None, 30.0, "the child to open its matcher")
        time.sleep(rng.uniform(0.2, 1.2))
        if aimed:
            # The child slows its saves down to about 0.2 s, so this usually lands inside one.
            wait_for(lambda: bool(list(folder.glob(".pdq-*.tmp"))) or child.poll() is not None, 10.0,
                     "a save in progress")
            time.sleep(rng.uniform(0, 0.1))
        assert child.poll() is None, output.read_text()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    return bool(list(folder.glob(".pdq-*.tmp")))


@pytest.mark.slow
def test_survives_kills_while_merging_and_saving_with_nothing_lost(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'n.db'}"
    db = open_database(url)
    rng = random.Random(8)
    add(db, 3000, rng)
    db.dispose()
    folder, ready, script, output = tmp_path / "index", tmp_path / "ready", tmp_path / "child.py", tmp_path / "out"
    script.write_text(CHILD)
    killed_while_saving = sum(
        kill_at_random([sys.executable, str(script), url, str(folder), str(ready), str(round_)], ready, output,
                       folder, aimed=bool(round_ % 2), rng=rng)
        for round_ in range(6))
    assert killed_while_saving >= 1
    db = Database(url)
    matcher = Matcher(db, folder)
    matcher.open()
    newest = max(folder.glob("pdq-*.idx"))
    assert matcher.stats().loaded_from == newest
    assert_exact(matcher, db, seed=12)
    db.dispose()
