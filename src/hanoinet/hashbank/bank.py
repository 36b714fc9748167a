"""The hash bank held by this node: entries, the ordered change log, and reading it (docs/hashbank.md).

Every node holds the whole network's bank. An entry is added or withdrawn only by its origin State; other
nodes apply what the origin sends them (:mod:`hanoinet.hashbank.replication`). Every change, local or
received, gets the next number in this node's change log (``seq``) under one lock, so the matcher and the
platforms' feeds follow the log in order and never miss a change that commits late.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hanoinet.clock import format_instant, now, parse_instant
from hanoinet.crypto.canonical import canonical_json
from hanoinet.db.models import HashBankState, HashChange, HashEntry
from hanoinet.errors import Conflict, Forbidden, NotFound, ValidationError
from hanoinet.hashbank import kinds
from hanoinet.ids import is_uuid7, uuid7
from hanoinet.node import audit

#: Articles whose content the bank holds, with the words a person reads.
CATEGORIES: dict[str, str] = {
    "art14": "child sexual abuse material (Art. 14)",
    "art16": "intimate images shared without consent (Art. 16)",
}
Category = Literal["art14", "art16"]

#: How many entries one call may add or withdraw: bounds the transaction and the envelopes it produces.
MAX_BATCH = 10_000
#: The chain value before the first change.
GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class NewHash:
    """A hash to add: its kind, text, quality and category (validated by :func:`add`)."""

    hash: str
    quality: int | str
    category: str
    kind: str = "pdq"


@dataclass(frozen=True, slots=True)
class Entry:
    """A bank entry as the node shows it. ``hash`` is None for a withdrawal received before its addition."""

    row: int
    entry_id: str
    kind: str
    hash: str | None
    quality: int | None
    category: str | None
    origin: str
    submitted_at: datetime | None
    status: str
    withdrawn_at: datetime | None

    @classmethod
    def of(cls, row: HashEntry) -> Entry:
        """The view of a stored row."""
        return cls(row=row.id, entry_id=row.entry_id, kind=row.kind, hash=row.hash, quality=row.quality,
                   category=row.category, origin=row.origin, submitted_at=row.submitted_at, status=row.status,
                   withdrawn_at=row.withdrawn_at)

    def as_json(self, *, with_hash: bool) -> dict[str, Any]:
        """JSON for an operator or a platform; the hash only with ``with_hash``."""
        view: dict[str, Any] = {
            "id": self.entry_id, "kind": self.kind, "category": self.category, "origin": self.origin,
            "quality": self.quality, "status": self.status,
            "submitted_at": format_instant(self.submitted_at) if self.submitted_at else None,
            "withdrawn_at": format_instant(self.withdrawn_at) if self.withdrawn_at else None,
        }
        if with_hash:
            view["hash"] = self.hash
        return view


@dataclass(frozen=True, slots=True)
class Change:
    """One change of the log, with the entry it concerns as it is now."""

    seq: int
    op: str
    at: datetime
    chain: str
    entry: Entry


class IndexChange(NamedTuple):
    """One change of the log with only what an index of the bank needs: the entry's row, kind, hash and status
    as they are now (see :func:`index_changes_after`)."""

    seq: int
    op: str
    chain: str
    row: int
    kind: str
    hash: str | None
    status: str


def check_category(value: object) -> str:
    """``art14`` or ``art16``; ``bad_category`` otherwise."""
    if value not in CATEGORIES:
        raise ValidationError(f"category {value!r} is not one the bank holds",
                              hint="art14: " + CATEGORIES["art14"] + "; art16: " + CATEGORIES["art16"],
                              code="bad_category")
    return str(value)


def check_entry_id(value: object) -> str:
    """An entry identifier (a lower-case UUIDv7); ``bad_entry_id`` otherwise."""
    if not is_uuid7(value):
        raise ValidationError(f"{value!r} is not a hash bank entry id",
                              hint="entry ids look like 0193a1b2-...: copy them from `hanoinet hashes list`",
                              code="bad_entry_id")
    return str(value)


def normalise(item: NewHash) -> tuple[str, str, int, str]:
    """``(kind, hash, quality, category)`` checked at the boundary: the hash in lower-case hexadecimal."""
    kind = kinds.get(item.kind)
    return kind.name, kind.format(kind.parse(item.hash)), kind.require_quality(item.quality), \
        check_category(item.category)


# -- writing -----------------------------------------------------------------------------------------------


def add(session: Session, origin: str, items: Sequence[NewHash], *, actor: str) -> list[Entry]:
    """Add this node's own entries (``origin`` is its State); returns them with their new ids.

    Every item is checked before anything is written: one bad hash refuses the whole call, naming its position.
    """
    if not items:
        raise ValidationError("no hashes to add", hint="give at least one hash", code="bad_hash")
    if len(items) > MAX_BATCH:
        raise ValidationError(f"{len(items)} hashes in one call; at most {MAX_BATCH}",
                              hint="split the list into several calls", code="too_many_hashes")
    checked = []
    for position, item in enumerate(items, start=1):
        try:
            checked.append(normalise(item))
        except ValidationError as exc:
            raise ValidationError(f"hash {position}: {exc.message}", hint=exc.hint, code=exc.code) from None
    t = now()
    rows = [HashEntry(entry_id=uuid7(), kind=kind, hash=code, quality=quality, category=category, origin=origin,
                      submitted_at=t, status="active", recorded_at=t)
            for kind, code, quality, category in checked]
    session.add_all(rows)
    session.flush()
    _log(session, [(row, "add") for row in rows], t)
    audit.record(session, actor=actor, action="hashbank.add", target=rows[0].entry_id,
                 detail={"entries": len(rows), "categories": sorted({r.category or "" for r in rows})})
    return [Entry.of(row) for row in rows]


def withdraw(session: Session, origin: str, entry_ids: Sequence[str], *, actor: str) -> list[Entry]:
    """Withdraw this node's own entries: they never match again here, and every peer is told.

    Entries already withdrawn are returned unchanged (withdrawing is idempotent); an unknown id or another
    State's entry refuses the whole call.
    """
    if not entry_ids:
        raise ValidationError("no entries to withdraw", hint="give at least one entry id", code="bad_entry_id")
    if len(entry_ids) > MAX_BATCH:
        raise ValidationError(f"{len(entry_ids)} entries in one call; at most {MAX_BATCH}",
                              hint="split the list into several calls", code="too_many_hashes")
    wanted = [check_entry_id(value) for value in entry_ids]
    # Locked, so that two concurrent withdrawals of one entry log it once.
    rows = list(session.scalars(select(HashEntry).where(HashEntry.entry_id.in_(wanted)).with_for_update()))
    found = {row.entry_id: row for row in rows if row.origin == origin}
    others = {row.entry_id: row.origin for row in rows if row.origin != origin}
    for entry_id in wanted:
        if entry_id in found:
            continue
        if entry_id in others:
            raise Forbidden(f"entry {entry_id} was added by {others[entry_id]}; only its origin State can withdraw "
                            "it", hint=f"ask {others[entry_id]}'s node to withdraw it", code="not_origin")
        raise NotFound(f"no hash bank entry {entry_id}", hint="list entries with `hanoinet hashes list`",
                       code="entry_not_found")
    t = now()
    changed = [row for row in dict.fromkeys(found[e] for e in wanted) if row.status == "active"]
    for row in changed:
        row.status, row.withdrawn_at = "withdrawn", t
    _log(session, [(row, "withdraw") for row in changed], t)
    if changed:
        audit.record(session, actor=actor, action="hashbank.withdraw", target=changed[0].entry_id,
                     detail={"entries": len(changed)})
    return [Entry.of(found[e]) for e in dict.fromkeys(wanted)]


def apply_received(session: Session, origin: str, changes: Iterable[dict[str, Any]]) -> tuple[int, int]:
    """Apply changes sent by ``origin``'s node (already validated against the message schema).

    An entry is identified by its origin and its id: a change from ``origin`` only ever concerns ``origin``'s
    entries, so no member can add under, withdraw or pre-empt another's id. Additions and withdrawals commute
    and repeat harmlessly, so envelopes may arrive in any order or twice. An addition under an id another
    origin already used for an entry is applied and raises an alarm (ids are random: only a misbehaving node
    repeats one). Returns (added, withdrawn).
    """
    changes = list(changes)
    ids = [c["id"] for c in changes]
    rows = list(session.scalars(select(HashEntry).where(HashEntry.entry_id.in_(ids))))
    held = {row.entry_id: row for row in rows if row.origin == origin}
    reused = {row.entry_id: row.origin for row in rows if row.origin != origin and row.hash is not None}
    t = now()
    logged: list[tuple[HashEntry, str]] = []
    for change in changes:
        row = held.get(change["id"])
        if change["op"] == "add":
            if row is not None:
                continue  # already held, or withdrawn before its addition arrived
            if change["id"] in reused:
                audit.alarm(session, code="hashbank_id_reused",
                            message=f"{origin} added hash bank entry {change['id']}, an id {reused[change['id']]} "
                            "already uses; both are kept, each under its origin",
                            detail={"entry": change["id"], "from": origin, "first": reused[change["id"]]})
            row = HashEntry(entry_id=change["id"], kind=change["kind"], hash=change["hash"],
                            quality=change["quality"], category=change["category"], origin=origin,
                            submitted_at=parse_instant(change["submitted_at"], field="submitted_at"), status="active",
                            recorded_at=t)
            session.add(row)
            held[row.entry_id] = row
            logged.append((row, "add"))
        elif row is None:
            # The addition has not arrived (or never will): keep the withdrawal so it cannot be added later.
            row = HashEntry(entry_id=change["id"], kind=change["kind"], origin=origin, status="withdrawn",
                            withdrawn_at=parse_instant(change["withdrawn_at"], field="withdrawn_at"), recorded_at=t)
            session.add(row)
            held[row.entry_id] = row
        elif row.status == "active":
            row.status, row.withdrawn_at = "withdrawn", parse_instant(change["withdrawn_at"], field="withdrawn_at")
            logged.append((row, "withdraw"))
    session.flush()
    _log(session, logged, t)
    return sum(op == "add" for _, op in logged), sum(op == "withdraw" for _, op in logged)


def _log(session: Session, changes: list[tuple[HashEntry, str]], at: datetime) -> None:
    """Number the changes after the log's head and chain them, holding the head's row lock until commit."""
    if not changes:
        return
    head = session.scalars(select(HashBankState).where(HashBankState.id == 1).with_for_update()).one()
    seq, chain = head.last_seq, head.chain
    for row, op in changes:
        seq += 1
        chain = chain_next(chain, seq, op, row.entry_id)
        session.add(HashChange(seq=seq, entry_row=row.id, op=op, at=at, chain=chain))
    head.last_seq, head.chain = seq, chain


def chain_next(previous: str, seq: int, op: str, entry_id: str) -> str:
    """The chain value after change ``seq``: SHA-256 of the previous value and the change (docs/hashbank.md)."""
    record = canonical_json({"entry": entry_id, "op": op, "seq": seq})
    return hashlib.sha256(bytes.fromhex(previous) + record).hexdigest()


# -- reading -----------------------------------------------------------------------------------------------


def head(session: Session) -> tuple[int, str]:
    """The log's last ``seq`` and chain value."""
    state = session.get(HashBankState, 1)
    if state is None:
        raise Conflict("the hash bank has no change log head", hint="run the database migrations",
                       code="hashbank_uninitialised")
    return state.last_seq, state.chain


