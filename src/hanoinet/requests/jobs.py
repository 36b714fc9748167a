"""The node's own clock work on requests: expiring the preservations it holds, warning of those it asked for,
resuming postponed executions at their date, and paging when a clock of the Art. 40 procedure is overdue.

A job runs each request in its own transaction and through the same path as an officer's act
(:func:`hanoinet.requests.commands.act_as`, as the node itself), so one request that fails does not hold back
the others and is tried again next round. ``keep_clocks`` runs the jobs in the background of a serving node.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog
from sqlalchemy import and_, or_, select

from hanoinet import convention
from hanoinet.alerts import service as alerts
from hanoinet.clock import format_instant, now
from hanoinet.db.models import RequestRecord
from hanoinet.node import audit
from hanoinet.node.node import Node
from hanoinet.requests import clocks
from hanoinet.requests.commands import Actor, act_as
from hanoinet.requests.machine import TERMINAL, Action, Side, State, requires_consultation, resume_due
from hanoinet.requests.records import (
    PRESERVED_STATES,
    SYSTEM,
    WARNING_DAYS,
    events_of,
    headline,
    history_of,
    kind_of,
    load_request,
    our_desk,
)

log = structlog.get_logger("hanoinet.requests")


def expire_due(node: Node) -> list[str]:
    """Expire the preservations we hold whose period ended without extension or follow-up; returns refs.

    Expiry waits for the delivery cut-off after the period ends: an extension or follow-up the requesting
    State sent in time is either delivered by then or reported to it as undeliverable, so the race rule (our
    expiry first) never discards one that was merely delayed by the network.
    """
    cutoff = now() - timedelta(seconds=node.settings.undeliverable_after_seconds)
    with node.db.transaction(readonly=True) as uow:
        refs = list(uow.session.scalars(select(RequestRecord.ref).where(
            RequestRecord.side == Side.REQUESTED.value, RequestRecord.state.in_(PRESERVED_STATES),
            RequestRecord.preserve_until.is_not(None), RequestRecord.preserve_until <= cutoff)))
    expired = []
    for ref in refs:
        try:
            with node.db.transaction() as uow:
                row = load_request(uow.session, ref, lock=True)
                if row.state not in PRESERVED_STATES or row.preserve_until is None or row.preserve_until > cutoff:
                    continue
                act_as(node, uow, row, Actor(name=node.state, role=SYSTEM), Action.EXPIRE, data={})
                expired.append(ref)
        except Exception:  # one request must not hold back the others' expiry; it is retried next round
            log.exception("could not expire a lapsed preservation", ref=ref)
    return expired


def warn_due(node: Node) -> list[str]:
    """Page our desk for the preservations we asked for that end soon; returns the refs paged for.

    Each warning (14, 7 and 1 day(s) before the end: ``PRESERVATION_CLOCK.warnings``) is sent once per end; an
    extension starts the count again. A preservation held for the follow-up request, or no longer holding
    data, is not warned about. Each warning is a new page, which supersedes one still open for the request:
    the chain starts again, urgent for the last warning. The page ends as any page does, when somebody at the
    desk acts on the request (extends it, sends the follow-up, releases the data) or reads it. A warning
    that cannot be paged (the desk is no longer on this node) raises an alarm instead.
    """
    t = now()
    due = or_(*(and_(RequestRecord.preserve_until <= t + timedelta(days=days),
                     or_(RequestRecord.preservation_warned_days.is_(None),
                         RequestRecord.preservation_warned_days > days)) for days in WARNING_DAYS))
    with node.db.transaction(readonly=True) as uow:
        refs = list(uow.session.scalars(select(RequestRecord.ref).where(
            RequestRecord.side == Side.REQUESTING.value, RequestRecord.state.in_(PRESERVED_STATES),
            RequestRecord.preserve_until.is_not(None), due).order_by(RequestRecord.preserve_until, RequestRecord.ref)))
    return _each(refs, lambda ref: _warn(node, ref, t), "could not warn of a preservation ending soon")


def _warn(node: Node, ref: str, t: datetime) -> bool:
    with node.db.transaction() as uow:
        row = load_request(uow.session, ref, lock=True)
        until = row.preserve_until
        days = clocks.preservation_warning(until, t, WARNING_DAYS) if until is not None else None
        if until is None or days is None or row.state not in PRESERVED_STATES or (
                row.preservation_warned_days is not None and row.preservation_warned_days <= days):
            return False
        row.preservation_warned_days = days
        desk, headline = our_desk(row), _warning_headline(row, kind_of(row.kind), days, ended=until <= t)
        if desk in node.settings.desk_ids:
            alerts.page(node, uow, subject_id=row.id, subject_ref=row.ref, desk=desk, headline=headline,
                        priority="urgent" if days == min(WARNING_DAYS) else "normal", supersede=True)
        else:
            audit.alarm(uow.session, code="preservation_warning_not_paged", severity="critical",
                        message=f"{headline}; desk {desk} is no longer on this node, so nobody was paged: "
                                "have the request handled by another desk's officers",
                        detail={"ref": row.ref, "desk": desk, "days": days}, desk=desk)
        audit.record(uow.session, actor=SYSTEM, action="request.preservation_warning", target=row.ref,
                     detail={"days": days, "preserve_until": format_instant(until)})
        return True


def _warning_headline(row: RequestRecord, kind: convention.RequestKind, days: int, *, ended: bool) -> str:
    """A preservation warning's alert headline."""
    what = "preservation period has ended, expiry pending" if ended else \
        f"preservation ends in less than {days} day{'s' if days > 1 else ''}"
    return headline(row, kind, what, row.requested)


