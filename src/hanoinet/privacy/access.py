"""The access log: every read of personal data by an officer (who, when, which item, why, how), append-only.

What counts as a read (docs/privacy.md, "Access log"): one request's full view, whose fields name persons
(Art. 40: "identity, location and nationality of any person concerned"), and the content of evidence files,
written out in a package (sealed here, or received from another State). Lists show summaries and are not
logged. Every read needs a reason (:mod:`hanoinet.privacy.reasons`), and every query of the log is itself a read.

- :func:`record` adds a read inside the caller's transaction, as the custody log takes its events
  (``hanoinet.ledger.log.record_many``): the row exists if and only if the caller's transaction commits.
- :func:`query` answers an auditor: by officer, item, case and time range, newest first, a page at a time.
- The database refuses UPDATE and DELETE of a row (triggers, migration 0013). Behind that, each row carries
  a digest: SHA-256 over the previous row's digest and the row's canonical JSON (RFC 8785). :func:`check_chain`
  finds a row removed, inserted or changed by someone who went around the triggers; only an anchor kept
  elsewhere (a digest an auditor wrote down) also shows the newest rows removed, or the whole chain rewritten.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, insert, select
from sqlalchemy import text as sql
from sqlalchemy.orm import Session

from hanoinet.clock import format_instant, now
from hanoinet.crypto.canonical import canonical_json
from hanoinet.db.models import AccessRecord, EvidenceOffer, EvidenceOfferFile
from hanoinet.errors import ValidationError
from hanoinet.node.officers import Principal

#: The ``previous`` of the first row.
GENESIS = "0" * 64
#: A page of the log: at most this many rows.
MAX_PAGE = 1000

_TABLE = cast(Table, AccessRecord.__table__)


class ItemKind(StrEnum):
    """What was read."""

    REQUEST = "request"  # one request's full view; the item is its reference
    EVIDENCE_FILE = "evidence_file"  # an evidence file's content; the item is the file's id
    ACCESS_LOG = "access_log"  # a query of this log; the item is the query's filters
    CASE = "case"  # one case's view: its requests, evidence, packages, custody, consents; the item is the case


class Item(NamedTuple):
    """An item read: its kind, its reference (a request's, an evidence file's id), and its case if it has one."""

    kind: ItemKind
    ref: str
    case: str | None


def received_files(session: Session, package_id: str) -> list[Item]:
    """The evidence files of a package received from another State, which writing the package out reads."""
    rows = session.execute(
        select(EvidenceOfferFile.file_id, EvidenceOffer.case_ref)
        .join(EvidenceOffer, (EvidenceOffer.id == EvidenceOfferFile.offer_id)
              & (EvidenceOffer.direction == EvidenceOfferFile.direction))
        .where(EvidenceOfferFile.offer_id == package_id, EvidenceOfferFile.direction == "in")
        .order_by(EvidenceOfferFile.position))
    return [Item(ItemKind.EVIDENCE_FILE, file_id, case) for file_id, case in rows if file_id is not None]


def actor_of(officer: str) -> str:
    """The actor an auditor names: an officer's id (``3``) is ``officer:3``; an actor stays as given."""
    return f"officer:{officer}" if officer.isdigit() else officer


@dataclass(frozen=True, slots=True)
class Reader:
    """Who reads: an officer (``officer:ID``), or the node's operator at its machine (``operator:LOGIN``)."""

    officer_id: int | None
    actor: str
    name: str

    @classmethod
    def of(cls, principal: Principal) -> Reader:
        """The officer behind an API request."""
        return cls(officer_id=principal.id, actor=principal.actor, name=principal.name)

    @classmethod
    def operator(cls, actor: str) -> Reader:
        """Someone working on the node's data directory, named as the custody log names them."""
        return cls(officer_id=None, actor=actor, name=actor)


@dataclass(frozen=True, slots=True)
class Read:
    """One read to record: who, which item (of which case), why, and through which route or command."""

    reader: Reader
    kind: ItemKind
    item: str
    case: str | None
    reason: str
    via: str


