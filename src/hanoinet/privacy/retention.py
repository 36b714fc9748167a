"""Retention of evidence, enforced: when a file's period ends it is shredded (docs/privacy.md, "Retention").

Art. 36 of the Convention lets the sending State attach conditions to the personal data it transfers; a
retention period is one. The sending State sets it as ``retain_until`` in the signed use conditions of the
package it sends; the receiving State may set a shorter domestic period per file or per case, never a longer
one. A file's retention ends at the earlier of the two ends.

The pure core is :func:`end_of` and :func:`due`: which files are to be shredded at an instant. The node's
retention job (:func:`run_retention`, in every ``hanoinet serve`` process) shreds them with the node's
crypto-shredding, the ``shredded`` custody record naming the period that ended and who set it, in the same
transaction. It looks only at what the database holds, so a node stopped before an end and started after it
shreds the same files, once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import select

from hanoinet.clock import format_instant, now, show_instant
from hanoinet.db.models import EvidenceFile
from hanoinet.errors import Conflict, NotFound, ValidationError
from hanoinet.evidence.service import EvidenceItem, EvidenceService, Shredding, record_custody_many
from hanoinet.ledger.events import CustodyEvent

log = structlog.get_logger("hanoinet.privacy.retention")

#: Who set a period: the State that sent the file, or this State.
SENDER, DOMESTIC = "sender", "domestic"
#: Files shredded per transaction by the retention job (one KEK rotation each).
BATCH = 200
#: How often a serving node looks for files whose retention has ended.
INTERVAL_SECONDS = 60.0


# -- the pure core ----------------------------------------------------------------------------------------


def end_of(sender_until: datetime | None, domestic_until: datetime | None) -> tuple[datetime, str] | None:
    """When retention ends and whose period ends first (:data:`DOMESTIC` on a tie); None if neither is set."""
    ends = [(t, who) for t, who in ((domestic_until, DOMESTIC), (sender_until, SENDER)) if t is not None]
    return min(ends, key=lambda end: end[0]) if ends else None


@dataclass(frozen=True, slots=True)
class Held:
    """What :func:`due` needs of a file: its id, its retention end (None: no period) and whether it is shredded."""

    id: str
    end: datetime | None
    shredded: bool


def due(files: Iterable[Held], at: datetime) -> list[str]:
    """The ids of the files to shred at ``at``: not shredded yet, with a retention end at or before ``at``.

    A file whose end is after ``at`` is never among them; shredding those returned and asking again at the
    same instant returns none.
    """
    return [f.id for f in files if not f.shredded and f.end is not None and f.end <= at]


def check_domestic(until: datetime, *, sender_until: datetime | None, at: datetime) -> None:
    """Refuse a domestic end that is not after ``at`` or that is after the sender's end (Art. 36 conditions)."""
    if until <= at:
        raise ValidationError(f"a retention period must end after now ({format_instant(at)}); "
                              f"{format_instant(until)} is not", hint="to destroy a file at once, shred it "
                              "(`hanoinet evidence shred`)", code="retention_in_past")
    if sender_until is not None and until > sender_until:
        raise ValidationError(f"the sending State's retention period ends at {format_instant(sender_until)}; a "
                              f"domestic period cannot end later ({format_instant(until)})",
                              hint="give an end at or before the sender's; the sender's end applies anyway",
                              code="retention_longer_than_sender")


def check_sender(until: datetime | None, *, at: datetime) -> datetime | None:
    """A retention end for the use conditions of a package being sealed: None, or an instant after ``at``."""
    if until is not None and until <= at:
        raise ValidationError(f"the retention period must end after now ({format_instant(at)}); "
                              f"{format_instant(until)} is not", code="retention_in_past",
                              hint="give the instant by which the receiving State must have destroyed the data")
    return until


# -- enforcement --------------------------------------------------------------------------------------------


def _reason(end: datetime, who: str, origin: str, state: str) -> Shredding:
    by = f"the sending State ({origin})" if who == SENDER else f"this State ({state}), domestic"
    return Shredding(f"retention period set by {by} ended at {show_instant(end)}",
                     {"retention": who, "retain_until": format_instant(end),
                      "set_by": origin if who == SENDER else state})