def resume_postponed(node: Node) -> list[str]:
    """Resume, in the node's own name, the executions we postponed whose date has passed; returns the refs."""
    with node.db.transaction(readonly=True) as uow:
        refs = list(uow.session.scalars(select(RequestRecord.ref).where(
            RequestRecord.side == Side.REQUESTED.value, RequestRecord.state == State.POSTPONED.value)
            .order_by(RequestRecord.ref)))
    return _each(refs, lambda ref: _resume(node, ref), "could not resume a postponed execution")


def _resume(node: Node, ref: str) -> bool:
    with node.db.transaction() as uow:
        row = load_request(uow.session, ref, lock=True)
        if not resume_due(history_of(row, events_of(uow.session, row.id)), now()):
            return False
        act_as(node, uow, row, Actor(name=node.state, role=SYSTEM), Action.RESUME, data={})
        return True


#: States in which a clock of the Art. 40 procedure may be overdue.
_PROCEDURE_STATES = tuple(sorted(s.value for s in State if s not in TERMINAL | {State.DRAFT, State.EXECUTED}))
#: The clock each side's desk answers for: the requesting State owes the reply to a consultation, the requested
#: State the execution by the date asked for.
_OWED = {Side.REQUESTING: "consultation", Side.REQUESTED: "deadline"}
_OVERDUE_WHAT = {"consultation": "reply to the consultation overdue", "deadline": "requested deadline passed"}


def page_procedure_due(node: Node) -> list[str]:
    """Page our desk when a clock of the Art. 40 procedure it answers for is overdue; returns the refs paged for.

    The requesting desk is paged when the reply-by date of a consultation passed without its reply, the
    requested desk when the date the requesting State asked for passed before execution. Each clock pages once
    for each due date (kept in ``procedure_paged``); the page supersedes one still open for the request and
    escalates as every page does, until somebody at the desk acts on the request or reads it.
    """
    t = now()
    consulted = sorted(kind for kind in convention.REQUEST_KINDS if requires_consultation(kind))
    with node.db.transaction(readonly=True) as uow:
        refs = list(uow.session.scalars(select(RequestRecord.ref).where(
            RequestRecord.state.in_(_PROCEDURE_STATES), RequestRecord.kind.in_(consulted))
            .order_by(RequestRecord.ref)))
    return _each(refs, lambda ref: _page_overdue(node, ref, t),
                 "could not page an overdue clock of the Art. 40 procedure")


def _each(refs: list[str], step: Callable[[str], bool], failure: str) -> list[str]:
    """Run ``step`` for each request, each in its own transaction; the refs it did something for.

    One request must not hold back the others: a failure is logged and retried at the next round.
    """
    done = []
    for ref in refs:
        try:
            if step(ref):
                done.append(ref)
        except Exception:
            log.exception(failure, ref=ref)
    return done


def _page_overdue(node: Node, ref: str, t: datetime) -> bool:
    with node.db.transaction() as uow:
        row = load_request(uow.session, ref, lock=True)
        history = history_of(row, events_of(uow.session, row.id))
        owed = _OWED[Side(row.side)]
        article = convention.CONSULT_BEFORE_REFUSING.article
        clock = clocks.consultation(history, t, article=article) if owed == "consultation" else \
            clocks.deadline(history, t, article=article)
        if clock is None or clock.status != "overdue" or clock.due is None:
            return False
        key = f"{clock.name}@{format_instant(clock.due)}"
        done: list[str] = json.loads(row.procedure_paged) if row.procedure_paged else []
        if key in done:
            return False
        row.procedure_paged = json.dumps([*done, key])
        desk = our_desk(row)
        other = row.requested if row.side == Side.REQUESTING.value else row.requesting
        text = headline(row, kind_of(row.kind), _OVERDUE_WHAT[owed], other)
        if desk in node.settings.desk_ids:
            alerts.page(node, uow, subject_id=row.id, subject_ref=row.ref, desk=desk, headline=text,
                        priority="urgent", supersede=True)
        else:
            audit.alarm(uow.session, code="procedure_clock_not_paged", severity="critical",
                        message=f"{text}; desk {desk} is no longer on this node, so nobody was paged: "
                                "have the request handled by another desk's officers",
                        detail={"ref": row.ref, "desk": desk, "clock": clock.name}, desk=desk)
        audit.record(uow.session, actor=SYSTEM, action="request.procedure_overdue", target=row.ref,
                     detail={"clock": clock.name, "due": format_instant(clock.due)})
        return True


async def keep_clocks(node: Node, stop: asyncio.Event, *, interval: float = 30.0) -> None:
    """Background task: expire lapsed preservations, warn of those ending soon, resume postponed executions at
    their date and page overdue clocks of the Art. 40 procedure (a failure is logged and retried next round)."""
    while not stop.is_set():
        for job in (expire_due, warn_due, resume_postponed, page_procedure_due):
            try:
                await asyncio.to_thread(job, node)
            except Exception:  # the loop must survive a bad round; the next one retries
                log.exception("clock work failed", job=job.__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