@dataclass(frozen=True, slots=True)
class AccessEntry:
    """A row of the access log, as recorded."""

    seq: int
    at: datetime
    officer_id: int | None
    actor: str
    name: str
    kind: str
    item: str
    case: str | None
    reason: str
    via: str
    previous: str
    digest: str

    def body(self) -> dict[str, Any]:
        """What the digest covers, with the previous digest: every member but the digests."""
        return {"seq": self.seq, "at": format_instant(self.at), "officer_id": self.officer_id, "actor": self.actor,
                "name": self.name, "kind": self.kind, "item": self.item, "case": self.case, "reason": self.reason,
                "via": self.via}

    def as_json(self) -> dict[str, Any]:
        """The row as the API answers it."""
        return {**self.body(), "previous": self.previous, "digest": self.digest}

    @classmethod
    def of_row(cls, row: AccessRecord) -> AccessEntry:
        """The entry a stored row holds."""
        return cls(seq=row.seq, at=row.at, officer_id=row.officer_id, actor=row.actor, name=row.name,
                   kind=row.item_kind, item=row.item_ref, case=row.case_ref, reason=row.reason, via=row.via,
                   previous=row.previous, digest=row.digest)


def digest_of(previous: str, body: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the previous row's digest (32 bytes) followed by ``body`` as canonical JSON."""
    return hashlib.sha256(bytes.fromhex(previous) + canonical_json(dict(body))).hexdigest()


def record(session: Session, read: Read) -> AccessEntry:
    """Add ``read`` to the log in the caller's transaction (see :func:`record_many`)."""
    return record_many(session, (read,))[0]


def record_many(session: Session, reads: Iterable[Read]) -> list[AccessEntry]:
    """Add ``reads``, in this order, in the caller's transaction: the rows exist if and only if it commits.

    The rows are chained after the newest one. On PostgreSQL the table is locked against other writers until
    the transaction ends, so that two transactions never chain after the same row; on SQLite every writing
    transaction already holds the database's one write lock (``BEGIN IMMEDIATE``, hanoinet.db.database).
    """
    reads = list(reads)
    if not reads:
        return []
    connection = session.connection()
    if connection.get_execution_options().get("hanoinet_readonly", False):
        raise RuntimeError("a read is recorded in a writing transaction, not a read-only one")
    if connection.dialect.name == "postgresql":
        # EXCLUSIVE: other writers wait, readers (an auditor's query) do not.
        session.execute(sql("LOCK TABLE access_log IN EXCLUSIVE MODE"))
    newest = session.execute(select(AccessRecord.seq, AccessRecord.digest)
                             .order_by(AccessRecord.seq.desc()).limit(1)).first()
    entries = chained(reads, after=(newest.seq, newest.digest) if newest is not None else (0, GENESIS), at=now())
    session.execute(insert(_TABLE), [
        {"seq": e.seq, "at": e.at, "officer_id": e.officer_id, "actor": e.actor, "name": e.name,
         "item_kind": e.kind, "item_ref": e.item, "case_ref": e.case, "reason": e.reason, "via": e.via,
         "previous": e.previous, "digest": e.digest} for e in entries])
    return entries


@dataclass(frozen=True, slots=True)
class Page:
    """Rows of the log, newest first; ``before``: what to pass for the next (older) page, None at the end."""

    entries: list[AccessEntry]
    before: int | None

    def as_json(self) -> dict[str, Any]:
        """The page as the API answers it."""
        return {"entries": [e.as_json() for e in self.entries], "before": self.before}


def query(session: Session, *, actor: str | None = None, kind: ItemKind | None = None, item: str | None = None,
          case: str | None = None, since: datetime | None = None, until: datetime | None = None,
          before: int | None = None, limit: int = 100) -> Page:
    """Rows matching every filter given, newest first, at most ``limit`` (1 to :data:`MAX_PAGE`).

    ``since`` is inclusive, ``until`` exclusive; ``before``: only rows older than that row (``seq``), to page on.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit {limit} is not between 1 and {MAX_PAGE}", hint="ask for a smaller page")
    wanted = select(AccessRecord)
    for column, value in ((AccessRecord.actor, actor), (AccessRecord.item_kind, kind and kind.value),
                          (AccessRecord.item_ref, item), (AccessRecord.case_ref, case)):
        if value is not None:
            wanted = wanted.where(column == value)
    if since is not None:
        wanted = wanted.where(AccessRecord.at >= since)
    if until is not None:
        wanted = wanted.where(AccessRecord.at < until)
    if before is not None:
        wanted = wanted.where(AccessRecord.seq < before)
    rows = list(session.scalars(wanted.order_by(AccessRecord.seq.desc()).limit(limit + 1)))
    entries = [AccessEntry.of_row(r) for r in rows[:limit]]
    return Page(entries=entries, before=entries[-1].seq if len(rows) > limit else None)


@dataclass(frozen=True, slots=True)
class Break:
    """Where the chain does not hold, and what that means."""

    seq: int
    problem: str


@dataclass(frozen=True, slots=True)
class ChainReport:
    """What :func:`check_chain` found: how many rows, the newest digest, every break, and the anchor's fate."""

    rows: int
    head: str
    breaks: tuple[Break, ...]
    #: None when no anchor was given; else whether a row with that digest is in the chain.
    anchored: bool | None

    @property
    def intact(self) -> bool:
        """No break, and the anchor, if one was given, found."""
        return not self.breaks and self.anchored is not False

    def as_json(self) -> dict[str, Any]:
        """The report as the API answers it."""
        return {"intact": self.intact, "rows": self.rows, "head": self.head, "anchored": self.anchored,
                "breaks": [{"seq": b.seq, "problem": b.problem} for b in self.breaks]}


def check_chain(entries: Iterable[AccessEntry], *, anchor: str | None = None) -> ChainReport:
    """Check the log's rows, oldest first: numbered 1, 2, 3 ..., each following the one before, each unchanged.

    ``anchor``: a digest an auditor recorded earlier; if no row has it, the rows from it on were removed (or the
    chain was rebuilt), which the chain alone cannot show.
    """
    breaks: list[Break] = []
    expected_seq, previous, count, anchored = 1, GENESIS, 0, False
    for entry in entries:
        count += 1
        if entry.seq != expected_seq:
            breaks.append(Break(entry.seq, f"rows {expected_seq} to {entry.seq - 1} are missing"
                                if entry.seq > expected_seq else f"row {entry.seq} is out of order"))
        elif entry.previous != previous:
            breaks.append(Break(entry.seq, "does not follow the row before it: that row was changed or replaced"))
        if _digest_or_none(entry) != entry.digest:
            breaks.append(Break(entry.seq, "its content does not match its digest: it was changed"))
        anchored = anchored or entry.digest == anchor
        expected_seq, previous = entry.seq + 1, entry.digest
    return ChainReport(rows=count, head=previous, breaks=tuple(breaks),
                       anchored=None if anchor is None else anchored)


def chained(reads: Iterable[Read], *, after: tuple[int, str], at: datetime) -> list[AccessEntry]:
    """The entries of ``reads`` at ``at``, chained after the row numbered and digested ``after``: (0, GENESIS)
    for the first rows of a log."""
    seq, previous = after
    entries = []
    for read in reads:
        seq += 1
        unsealed = AccessEntry(seq=seq, at=at, officer_id=read.reader.officer_id, actor=read.reader.actor,
                               name=read.reader.name, kind=read.kind.value, item=read.item, case=read.case,
                               reason=read.reason, via=read.via, previous=previous, digest="")
        previous = digest_of(previous, unsealed.body())
        entries.append(replace(unsealed, digest=previous))
    return entries


def _digest_or_none(entry: AccessEntry) -> str | None:
    try:
        return digest_of(entry.previous, entry.body())
    except ValueError:  # a previous digest that is not hex, or text canonical JSON refuses: changed by hand
        return None


def verify(session: Session, *, anchor: str | None = None) -> ChainReport:
    """:func:`check_chain` over every row of the log, read a thousand at a time."""
    return check_chain(_oldest_first(session), anchor=anchor)


def _oldest_first(session: Session) -> Iterator[AccessEntry]:
    for row in session.scalars(select(AccessRecord).order_by(AccessRecord.seq).execution_options(yield_per=1000)):
        yield AccessEntry.of_row(row)
