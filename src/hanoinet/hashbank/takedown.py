"""Takedown with accountability: platforms' match reports, their review, quarantines, deadlines and escalation.

A platform registered at this node reports each match and what it did (:func:`report`); a reviewer confirms
or rejects it (:func:`review`); a confirmed match becomes a notice with a deadline (:func:`notices`), and a
missed deadline is escalated once to the node's 24/7 desk (:func:`escalate_overdue`, run by :func:`run`).
Floods of reports and false positives quarantine an entry until a reviewer releases it (:func:`release`). The
rules themselves are in :mod:`hanoinet.hashbank.takedown_rules`; docs/takedown.md gives the whole flow.

What a victim sees is kept at the entry's origin node, in ``TakedownStatus``: one row per platform and
country. When a change here alters what the victim should see, this node writes that row itself if the
entry is its own, and otherwise tells the origin in a ``hashbank.takedown`` envelope (docs/protocol.md,
section 10.5). Every write about an entry locks the entry's row first, so reports, reviews, escalations and
statuses received of one entry are serialised: the status sent is always the latest, and the status kept at
the origin never goes back to an older one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import structlog
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from hanoinet.alerts import service as alerts
from hanoinet.alerts.notice import TAKEDOWN_PREFIX
from hanoinet.clock import Instant, format_instant, now, parse_instant
from hanoinet.db.database import UnitOfWork
from hanoinet.db.models import HashEntry, HashTrust, MatchReport, Platform, TakedownStatus
from hanoinet.errors import Conflict, NotFound, ValidationError
from hanoinet.hashbank import bank, kinds
from hanoinet.hashbank import takedown_rules as rules
from hanoinet.hashbank.bank import Entry
from hanoinet.hashbank.platforms import PlatformPrincipal
from hanoinet.hashbank.replication import BANK_DESK
from hanoinet.hashbank.takedown_rules import Action, Review, VictimStatus
from hanoinet.network import inbox, outbox
from hanoinet.network import kinds as message_kinds
from hanoinet.network.envelope import EnvelopePayload
from hanoinet.node import audit
from hanoinet.node.node import Node
from hanoinet.states import split_address

KIND = "hashbank.takedown"
#: Priority of the page for a missed deadline: the desk acknowledges within its urgent target (4 h by default).
ESCALATION_PRIORITY = "urgent"
#: Seconds between two checks for missed deadlines while the node runs.
ESCALATION_INTERVAL = 30.0
#: Missed deadlines escalated per transaction; the rest wait for the next round.
MAX_ESCALATIONS = 100
MAX_LIST = rules.MAX_LIST
MAX_CONTENT_REF = 200
#: Review queues a reviewer can list.
QUEUES = ("pending", "quarantined", "overdue")

log = structlog.get_logger("hanoinet.takedown")

_UUID7 = r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
_ONE_MS = timedelta(milliseconds=1)
#: What :func:`_reports_of` reads of a report: review, action, resolved_at, escalated_at, reason, updated_at.
_ReportRow = Row[str, str, datetime | None, datetime | None, str | None, datetime]


# -- views ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Standing:
    """This node's experience of one entry: confirmed matches, false positives, trust and any quarantine."""

    confirmed: int = 0
    false_positives: int = 0
    quarantined_at: datetime | None = None
    quarantine_reason: str | None = None

    @classmethod
    def of(cls, row: HashTrust | None) -> Standing:
        """The standing held in ``row``; an entry with no row has no history."""
        if row is None:
            return cls()
        return cls(confirmed=row.confirmed, false_positives=row.false_positives, quarantined_at=row.quarantined_at,
                   quarantine_reason=row.quarantine_reason)

    @property
    def quarantined(self) -> bool:
        """Whether matches of the entry wait for a reviewer's closer look."""
        return self.quarantined_at is not None

    @property
    def trust(self) -> float:
        """``(confirmed + 1) / (confirmed + false_positives + 2)``, to three decimals (for display)."""
        return round(float(rules.trust(self.confirmed, self.false_positives)), 3)

    def as_json(self) -> dict[str, Any]:
        """JSON for reviewers and platforms."""
        return {"confirmed": self.confirmed, "false_positives": self.false_positives, "trust": self.trust,
                "quarantined": self.quarantined,
                "quarantined_at": format_instant(self.quarantined_at) if self.quarantined_at else None,
                "quarantine_reason": self.quarantine_reason}


