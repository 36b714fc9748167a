"""The node's live matcher: an exact index (:class:`~hanoinet.hashbank.index.HashIndex`) of the bank's active
entries of one hash kind, kept in step with the change log, saved to a folder and reloaded quickly at start-up.

Ids. The index's ids are entry row numbers (``HashEntry.id``); :func:`hanoinet.hashbank.bank.by_rows` turns the
rows a search answers into entries.

Following the log. The matcher holds an index, ``seq``, the number of the last change applied to it, and the
log's chain value after that change: :meth:`Matcher.refresh` reads the changes after ``seq`` in order
(:func:`hanoinet.hashbank.bank.index_changes_after`) and applies them. The log never gains a change below one
already seen (bank.py numbers changes under one lock), so nothing is skipped. An addition whose entry is already
withdrawn when it is read is not applied: its withdrawal is further on in the log, and the entry must never match
again. A change of another kind only advances ``seq``.

Files. :meth:`Matcher.merge_and_save` writes ``{kind}-{seq:016d}-{chain16}.idx`` (the format of
:meth:`HashIndex.save`, written atomically and fsynced), ``seq`` being the change the file reflects exactly and
``chain16`` the first 16 hexadecimal digits of the log's chain value after it: the index, ``seq`` and the chain
are captured together, under the lock that applying a page of changes holds, in a snapshot that later changes do
not reach. Only then are the older files and the temporaries of interrupted saves removed, so a process killed at
any moment leaves at least one complete file or none, never a damaged one in use.

Start-up. :meth:`Matcher.open` loads the newest file that belongs to the database's log and reads back intact,
skipping (with a warning) those that are damaged, then applies the changes after its ``seq``. A file belongs to
the log when its ``seq`` is not above the log's head and its ``chain16`` begins the log's chain value after
``seq``. A database restored from an older backup has another log: a file above its head reflects changes it
never had, and once its log has grown past a file's ``seq`` again, other changes (and other rows) stand under the
same numbers, which only the chain tells apart. Such a file is removed with a warning, as is one named without
``chain16`` (by an earlier version, which did not record it): the index is a cache, rebuilt when no file is
usable. Building reads the head first, then the active entries in pages, then applies the changes after that
head; an entry committed meanwhile is then met twice (read as active, and as an addition), so additions of the
rows the build read are skipped.

In the node, :meth:`Matcher.run` follows the log every 0.2 s and merges the delta segment into the main one,
then saves, in a background thread while refreshes go on: a change reaches searches within a second even
during a long merge.

Several processes may share the folder (the node's workers, a command-line match): each follows the log and
saves on its own. A save removes only files older than its own, and temporaries nothing has written to for
:data:`STALE_TEMPORARY` seconds, never another process's save in progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeAlias

import numpy as np
import numpy.typing as npt
import structlog

from hanoinet.db.database import Database
from hanoinet.errors import ConfigurationError, Conflict, HanoinetError
from hanoinet.hashbank import bank, kinds
from hanoinet.hashbank.index import CODE_BITS, CODE_BYTES, HashIndex, IndexStats, Matches

log = structlog.get_logger("hanoinet.hashbank")

#: Active entries read per query when building the index from the database.
BUILD_PAGE: Final = 100_000
#: Changes read per query when following the log: about 25 ms of reading and applying on SQLite, so a long
#: catch-up shows its progress to searches page by page.
CHANGE_PAGE: Final = 5_000
#: A merge is due when the delta segment and the tombstones hold more than this many entries, or more than a
#: sixteenth of the main segment's rows. Every query is compared with every delta entry (4,096 cost about
#: 25 us per query), while a merge costs in proportion to the main segment (about 3 s per million rows): the
#: sixteenth keeps the merging work per change bounded as the bank grows.
MERGE_MIN: Final = 4096
#: Seconds to wait after a failed refresh or save before trying again.
RETRY_AFTER: Final = 5.0
#: A temporary file of a save that has not been written to for this many seconds was left by a killed process.
#: A save in progress writes continuously; the final fsync of a large index takes seconds, not minutes.
STALE_TEMPORARY: Final = 600.0

_HEX_CODE: Final = re.compile(f"[0-9a-fA-F]{{{2 * CODE_BYTES}}}")

_U64: TypeAlias = npt.NDArray[np.uint64]
_Codes: TypeAlias = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class MatcherStats:
    """The state of a :class:`Matcher`.

    ``seq`` is the last change applied; ``saved_seq`` the change the newest file this matcher loaded or wrote
    reflects (None if neither); ``loaded_from`` the file :meth:`Matcher.open` loaded (None if it built the index
    from the database); ``merging`` whether a merge or save is under way.
    """

    kind: str
    seq: int
    saved_seq: int | None
    loaded_from: Path | None
    merging: bool
    index: IndexStats


class Matcher:
    """The index of the bank's active entries of one kind, in step with the change log (see the module docstring).

    Searches run in any thread, concurrently with everything else. Call :meth:`open` once, then either
    :meth:`run` or :meth:`refresh` and :meth:`merge_and_save` as needed.
    """

    def __init__(self, db: Database, folder: Path, *, kind: str = "pdq") -> None:
        hash_kind = kinds.get(kind)
        if hash_kind.bits != CODE_BITS:
            raise ConfigurationError(f"the matcher indexes {CODE_BITS}-bit hashes; {kind} hashes have "
                                     f"{hash_kind.bits} bits", hint="match this kind with its own matcher",
                                     code="hashbank_kind_unsupported")
        self.kind = kind
        self._radius = hash_kind.max_distance
        self._db = db
        self._folder = Path(folder)
        self._file_name = re.compile(re.escape(kind) + r"-([0-9]{16})(?:-([0-9a-f]{16}))?\.idx")
        self._index = HashIndex()
        self._seq = 0
        self._chain = bank.GENESIS
        self._saved_seq: int | None = None
        self._loaded_from: Path | None = None
        self._opened = False
        self._merging = False
        # One reader of the log at a time: a second would read the same page and add its entries twice.
        self._refresh_lock = threading.Lock()
        # Held while a page of changes is applied and ``seq`` and the chain advanced, and while a snapshot is
        # taken, so that a saved file reflects exactly the change its name gives. Never held during database reads.
        self._lock = threading.Lock()
        # One merge and save at a time: a second would build the same segment again, in twice the memory.
        self._merge_lock = threading.Lock()

    @property
    def seq(self) -> int:
        """The number of the last change of the log applied to the index."""
        return self._seq

    def open(self) -> None:
        """Load the newest usable saved index from the folder (creating the folder if needed), or build it from
        the database, then apply the changes the log holds after it."""
        with self._refresh_lock:
            try:
                self._folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigurationError(f"cannot create the hash index folder {self._folder}: {exc.strerror}",
                                         hint="check the node's data directory and its permissions",
                                         code="hashbank_folder_unusable") from None
            started = time.monotonic()
            if self._load_newest():
                self._catch_up(None)
            else:
                self._catch_up(self._build())
            self._remove_temporaries()
            self._opened = True
        log.info("hash index open", kind=self.kind, entries=len(self._index), seq=self._seq,
                 loaded_from=str(self._loaded_from) if self._loaded_from else None,
                 seconds=round(time.monotonic() - started, 3))

    def refresh(self) -> int:
        """Apply the changes of the log after :attr:`seq`, in pages; returns how many were read (changes of
        other kinds included)."""
        self._require_open()
        with self._refresh_lock:
            return self._catch_up(None)

    def search(self, codes: npt.ArrayLike, radius: int | None = None) -> Matches:
        """Every active entry within Hamming distance ``radius`` (the kind's match threshold by default: 31 for
        PDQ) of each query, ``codes`` being (q, 32) uint8; the ids of the answer are entry rows."""
        self._require_open()
        return self._index.search(codes, self._radius if radius is None else radius)

    def stats(self) -> MatcherStats:
        """Counts, memory and the log position of the index now."""
        return MatcherStats(kind=self.kind, seq=self._seq, saved_seq=self._saved_seq,
                            loaded_from=self._loaded_from, merging=self._merging, index=self._index.stats())

    def merge_and_save(self) -> Path:
        """Merge the delta segment into the main one, save the index as of the change applied last and remove
        the older files; returns the file written. Refreshes and searches go on meanwhile."""
        self._require_open()
        with self._merge_lock:
            self._merging = True
            try:
                index = self._index
                index.merge()
                with self._lock:
                    snapshot, seq, chain = index.snapshot(), self._seq, self._chain
                path = self._folder / f"{self.kind}-{seq:016d}-{chain[:16]}.idx"
                snapshot.save(path)
                self._saved_seq = seq
                self._remove_older(seq)
            finally:
                self._merging = False
        return path

    async def run(self, stop: asyncio.Event, *, interval: float = 0.2, idle: float = 10.0) -> None:
        """Follow the log every ``interval`` seconds until ``stop`` is set (opening the matcher first if needed).

        A merge and save starts in a background thread when the delta segment is large (see :data:`MERGE_MIN`),
        or when no change has come for ``idle`` seconds and the delta is not empty or the saved file is behind.
        Failures are logged and retried after :data:`RETRY_AFTER` seconds. When stopped, a merge under way is
        waited for.
        """
        if not self._opened:
            await asyncio.to_thread(self.open)
        loop = asyncio.get_running_loop()
        merging: asyncio.Future[bool] | None = None
        last_change = loop.time()
        merge_after = 0.0
        while not stop.is_set():
            wait = interval
            try:
                if await asyncio.to_thread(self.refresh):
                    last_change = loop.time()
            except Exception:  # the loop must survive a database outage: it tries again
                log.exception("could not follow the hash bank's change log", kind=self.kind, retry_in=RETRY_AFTER)
                wait = RETRY_AFTER
            if merging is not None and merging.done():
                if not merging.result():
                    merge_after = loop.time() + RETRY_AFTER
                merging = None
            if (merging is None and loop.time() >= merge_after
                    and self._merge_due(idle=loop.time() - last_change >= idle)):
                merging = asyncio.ensure_future(asyncio.to_thread(self._merge_logged))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
        if merging is not None:
            await merging

    def _require_open(self) -> None:
        if not self._opened:
            raise Conflict(f"the {self.kind} hash matcher is not open yet", hint="call open() before using it "
                           "(the node does at start-up)", code="hashbank_matcher_closed")

    def _merge_due(self, *, idle: bool) -> bool:
        stats = self._index.stats()
        pending = stats.delta_entries + stats.delta_withdrawn + stats.main_withdrawn
        if pending > max(MERGE_MIN, stats.main_rows // 16):
            return True
        return idle and (pending > 0 or self._seq != self._saved_seq)

    def _merge_logged(self) -> bool:
        """:meth:`merge_and_save` for the background: False, and the failure logged, if it fails."""
        try:
            self.merge_and_save()
        except Exception:  # a full disk must not stop the matcher: searches stay exact, the save is retried
            log.exception("could not merge and save the hash index", kind=self.kind, folder=str(self._folder),
                          retry_in=RETRY_AFTER)
            return False
        return True

    def _saved_files(self) -> list[tuple[int, str | None, Path]]:
        """``(seq, chain16, path)`` of this kind's index files in the folder, newest first; ``chain16`` is None
        for a file named by ``seq`` alone."""
        found = []
        for path in self._folder.glob(f"{self.kind}-*.idx"):
            match = self._file_name.fullmatch(path.name)
            if match:
                found.append((int(match[1]), match[2], path))
        return sorted(found, key=lambda file: (file[0], file[1] or ""), reverse=True)

    def _load_newest(self) -> bool:
        """Load the newest usable file; False if there is none."""
        head = self._head()
        for seq, chain16, path in self._saved_files():
            if chain16 is None:
                log.warning("hash index file is named without the log's chain value, so the log it reflects "
                            "cannot be checked: removing it", path=str(path), file_seq=seq)
                self._remove(path)
                continue
            if seq > head:
                # Another process following the log may have saved since the head was read: the change a file
                # reflects was committed before the file was written, so a fresh reading includes it.
                head = self._head()
            if seq > head:
                # Removed, not skipped: it reflects changes this database does not have, and it is as large as
                # the index.
                log.warning("hash index file is ahead of the database's change log, which was restored from an "
                            "older backup: removing it", path=str(path), file_seq=seq, log_seq=head)
                self._remove(path)
                continue
            chain = self._chain_at(seq)
            if chain is None or chain[:16] != chain16:
                # Removed, not skipped: it can never become usable, and it is as large as the index.
                log.warning("hash index file reflects another history of the change log (the database was "
                            "restored from an older backup): removing it", path=str(path), file_seq=seq,
                            file_chain=chain16, log_chain=chain[:16] if chain else None)
                self._remove(path)
                continue
            try:
                index = HashIndex.load(path)
            except (HanoinetError, OSError) as exc:
                log.warning("hash index file cannot be used; trying an older one", path=str(path),
                            reason=exc.code if isinstance(exc, HanoinetError) else type(exc).__name__, error=str(exc))
                continue
            self._index, self._seq, self._chain, self._saved_seq, self._loaded_from = index, seq, chain, seq, path
            return True
        return False

    def _head(self) -> int:
        with self._db.transaction(readonly=True) as uow:
            return bank.head(uow.session)[0]

    def _chain_at(self, seq: int) -> str | None:
        with self._db.transaction(readonly=True) as uow:
            return bank.chain_at(uow.session, seq)

    def _build(self) -> _U64:
        """Index the active entries from the database as of the log's head; returns the rows read, sorted."""
        rows: list[_U64] = []
        codes: list[_Codes] = []
        with self._db.transaction(readonly=True) as uow:
            # In the same transaction as the first page: on SQLite, one snapshot of the database.
            head, chain = bank.head(uow.session)
            page = bank.active_codes(uow.session, self.kind, 0, BUILD_PAGE)
        while page:
            page_rows, page_codes = _decode(page)
            rows.append(page_rows)
            codes.append(page_codes)
            with self._db.transaction(readonly=True) as uow:
                page = bank.active_codes(uow.session, self.kind, page[-1][0], BUILD_PAGE)
        built_rows = np.concatenate([np.empty(0, dtype=np.uint64), *rows])
        index = HashIndex()
        index.add(built_rows, np.concatenate([np.empty((0, CODE_BYTES), dtype=np.uint8), *codes]))
        index.merge()
        self._index, self._seq, self._chain, self._saved_seq, self._loaded_from = index, head, chain, None, None
        return built_rows

    def _catch_up(self, built_rows: _U64 | None) -> int:
        """Apply every change after ``seq``; additions of ``built_rows`` (sorted) are already in the index."""
        read = 0
        while True:
            with self._db.transaction(readonly=True) as uow:
                changes = bank.index_changes_after(uow.session, self._seq, CHANGE_PAGE)
            if not changes:
                return read
            self._apply(changes, built_rows)
            read += len(changes)

    def _apply(self, changes: Sequence[bank.IndexChange], built_rows: _U64 | None) -> None:
        # Additions and withdrawals of one page commute: an entry is added once, before its withdrawal, and an
        # addition read after the withdrawal is skipped.
        mine = [c for c in changes if c.kind == self.kind]
        rows, codes = _decode([(c.row, c.hash) for c in mine
                               if c.op == "add" and c.status == "active" and c.hash is not None])
        if built_rows is not None and built_rows.size:
            positions = np.minimum(np.searchsorted(built_rows, rows), built_rows.size - 1)
            fresh = built_rows[positions] != rows
            rows, codes = rows[fresh], codes[fresh]
        gone = np.asarray([c.row for c in mine if c.op == "withdraw"], dtype=np.uint64)
        with self._lock:
            if rows.size:
                self._index.add(rows, codes)
            if gone.size:
                self._index.withdraw(gone)
            self._seq, self._chain = changes[-1].seq, changes[-1].chain

    def _remove_older(self, seq: int) -> None:
        """Remove this kind's index files older than ``seq`` and the temporaries of interrupted saves."""
        for older, _, path in self._saved_files():
            if older < seq:
                self._remove(path)
        self._remove_temporaries()

    def _remove_temporaries(self) -> None:
        # Left by saves that were killed, each as large as the index.
        stale = time.time() - STALE_TEMPORARY
        for path in self._folder.glob(f".{self.kind}-*.tmp"):
            with contextlib.suppress(FileNotFoundError):  # renamed or removed by its process meanwhile
                if path.stat().st_mtime < stale:
                    self._remove(path)

    @staticmethod
    def _remove(path: Path) -> None:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not remove an old hash index file", path=str(path), error=exc.strerror)