def shred_due(service: EvidenceService, *, at: datetime | None = None, actor: str = "system") -> list[EvidenceItem]:
    """Shred every file whose retention has ended by ``at`` (default: now); returns those shredded.

    Each row is looked at again once locked, so a file another process shredded meanwhile, or whose period
    was changed, is left alone and nothing is raised; a file is shredded and recorded once.
    """
    t = at if at is not None else now()
    node = service.node
    shredded: list[EvidenceItem] = []

    def decide(row: EvidenceFile) -> Shredding | None:
        ends = end_of(row.sender_retain_until, row.domestic_retain_until)
        if row.shredded_at is not None or ends is None or ends[0] > t:
            return None
        return _reason(ends[0], ends[1], row.origin, node.state)

    while True:
        with node.db.transaction(readonly=True) as uow:
            rows = uow.session.execute(
                select(EvidenceFile.id, EvidenceFile.retain_until, EvidenceFile.shredded_at)
                .where(EvidenceFile.shredded_at.is_(None), EvidenceFile.retain_until <= t)
                .order_by(EvidenceFile.retain_until, EvidenceFile.id).limit(BATCH)).all()
        ids = due((Held(i, end, s is not None) for i, end, s in rows), t)
        if not ids:
            return shredded
        done = service.shred_where(ids, actor=actor, decide=decide)
        shredded += done
        log.info("retention ended: evidence shredded", files=len(done))
        if len(rows) < BATCH or not done:
            return shredded


async def run_retention(service: EvidenceService, stop: asyncio.Event, *, interval: float = INTERVAL_SECONDS) -> None:
    """Background task: shred what is due at once, then every ``interval`` seconds until ``stop`` (a failed
    round is logged and the next one tries again)."""
    while not stop.is_set():
        try:
            await asyncio.to_thread(shred_due, service)
        except Exception:  # the loop must survive a bad round; the next one retries
            log.exception("retention round failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


# -- domestic periods ---------------------------------------------------------------------------------------


def set_domestic(service: EvidenceService, *, until: datetime, actor: str, reason: str,
                 file_ids: Sequence[str] | None = None, case: str | None = None,
                 may_act_for: Callable[[str | None], bool] | None = None) -> list[EvidenceItem]:
    """Set this State's retention end on files (named, or every file held in ``case``), in one transaction.

    Every file must be held and not shredded, and ``until`` must be after now and not after any file's sender
    end (:func:`check_domestic`); otherwise nothing changes. With ``may_act_for``, every file must be filed at
    a desk it accepts. Each change is a ``retention_set`` custody record naming the previous and new ends.
    """
    if not reason.strip():
        raise ValidationError("setting a retention period needs a reason (e.g. the domestic law that requires it)",
                              code="reason_required")
    if (file_ids is None) == (case is None):
        raise ValidationError("name either the files or the case, one of the two",
                              hint="give file ids (--file, files) or a case reference (--case, case)",
                              code="retention_target")
    t = now()
    node = service.node
    with node.db.transaction() as uow:
        query = select(EvidenceFile).order_by(EvidenceFile.id).with_for_update()
        query = query.where(EvidenceFile.case_ref == case) if case is not None else \
            query.where(EvidenceFile.id.in_(list(file_ids or ())))
        rows = [r for r in uow.session.scalars(query) if may_act_for is None or may_act_for(r.desk)]
        missing = sorted(set(file_ids or ()) - {r.id for r in rows})
        if missing or not rows:
            # Another desk's files are answered as missing: their existence is not disclosed.
            raise NotFound(f"no evidence file {', '.join(missing)} for you on this node" if missing
                           else f"case {case!r} holds no evidence of yours on this node", code="evidence_not_found")
        shredded = [r.id for r in rows if r.shredded_at is not None]
        if shredded:
            raise Conflict(f"evidence already shredded: {', '.join(shredded)}", code="evidence_shredded")
        for row in rows:
            check_domestic(until, sender_until=row.sender_retain_until, at=t)
        events = []
        for row in rows:
            previous = row.domestic_retain_until
            row.domestic_retain_until = until
            ends = end_of(row.sender_retain_until, until)
            row.retain_until = ends[0] if ends is not None else None
            detail: dict[str, str | int | bool] = {"file": row.id, "retain_until": format_instant(until),
                                                   "reason": reason[:500]}
            if previous is not None:
                detail["previous"] = format_instant(previous)
            if row.sender_retain_until is not None:
                detail["sender_until"] = format_instant(row.sender_retain_until)
            events.append((row.id, CustodyEvent(action="retention_set", at=format_instant(t), node=node.state,
                                                actor=actor, object_sha256=row.sha256, case=row.case_ref,
                                                detail=detail)))
        record_custody_many(uow.session, events)
        items = [EvidenceItem.of(row) for row in rows]
    log.info("domestic retention set", files=len(items))
    return items