@dataclass(frozen=True, slots=True)
class Report:
    """A match report as reviewers and its platform see it: never anything about a victim."""

    id: int
    platform: str
    entry: Entry
    content_ref: str
    distance: int
    action: Action
    reason: str | None
    review: Review
    reviewed_by: str | None
    reviewed_at: datetime | None
    reported_at: datetime
    updated_at: datetime
    due_at: datetime | None
    escalated_at: datetime | None
    resolved_at: datetime | None
    standing: Standing

    def overdue(self, at: datetime) -> bool:
        """Whether the platform missed the deadline of this report's notice at ``at``."""
        return rules.is_overdue(self.review, self.resolved_at is not None, self.due_at, at)

    def as_json(self, at: datetime, *, reviewer: bool) -> dict[str, Any]:
        """JSON for a reviewer (who also sees who reviewed it) or for the reporting platform."""
        def instant(t: datetime | None) -> str | None:
            return format_instant(t) if t is not None else None

        view: dict[str, Any] = {
            "id": self.id, "platform": self.platform, "entry": self.entry.entry_id, "kind": self.entry.kind,
            "category": self.entry.category, "origin": self.entry.origin, "entry_status": self.entry.status,
            "content_ref": self.content_ref, "distance": self.distance, "action": self.action.value,
            "reason": self.reason, "review": self.review.value, "reviewed_at": instant(self.reviewed_at),
            "reported_at": instant(self.reported_at), "updated_at": instant(self.updated_at),
            "due_at": instant(self.due_at), "escalated_at": instant(self.escalated_at),
            "resolved_at": instant(self.resolved_at), "overdue": self.overdue(at), "trust": self.standing.as_json(),
        }
        if reviewer:
            view["reviewed_by"] = self.reviewed_by
        return view


def _select() -> Any:
    return (select(MatchReport, Platform.name, HashEntry, HashTrust)
            .join(Platform, Platform.id == MatchReport.platform_id)
            .join(HashEntry, HashEntry.id == MatchReport.entry_row)
            .outerjoin(HashTrust, HashTrust.entry_row == MatchReport.entry_row))


def _view(row: MatchReport, platform: str, entry: HashEntry, trust: HashTrust | None) -> Report:
    return Report(id=row.id, platform=platform, entry=Entry.of(entry), content_ref=row.content_ref,
                  distance=row.distance, action=Action(row.action), reason=row.reason, review=Review(row.review),
                  reviewed_by=row.reviewed_by, reviewed_at=row.reviewed_at, reported_at=row.reported_at,
                  updated_at=row.updated_at, due_at=row.due_at, escalated_at=row.escalated_at,
                  resolved_at=row.resolved_at, standing=Standing.of(trust))


def _views(session: Session, query: Any) -> list[Report]:
    return [_view(*found) for found in session.execute(query).all()]


def get(session: Session, report_id: int) -> Report:
    """One report by id (``report_not_found`` otherwise)."""
    found = _views(session, _select().where(MatchReport.id == report_id))
    if not found:
        raise _no_report(report_id)
    return found[0]


def _no_report(report_id: int, *, of_platform: bool = False) -> NotFound:
    return NotFound(f"no match report {report_id}" + (" of yours" if of_platform else ""),
                    hint="use the id the node answered when the match was reported", code="report_not_found")


def standing(session: Session, rows: list[int]) -> dict[int, Standing]:
    """The standing of each entry row in ``rows`` (entries with no history are left out): for match answers."""
    found: dict[int, Standing] = {}
    wanted = sorted(set(rows))
    for start in range(0, len(wanted), 5_000):
        chunk = wanted[start:start + 5_000]
        found.update((r.entry_row, Standing.of(r))
                     for r in session.scalars(select(HashTrust).where(HashTrust.entry_row.in_(chunk))))
    return found