def changes_after(session: Session, seq: int, limit: int) -> list[Change]:
    """Up to ``limit`` changes with a number above ``seq``, in order, each with its entry as it is now."""
    rows = session.execute(
        select(HashChange, HashEntry).join(HashEntry, HashEntry.id == HashChange.entry_row)
        .where(HashChange.seq > seq).order_by(HashChange.seq).limit(limit)
    ).all()
    return [Change(seq=c.seq, op=c.op, at=c.at, chain=c.chain, entry=Entry.of(e)) for c, e in rows]


def index_changes_after(session: Session, seq: int, limit: int) -> list[IndexChange]:
    """Up to ``limit`` changes with a number above ``seq``, in order, as :func:`changes_after` reads them but with
    only the columns an index uses, in plain tuples: a matcher catching up reads the whole log, which costs about
    ten times as much on SQLite when loaded as full rows."""
    rows = session.execute(
        select(HashChange.seq, HashChange.op, HashChange.chain, HashChange.entry_row, HashEntry.kind,
               HashEntry.hash, HashEntry.status)
        .join(HashEntry, HashEntry.id == HashChange.entry_row)
        .where(HashChange.seq > seq).order_by(HashChange.seq).limit(limit)
    )
    return [IndexChange(*row) for row in rows]


def chain_at(session: Session, seq: int) -> str | None:
    """The chain value after change ``seq`` (the genesis value at 0), or None if there is no such change."""
    if seq == 0:
        return GENESIS
    return session.scalar(select(HashChange.chain).where(HashChange.seq == seq))