def _decode(entries: Sequence[tuple[int, str]]) -> tuple[_U64, _Codes]:
    """Rows and (n, 32) codes of ``(row, hexadecimal hash)`` pairs. An entry whose stored hash is not 64
    hexadecimal digits (only a damaged database holds one) cannot match anything: it is left out, with an error
    logged."""
    rows = np.fromiter((row for row, _ in entries), dtype=np.uint64, count=len(entries))
    hashes = [text for _, text in entries]
    # One conversion for the whole page: parsing hashes one by one would dominate building a large index. The
    # length checks matter: fromhex skips whitespace, which would shift every code after it.
    try:
        raw = bytes.fromhex("".join(hashes))
    except ValueError:
        raw = b""
    if len(raw) != CODE_BYTES * len(hashes) or not all(len(text) == 2 * CODE_BYTES for text in hashes):
        usable = [position for position, text in enumerate(hashes) if _HEX_CODE.fullmatch(text)]
        for position in sorted(set(range(len(hashes))).difference(usable)):
            log.error("hash bank entry holds a malformed hash and cannot be matched", row=int(rows[position]))
        rows, raw = rows[usable], bytes.fromhex("".join(hashes[position] for position in usable))
    return rows, np.frombuffer(raw, dtype=np.uint8).reshape(-1, CODE_BYTES)