def notices(session: Session, platform_id: int, *, after: int = 0, limit: int = MAX_LIST) -> list[Report]:
    """The platform's confirmed matches it has not answered yet, by id (``after``: the last id of a page)."""
    return _views(session, _select().where(
        MatchReport.platform_id == platform_id, MatchReport.review == Review.CONFIRMED.value,
        MatchReport.resolved_at.is_(None), HashEntry.status == "active", MatchReport.id > after,
    ).order_by(MatchReport.id).limit(_check_limit(limit)))


def queue(session: Session, status: str, at: datetime, *, after: int = 0, limit: int = 100) -> list[Report]:
    """A reviewer's queue by id: ``pending`` or ``quarantined`` reports, or ``overdue`` notices at ``at``.

    Reports of withdrawn entries are left out: their origin no longer asks for anything.
    """
    query = _select().where(HashEntry.status == "active", MatchReport.id > after)
    if status == "overdue":
        query = query.where(MatchReport.review == Review.CONFIRMED.value, MatchReport.resolved_at.is_(None),
                            MatchReport.due_at < at)
    elif status in QUEUES:
        query = query.where(MatchReport.review == status)
    else:
        raise ValidationError(f"there is no review queue {status!r}", hint=f"queues: {', '.join(QUEUES)}",
                              code="bad_status")
    return _views(session, query.order_by(MatchReport.id).limit(_check_limit(limit)))


def _check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIST:
        raise ValidationError(f"limit {limit} is outside 1-{MAX_LIST}", hint="page with 'after' instead",
                              code="bad_limit")
    return limit


# -- platforms ----------------------------------------------------------------------------------------------


def report(node: Node, uow: UnitOfWork, platform: PlatformPrincipal, *, entry_id: str, content_ref: str,
           distance: int, action: str, reason: str | None = None) -> tuple[Report, bool]:
    """Record a platform's match and what it did; returns the report and whether it is new.

    One report per (platform, entry, content reference): reporting the same content again updates its
    action. A new report counts towards the entry's flood window and may quarantine the entry.
    """
    session = uow.session
    done = rules.check_action(action)
    reason = rules.check_text(reason, "reason")
    content_ref = _check_content_ref(content_ref)
    entry = _lock_entry(session, entry_id)
    max_distance = kinds.get(entry.kind).max_distance
    if isinstance(distance, bool) or not isinstance(distance, int) or not 0 <= distance <= max_distance:
        raise ValidationError(f"distance {distance!r} is not a match of a {entry.kind} entry (0-{max_distance})",
                              hint="report only hashes within the match distance of the entry", code="bad_distance")
    row = session.scalar(select(MatchReport).where(
        MatchReport.platform_id == platform.id, MatchReport.entry_row == entry.id,
        MatchReport.content_ref == content_ref))
    if row is not None and (row.action, row.reason, row.distance) == (done.value, reason, distance) and not (
            row.resolved_at is None and rules.resolves(Review(row.review), done)):
        return get(session, row.id), False  # the same report again, and it answers no notice: nothing changes
    before, at = _before_change(session, platform.id, entry.id)
    created = row is None
    if row is None:
        if entry.status != "active":
            raise Conflict(f"entry {entry.entry_id} was withdrawn by {entry.origin}; it no longer asks for removal",
                           hint="drop it from your copy of the bank (the feed lists the withdrawal)",
                           code="entry_withdrawn")
        trust = _trust_row(session, entry.id, at)
        policy = node.settings.takedown_policy
        window, flooded = rules.count_report(_window(trust), platform.id, at, policy)
        _keep_window(trust, window)
        if flooded and trust.quarantined_at is None:
            _quarantine(session, entry, trust, at, code="hashbank_flood",
                        reason=f"{window.counted(policy)} new match reports from {len(window.reports)} platforms "
                        f"since {format_instant(window.start)} (each counting for at most "
                        f"{rules.flood_share(policy)}), more than {policy.flood_threshold} within "
                        f"{policy.flood_window.total_seconds():.0f} s")
        review = Review.QUARANTINED if trust.quarantined_at is not None else Review.PENDING
        rules.check_report(review, False, done, reason)
        row = MatchReport(platform_id=platform.id, entry_row=entry.id, content_ref=content_ref, distance=distance,
                          action=done.value, reason=reason, review=review.value, reported_at=at, updated_at=at)
        session.add(row)
        session.flush()
    else:
        review, resolved = Review(row.review), row.resolved_at is not None
        rules.check_report(review, resolved, done, reason)
        row.action, row.reason, row.distance, row.updated_at = done.value, reason, distance, at
        if not resolved and rules.resolves(review, done):
            row.resolved_at = at
            alerts.resolve(uow, subject_id=_page_subject(row.id), by=f"{platform.name}: {done.value}")
    audit.record(session, actor=platform.actor, action="takedown.report", target=f"report:{row.id}",
                 detail={"entry": entry.entry_id, "action": done.value, "new": created})
    _publish(node, uow, entry, platform_id=platform.id, platform=platform.name, before=before, at=at)
    return get(session, row.id), created