def get(session: Session, entry_id: str) -> Entry:
    """One entry by id; ``entry_not_found`` otherwise. Should a misbehaving origin have reused another's id, the
    entry recorded first is the one meant (the one a match answered first, on this node)."""
    row = session.scalar(select(HashEntry).where(HashEntry.entry_id == check_entry_id(entry_id),
                                                 HashEntry.hash.is_not(None)).order_by(HashEntry.id).limit(1))
    if row is None:
        raise NotFound(f"no hash bank entry {entry_id}", hint="list entries with `hanoinet hashes list`",
                       code="entry_not_found")
    return Entry.of(row)


def by_rows(session: Session, rows: Iterable[int]) -> dict[int, Entry]:
    """Entries by their row numbers (what the matcher answers)."""
    wanted = sorted(set(rows))
    found: dict[int, Entry] = {}
    for start in range(0, len(wanted), 5_000):
        chunk = wanted[start:start + 5_000]
        found.update((r.id, Entry.of(r)) for r in session.scalars(select(HashEntry).where(HashEntry.id.in_(chunk))))
    return found


def entries(session: Session, *, origin: str | None = None, status: str | None = None,
            category: str | None = None, after: int = 0, limit: int = 100) -> list[Entry]:
    """Entries in the order this node recorded them, filtered; ``after`` is a row number to page from."""
    query = select(HashEntry).where(HashEntry.id > after, HashEntry.hash.is_not(None))
    if origin is not None:
        query = query.where(HashEntry.origin == origin)
    if status is not None:
        query = query.where(HashEntry.status == status)
    if category is not None:
        query = query.where(HashEntry.category == check_category(category))
    return [Entry.of(r) for r in session.scalars(query.order_by(HashEntry.id).limit(limit))]