def false_positive(node: Node, uow: UnitOfWork, platform: PlatformPrincipal, report_id: int, *,
                   reason: str | None = None) -> Report:
    """The platform records that its own match was a false positive: the report is rejected, trust falls.

    Recording it again changes nothing; after a reviewer confirmed the match the platform answers the notice
    instead (``already_confirmed``).
    """
    session = uow.session
    reason = rules.check_text(reason, "reason")
    row, entry = _lock_report(session, report_id, platform_id=platform.id)
    if row.review == Review.REJECTED.value:
        return get(session, row.id)
    review = rules.platform_false_positive(Review(row.review))
    before, at = _before_change(session, platform.id, entry.id)
    row.review, row.reviewed_by, row.reviewed_at, row.updated_at = review.value, platform.actor, at, at
    if reason is not None:
        row.reason = reason
    _count_false_positive(node, session, entry, platform.id, at, by_reviewer=False)
    audit.record(session, actor=platform.actor, action="takedown.false_positive", target=f"report:{row.id}",
                 detail={"entry": entry.entry_id})
    _publish(node, uow, entry, platform_id=platform.id, platform=platform.name, before=before, at=at)
    return get(session, row.id)


# -- reviewers ----------------------------------------------------------------------------------------------


def review(node: Node, uow: UnitOfWork, report_id: int, *, decision: str, actor: str,
           note: str | None = None) -> Report:
    """A reviewer's decision: ``confirm`` (a notice with a deadline goes to the platform) or ``reject``.

    A rejection counts a false positive against the entry, which may quarantine it. The note goes to the
    audit trail.
    """
    session = uow.session
    decided = rules.check_decision(decision)
    note = rules.check_text(note, "note")
    row, entry = _lock_report(session, report_id)
    if entry.status != "active":
        raise Conflict(f"entry {entry.entry_id} of report {report_id} was withdrawn by {entry.origin}",
                       hint="nothing is asked of the platform any more; no review is needed", code="entry_withdrawn")
    outcome = rules.decide(Review(row.review), decided)
    before, at = _before_change(session, row.platform_id, entry.id)
    row.review, row.reviewed_by, row.reviewed_at, row.updated_at = outcome.value, actor[:100], at, at
    if outcome is Review.CONFIRMED:
        assert entry.category is not None  # only entries with a hash are matched
        row.due_at = rules.due_at(at, entry.category, node.settings.takedown_policy)
        if rules.resolved_on_confirm(Action(row.action)):
            row.resolved_at = at
        _trust_row(session, entry.id, at).confirmed += 1
    else:
        _count_false_positive(node, session, entry, row.platform_id, at, by_reviewer=True)
    audit.record(session, actor=actor, action=f"takedown.{decided.value}", target=f"report:{row.id}",
                 detail={"entry": entry.entry_id, "note": note})
    name = _platform_name(session, row.platform_id)
    _publish(node, uow, entry, platform_id=row.platform_id, platform=name, before=before, at=at)
    return get(session, row.id)