def active_codes(session: Session, kind: str, after: int, limit: int) -> list[tuple[int, str]]:
    """``(row, hash)`` of active entries of ``kind`` with a row number above ``after``: building an index."""
    return [(r, str(h)) for r, h in session.execute(
        select(HashEntry.id, HashEntry.hash).where(HashEntry.id > after, HashEntry.kind == kind,
                                                   HashEntry.status == "active", HashEntry.hash.is_not(None))
        .order_by(HashEntry.id).limit(limit)).all()]


def statistics(session: Session) -> dict[str, Any]:
    """Counts by status, origin and category, and the log's head: what `hanoinet hashes stats` prints."""
    counts = session.execute(
        select(HashEntry.origin, HashEntry.category, HashEntry.status, func.count())
        .where(HashEntry.hash.is_not(None))
        .group_by(HashEntry.origin, HashEntry.category, HashEntry.status)).all()
    by_origin: dict[str, dict[str, int]] = {}
    totals = {"active": 0, "withdrawn": 0}
    by_category = {name: 0 for name in CATEGORIES}
    for origin, category, status, count in counts:
        by_origin.setdefault(origin, {"active": 0, "withdrawn": 0})[status] += count
        totals[status] += count
        if status == "active" and category in by_category:
            by_category[category] += count
    seq, chain = head(session)
    return {"active": totals["active"], "withdrawn": totals["withdrawn"], "active_by_category": by_category,
            "by_origin": dict(sorted(by_origin.items())), "log": {"seq": seq, "chain": chain}}