def release(uow: UnitOfWork, entry_id: str, *, actor: str, note: str | None = None) -> tuple[Standing, int]:
    """Lift an entry's quarantine: its quarantined reports go back to pending review; returns how many.

    The flood window starts again and the false positives counted so far are set aside (confirmations stay),
    so what caused the quarantine does not cause it at once again: it takes as many new sources of false
    positives as the first time.
    """
    session = uow.session
    note = rules.check_text(note, "note")
    entry = _lock_entry(session, entry_id)
    trust = session.get(HashTrust, entry.id)
    if trust is None or trust.quarantined_at is None:
        raise Conflict(f"entry {entry.entry_id} is not quarantined", hint="list quarantined reports with "
                       "`hanoinet takedown reviews --status quarantined`", code="not_quarantined")
    at = now()
    trust.quarantined_at, trust.quarantine_reason = None, None
    _keep_window(trust, rules.Window(at))
    _keep_sources(trust, frozenset())
    waiting = list(session.scalars(select(MatchReport).where(
        MatchReport.entry_row == entry.id, MatchReport.review == Review.QUARANTINED.value)))
    for row in waiting:
        row.review = rules.released(Review(row.review)).value
    audit.record(session, actor=actor, action="takedown.release", target=entry.entry_id,
                 detail={"reports": len(waiting), "note": note})
    return Standing.of(trust), len(waiting)


# -- deadlines ----------------------------------------------------------------------------------------------


def escalate_overdue(node: Node, uow: UnitOfWork, at: datetime) -> list[int]:
    """Escalate, once each, the confirmed reports still unanswered after their deadline; returns their ids.

    Each raises the alarm ``takedown_overdue`` and pages the node's 24/7 desk (priority urgent); the victim's
    status for that platform becomes ``overdue``. Entries are locked in row order, so two processes doing this
    at once do not deadlock, and the second finds the reports already escalated.
    """
    session = uow.session
    candidates = list(session.scalars(
        select(MatchReport.id).join(HashEntry, HashEntry.id == MatchReport.entry_row)
        .where(MatchReport.review == Review.CONFIRMED.value, MatchReport.resolved_at.is_(None),
               MatchReport.escalated_at.is_(None), MatchReport.due_at < at, HashEntry.status == "active")
        .order_by(MatchReport.entry_row, MatchReport.id).limit(MAX_ESCALATIONS)))
    escalated = []
    for report_id in candidates:
        row, entry = _lock_report(session, report_id)
        if not rules.needs_escalation(Review(row.review), row.resolved_at is not None, row.due_at, row.escalated_at,
                                      at):
            continue
        assert row.due_at is not None
        name = _platform_name(session, row.platform_id)
        before, stamp = _before_change(session, row.platform_id, entry.id)
        row.escalated_at, row.updated_at = at, stamp
        what = f"takedown report {row.id}"
        audit.alarm(session, code="takedown_overdue",
                    message=f"{name} did not act on {what} ({entry.category} entry {entry.entry_id} from "
                    f"{entry.origin}) by {format_instant(row.due_at)}; the {BANK_DESK} desk is paged: contact the "
                    "platform", detail={"report": row.id, "platform": name, "entry": entry.entry_id}, desk=BANK_DESK)
        alerts.page(node, uow, subject_id=_page_subject(row.id), subject_ref=what, desk=BANK_DESK,
                    priority=ESCALATION_PRIORITY,
                    headline=f"Takedown deadline missed: {name}, {what} ({entry.category} from {entry.origin})")
        _publish(node, uow, entry, platform_id=row.platform_id, platform=name, before=before, at=stamp)
        escalated.append(row.id)
    return escalated


def _escalate_round(node: Node) -> list[int]:
    with node.db.transaction() as uow:
        return escalate_overdue(node, uow, now())


async def run(node: Node, stop: asyncio.Event, *, interval: float = ESCALATION_INTERVAL) -> None:
    """Escalate missed takedown deadlines every ``interval`` seconds until ``stop`` is set."""
    while not stop.is_set():
        try:
            escalated = await asyncio.to_thread(_escalate_round, node)
            if escalated:
                log.info("takedown.escalated", reports=escalated)
        except Exception:  # a failed round is retried at the next tick; the log says why
            log.exception("takedown.escalation_failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


# -- quarantine and trust -------------------------------------------------------------------------------------


def _count_false_positive(node: Node, session: Session, entry: HashEntry, platform_id: int, at: datetime, *,
                          by_reviewer: bool) -> None:
    """A match of ``entry`` by the platform was rejected; quarantine the entry if its trust is now too low.

    False positives count by source (:func:`rules.count_false_positive`): a platform, or the reviewers, whose
    rejections were counted already change nothing.
    """
    trust = _trust_row(session, entry.id, at)
    _keep_sources(trust, rules.count_false_positive(_sources(trust), platform_id, by_reviewer=by_reviewer))
    policy = node.settings.takedown_policy
    if trust.quarantined_at is None and rules.distrusted(trust.confirmed, trust.false_positives, policy):
        _quarantine(session, entry, trust, at, code="hashbank_low_trust",
                    reason=f"trust {float(rules.trust(trust.confirmed, trust.false_positives)):.2f} after "
                    f"false positives from {trust.false_positives} source(s) (platforms, and this node's "
                    f"reviewers) and {trust.confirmed} confirmation(s) is below "
                    f"{policy.trust_threshold_percent / 100:.2f}")


def _quarantine(session: Session, entry: HashEntry, trust: HashTrust, at: datetime, *, code: str,
                reason: str) -> None:
    """Quarantine ``entry``: its pending reports wait for a closer look, and the operator is told."""
    trust.quarantined_at, trust.quarantine_reason = at, reason
    for row in session.scalars(select(MatchReport).where(MatchReport.entry_row == entry.id,
                                                         MatchReport.review == Review.PENDING.value)):
        row.review = rules.quarantined(Review(row.review)).value
    audit.alarm(session, code=code,
                message=f"hash bank entry {entry.entry_id} ({entry.category} from {entry.origin}) is quarantined: "
                f"{reason}; a reviewer checks its reports and releases it (`hanoinet takedown release "
                f"{entry.entry_id}`) or rejects them", detail={"entry": entry.entry_id, "origin": entry.origin})


def _trust_row(session: Session, entry_row: int, at: datetime) -> HashTrust:
    """The entry's trust row, created on first use (the caller holds the entry's lock)."""
    row = session.get(HashTrust, entry_row, populate_existing=True)
    if row is None:
        row = HashTrust(entry_row=entry_row, confirmed=0, false_positives=0, false_positive_sources="[]",
                        window_start=at, window_reports=0, window_platforms="{}")
        session.add(row)
        session.flush()
    return row


def _sources(trust: HashTrust) -> frozenset[int]:
    return frozenset(int(s) for s in json.loads(trust.false_positive_sources))


def _keep_sources(trust: HashTrust, sources: frozenset[int]) -> None:
    trust.false_positive_sources, trust.false_positives = json.dumps(sorted(sources)), len(sources)


def _window(trust: HashTrust) -> rules.Window:
    counts = json.loads(trust.window_platforms)
    return rules.Window(trust.window_start, tuple(sorted((int(p), int(n)) for p, n in counts.items())))


def _keep_window(trust: HashTrust, window: rules.Window) -> None:
    trust.window_start, trust.window_reports = window.start, window.count
    trust.window_platforms = json.dumps({str(p): n for p, n in window.reports}, sort_keys=True)


# -- what the victim sees -------------------------------------------------------------------------------------


class TakedownBody(BaseModel):
    """Body of a ``hashbank.takedown`` envelope: what one of the sender's platforms did about one entry."""

    model_config = ConfigDict(extra="forbid", strict=True)

    entry: str = Field(pattern=_UUID7, description="the id of an entry of the receiving State")
    platform: str = Field(min_length=1, max_length=200, description="the platform's name at the sending node")
    status: Literal["matched", "under_review", "overdue", "removed", "not_removed", "false_positive"]
    reason: str | None = Field(default=None, min_length=1, max_length=rules.MAX_REASON)
    at: Instant

    @field_validator("platform")
    @classmethod
    def _printable_name(cls, value: str) -> str:
        if rules.control_character(value, free_text=False) is not None:
            raise ValueError("platform holds a control character (U+0000-U+001F, U+007F)")
        return value

    @field_validator("reason")
    @classmethod
    def _printable_reason(cls, value: str | None) -> str | None:
        if value is not None and rules.control_character(value, free_text=True) is not None:
            raise ValueError("reason holds a control character other than tab and line feed")
        return value

    @model_validator(mode="after")
    def _reason_with_refusal(self) -> TakedownBody:
        if self.reason is not None and self.status != VictimStatus.NOT_REMOVED.value:
            raise ValueError("reason is sent with status not_removed only")
        return self


TAKEDOWN = message_kinds.register(message_kinds.MessageKind(
    KIND, TakedownBody, "what a platform of the sending State did about an entry of the receiving State "
    "(Art. 14, 16, 34)", direct=False,
))


def _on_takedown(node: Node, uow: UnitOfWork, payload: EnvelopePayload, received_at: datetime) -> None:
    sender, _ = split_address(payload.sender)
    body = payload.body
    session = uow.session
    # Locked like every write about the entry: two processes applying statuses of one platform at once take
    # turns, so the second reads the first's status and never replaces a newer one with an older one.
    # Only our own entry under this id: entries are keyed by origin and id (bank.apply_received).
    entry = session.scalar(select(HashEntry).where(HashEntry.entry_id == body["entry"],
                                                   HashEntry.origin == node.state).with_for_update()
                           .execution_options(populate_existing=True))
    if entry is None:
        # Another State's entry (or none at all): the victim's status lives at its origin, not here.
        audit.alarm(session, code="hashbank_foreign_takedown",
                    message=f"{sender} sent a takedown status for hash bank entry {body['entry']}, which is not an "
                    f"entry of {node.state}; it was not applied",
                    detail={"entry": body["entry"], "from": sender, "envelope": payload.id})
        return
    applied = _apply_status(session, entry.id, state=sender, platform=body["platform"], status=body["status"],
                            reason=body.get("reason"), at=parse_instant(body["at"], field="at"))
    audit.record(session, actor=f"peer:{sender}", action="takedown.receive", target=entry.entry_id,
                 detail={"platform": body["platform"], "status": body["status"], "applied": applied})


inbox.on_receive(KIND, _on_takedown)


def _reports_of(session: Session, platform_id: int, entry_row: int) -> Sequence[_ReportRow]:
    session.flush()
    return session.execute(select(MatchReport.review, MatchReport.action, MatchReport.resolved_at,
                                  MatchReport.escalated_at, MatchReport.reason, MatchReport.updated_at)
                           .where(MatchReport.platform_id == platform_id, MatchReport.entry_row == entry_row)).all()


def _status(found: Sequence[_ReportRow]) -> tuple[VictimStatus, str | None] | None:
    """What the victim should see for these reports of one platform for one entry."""
    return rules.combine(
        (rules.victim_status(Review(review), Action(action), resolved is not None, escalated is not None), reason)
        for review, action, resolved, escalated, reason, _ in found)


def _before_change(session: Session, platform_id: int,
                   entry_row: int) -> tuple[tuple[VictimStatus, str | None] | None, datetime]:
    """What the victim sees for the platform's reports of an entry, and the time of a change to them.

    The time is later than every earlier change to them: the origin keeps the status with the newest time, and
    two changes in one millisecond must not tie.
    """
    found = _reports_of(session, platform_id, entry_row)
    last = max((r.updated_at for r in found), default=None)
    at = now()
    return _status(found), at if last is None or at > last else last + _ONE_MS


def _publish(node: Node, uow: UnitOfWork, entry: HashEntry, *, platform_id: int, platform: str,
             before: tuple[VictimStatus, str | None] | None, at: datetime) -> None:
    """Tell the entry's origin what the victim should now see for this platform, if that changed."""
    after = _status(_reports_of(uow.session, platform_id, entry.id))
    if after is None or after == before:
        return
    status, reason = after
    if entry.origin == node.state:
        _apply_status(uow.session, entry.id, state=node.state, platform=platform, status=status.value, reason=reason,
                      at=at)
        return
    directory = node.directory
    if directory is not None and directory.find(entry.origin) is None:
        # The origin left the network: nobody can be told, and the platform's report must still be recorded.
        audit.alarm(uow.session, code="takedown_origin_unknown", severity="warning",
                    message=f"the takedown status of {platform} for entry {entry.entry_id} was not sent: "
                    f"{entry.origin} is not in the directory", detail={"entry": entry.entry_id, "status": status})
        return
    body: dict[str, Any] = {"entry": entry.entry_id, "platform": platform, "status": status.value,
                            "at": format_instant(at)}
    if reason is not None:
        body["reason"] = reason
    outbox.enqueue(node, uow, sender_desk=BANK_DESK, recipient=f"{entry.origin}/{BANK_DESK}", kind=KIND, body=body)


def _apply_status(session: Session, entry_row: int, *, state: str, platform: str, status: str,
                  reason: str | None, at: datetime) -> bool:
    """Keep the newest status of one platform in one State for an entry; returns whether it was newer.

    The caller holds the entry's lock, so the row read here is the latest committed.
    """
    row = session.get(TakedownStatus, (entry_row, state, platform), populate_existing=True)
    if row is None:
        session.add(TakedownStatus(entry_row=entry_row, state=state, platform=platform, status=status, reason=reason,
                                   updated_at=at))
        return True
    if at <= row.updated_at:
        return False  # an older status delivered late
    row.status, row.reason, row.updated_at = status, reason, at
    return True


# -- locking ------------------------------------------------------------------------------------------------


def _check_content_ref(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > MAX_CONTENT_REF:
        raise ValidationError("content_ref must be your own reference to the content, 1 to 200 characters",
                              hint="send your internal id of the upload, never the content or a link to it",
                              code="bad_content_ref")
    value = value.strip()
    bad = rules.control_character(value, free_text=False)
    if bad is not None:
        raise ValidationError(f"content_ref contains the character U+{ord(bad):04X}, which cannot be stored",
                              hint="send your internal id of the upload as printable text, without control "
                              "characters (U+0000-U+001F, U+007F) or line breaks", code="bad_content_ref")
    return value


def _lock_entry(session: Session, entry_id: str) -> HashEntry:
    # Should another origin have reused the id, the entry recorded first is the one meant, as in bank.get.
    entry = session.scalar(select(HashEntry).where(HashEntry.entry_id == bank.check_entry_id(entry_id),
                                                   HashEntry.hash.is_not(None)).order_by(HashEntry.id).limit(1)
                           .with_for_update().execution_options(populate_existing=True))
    if entry is None or entry.hash is None:
        raise NotFound(f"no hash bank entry {entry_id}", hint="report only entries your copy of the bank holds",
                       code="entry_not_found")
    return entry


def _lock_report(session: Session, report_id: int, *, platform_id: int | None = None) -> tuple[MatchReport, HashEntry]:
    """The report and its entry, locked in the order every writer uses: the entry, then the report."""
    found = session.execute(select(MatchReport.entry_row, MatchReport.platform_id)
                            .where(MatchReport.id == report_id)).one_or_none()
    if found is None or (platform_id is not None and found.platform_id != platform_id):
        raise _no_report(report_id, of_platform=platform_id is not None)
    entry = session.scalars(select(HashEntry).where(HashEntry.id == found.entry_row).with_for_update()
                            .execution_options(populate_existing=True)).one()
    row = session.scalars(select(MatchReport).where(MatchReport.id == report_id).with_for_update()
                          .execution_options(populate_existing=True)).one()
    return row, entry


def _platform_name(session: Session, platform_id: int) -> str:
    return session.scalars(select(Platform.name).where(Platform.id == platform_id)).one()


def _page_subject(report_id: int) -> str:
    """The page of a report's missed deadline (at most 36 characters, the page's subject id)."""
    return f"{TAKEDOWN_PREFIX}{report_id}"
