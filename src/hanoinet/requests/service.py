"""Requests at the edge: drafting, acting, receiving the other side's acts, and reading them back.

Every transition is stored as an event and travels to the other State in the same transaction (outbox), so
both nodes hold the same events; the request row keeps what the replayed history says (state, clocks) for
lists and filters, and a ``version`` that two officers acting at once are checked against.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hanoinet import convention
from hanoinet.alerts import service as alerts
from hanoinet.clock import format_instant, now, parse_instant
from hanoinet.db.database import UnitOfWork
from hanoinet.db.models import OutboxMessage, RequestEventRecord, RequestRecord
from hanoinet.errors import Conflict, EnvelopeRefused, HanoinetError, NotFound, ValidationError
from hanoinet.ids import uuid7
from hanoinet.network import delivery, inbox, outbox
from hanoinet.network.directory import Declaration, MemberCard
from hanoinet.network.envelope import EnvelopePayload
from hanoinet.network.receipt import Receipt
from hanoinet.node import audit
from hanoinet.node.node import Node
from hanoinet.node.officers import Principal
from hanoinet.node.roles import Role
from hanoinet.requests import clocks
from hanoinet.requests.machine import (
    PRESERVING,
    TERMINAL,
    Action,
    Event,
    History,
    Side,
    State,
    available,
    next_event,
    replay,
)
from hanoinet.requests.messages import KIND, RequestEventBody
from hanoinet.states import check_address, split_address

log = structlog.get_logger("hanoinet.requests")

#: Roles that may act on requests. Supervisors read every desk and, as the last level of a duty alert, may
#: acknowledge; the node's administrators run the node and do not answer foreign States.
ACTING_ROLES = (Role.DUTY_OFFICER, Role.CENTRAL_AUTHORITY)
#: Clock skew allowed between an event's own time and the envelope carrying it, and around ``preserved_at``.
SKEW = timedelta(minutes=5)
#: Incoming requests of these priorities wake the officer on duty...
PAGED_PRIORITIES = frozenset({"emergency", "urgent"})
#: ... and so do the other State's acts that wait for us (what the alert calls them).
WAKING_ACTIONS = {
    Action.SEND: "new request",
    Action.CLARIFY: "question from the requested State",
    Action.NOTICE: "preservation will not secure the data or threatens confidentiality",
    Action.REFUSE: "refused",
}
SYSTEM = "system"
#: Days before a preservation ends at which its desk is warned (policy values of the Convention's clock).
_WARNING_DAYS = tuple(w.days for w in convention.PRESERVATION_CLOCK.warnings)
#: States in which a preservation request may hold preserved data, and its clock runs.
_PRESERVED_STATES = tuple(sorted(s.value for s in PRESERVING))


@dataclass(frozen=True, slots=True)
class Draft:
    """What an officer fills in to make a request."""

    kind: str
    to: str
    fields: Mapping[str, Any]
    language: str = "en"
    priority: str | None = None
    case: str | None = None
    desk: str | None = None


@dataclass(slots=True)
class Actor:
    """Who acts: an officer, or the node itself (expiry)."""

    name: str
    role: str
    desk: str | None = None
    officer_id: int | None = None
    audit_name: str = SYSTEM

    @classmethod
    def officer(cls, principal: Principal) -> Actor:
        """An authenticated officer."""
        return cls(principal.name, principal.role.value, principal.desk, principal.id, principal.actor)


# -- reading ---------------------------------------------------------------------------------------------


def _events(session: Session, request_id: str) -> list[Event]:
    rows = session.scalars(select(RequestEventRecord).where(RequestEventRecord.request_id == request_id)
                           .order_by(RequestEventRecord.id))
    return [Event(side=Side(r.side), seq=r.seq, seen=r.seen, action=Action(r.action), at=r.at,
                  by=f"{r.by_name} ({r.by_role})", data=json.loads(r.data)) for r in rows]


def _kind(name: str) -> convention.RequestKind:
    kind = convention.REQUEST_KINDS.get(name)
    if kind is None:
        raise ValidationError(f"unknown request kind {name!r}",
                              hint=f"kinds: {', '.join(sorted(convention.REQUEST_KINDS))}")
    return kind


def _history(row: RequestRecord, events: Sequence[Event]) -> History:
    kind = _kind(row.kind)
    received = format_instant(row.received_at) if row.received_at else None
    return replay(events, received_at=received, preservation=kind.preservation_clock,
                  minimum_days=convention.PRESERVATION_CLOCK.minimum.days)


def _load(session: Session, ref: str, *, lock: bool = False) -> RequestRecord:
    query = select(RequestRecord).where((RequestRecord.ref == ref) | (RequestRecord.id == ref))
    row = session.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise _not_found(ref)
    return row


def _not_found(ref: str) -> NotFound:
    # One answer whether the request is missing or another desk's: sequential references must not be probed.
    return NotFound(f"no request {ref!r} that your desk can see on this node",
                    hint="list the requests your desk can see with `hanoinet request list`")


def _our_desk(row: RequestRecord) -> str:
    return split_address(row.requesting if row.side == Side.REQUESTING else row.requested)[1]


def _check_reader(principal: Principal, row: RequestRecord, asked: str) -> None:
    """Refuse another desk's request exactly as a missing one, naming only what was ``asked`` (a ref or an id)."""
    if not principal.can_read_desk(_our_desk(row)):
        raise _not_found(asked)


def ack_target(node: Node, row: RequestRecord) -> timedelta:
    """The acknowledgement target: our desk's policy when we are asked, the Convention default otherwise."""
    if row.side == Side.REQUESTED:
        return node.settings.ack_target(_our_desk(row), row.priority)
    return convention.PRIORITIES[row.priority].acknowledge_within


def _clocks(node: Node, row: RequestRecord, history: History, t: datetime) -> list[clocks.Clock]:
    return clocks.all_clocks(
        history, t, ack_target=ack_target(node, row),
        warnings=_WARNING_DAYS,
        preservation_article=convention.PRESERVATION_CLOCK.article,
    )


def summary(row: RequestRecord, t: datetime) -> dict[str, Any]:
    """The one-line view of a request used by lists."""
    kind = _kind(row.kind)
    overdue = (row.ack_due_at is not None and row.acknowledged_at is None and row.ack_due_at < t
               and row.state == State.RECEIVED)
    warning = row.preserve_until is not None and row.state in _PRESERVED_STATES and \
        clocks.preservation_warning(row.preserve_until, t, _WARNING_DAYS) is not None
    return {
        "id": row.id, "ref": row.ref, "kind": row.kind, "kind_title": kind.title, "article": kind.article,
        "side": row.side, "requesting": row.requesting, "requested": row.requested, "priority": row.priority,
        "state": row.state, "version": row.version, "case": row.case_ref, "confidential": row.confidential,
        "do_not_notify": row.do_not_notify, "created_at": format_instant(row.created_at),
        "updated_at": format_instant(row.updated_at),
        "sent_at": format_instant(row.sent_at) if row.sent_at else None,
        "received_at": format_instant(row.received_at) if row.received_at else None,
        "acknowledged_at": format_instant(row.acknowledged_at) if row.acknowledged_at else None,
        "ack_due_at": format_instant(row.ack_due_at) if row.ack_due_at else None,
        "preserve_until": format_instant(row.preserve_until) if row.preserve_until else None,
        "overdue": overdue, "preservation_warning": warning,
    }


def list_requests(node: Node, principal: Principal, *, state: str | None = None, kind: str | None = None,
                  desk: str | None = None, overdue: bool = False, limit: int = 200) -> list[dict[str, Any]]:
    """Requests visible to the officer, newest first, optionally filtered."""
    t = now()
    with node.db.transaction(readonly=True) as uow:
        query = select(RequestRecord).order_by(RequestRecord.updated_at.desc()).limit(limit)
        if state:
            query = query.where(RequestRecord.state == state)
        if kind:
            query = query.where(RequestRecord.kind == kind)
        if overdue:
            query = query.where(RequestRecord.ack_due_at < t, RequestRecord.acknowledged_at.is_(None),
                                RequestRecord.state == State.RECEIVED)
        # Filter by desk in the query, so the limit counts only what the officer may see.
        visible = desk or (None if principal.reads_every_desk else principal.desk)
        if visible is not None:
            if not principal.can_read_desk(visible):
                return []
            address = f"{node.state}/{visible}"
            query = query.where(((RequestRecord.side == Side.REQUESTING.value) & (RequestRecord.requesting == address))
                                | ((RequestRecord.side == Side.REQUESTED.value) & (RequestRecord.requested == address)))
        rows = list(uow.session.scalars(query))
        return [summary(r, t) for r in rows]


def show(node: Node, principal: Principal, ref: str) -> dict[str, Any]:
    """Everything about one request: fields with their articles, timeline, clocks, what can be done now."""
    with node.db.transaction() as uow:
        row = _load(uow.session, ref)
        _check_reader(principal, row, ref)
        # A request holds personal data: every reading is on the audit trail.
        audit.record(uow.session, actor=principal.actor, officer_id=principal.id, action="request.view",
                     target=row.ref)
        if row.side == Side.REQUESTING and principal.desk == _our_desk(row) and \
                principal.role in (*ACTING_ROLES, Role.SUPERVISOR):
            # What woke our desk (a question, a notice, a refusal) has now been read by a person there.
            alerts.resolve(uow, subject_id=row.id, by=principal.name)
        return view(node, uow.session, row, viewer=principal)


def view(node: Node, session: Session, row: RequestRecord, *, viewer: Principal | None = None) -> dict[str, Any]:
    """The full view of ``row``, computed from its events (no access check: callers do it)."""
    t = now()
    kind = _kind(row.kind)
    events = _events(session, row.id)
    history = _history(row, events)
    our_side = Side(row.side)
    values = json.loads(row.fields)
    fields = [{"name": spec.name, "label": spec.label, "article": spec.article, "required": spec.required,
               "value": values.get(spec.name), "text": _readable(spec, values.get(spec.name))}
              for spec in kind.fields if spec.name in values or spec.required]
    result = {**summary(row, t), "kind_summary": kind.summary, "language": row.language, "fields": fields,
              "timeline": _timeline(session, row, history),
              "clocks": [c.to_json(t) for c in _clocks(node, row, history, t)],
              "allowed": _allowed_now(history, our_side, kind, viewer, _our_desk(row)),
              "result": _last_data(history, Action.EXECUTE, "result") or
              _last_data(history, Action.PARTIALLY_EXECUTE, "result"),
              "refusal": _last_data(history, Action.REFUSE, None),
              "notices": list(history.preservation.notices),
              "held_for": history.preservation.held_for}
    return result


def _readable(spec: convention.FieldSpec, value: Any) -> str:
    """A field's value as a person reads it: offences with their article and title, booleans as yes/no."""
    if value is None:
        return ""
    if spec.type == "offence" and isinstance(value, Mapping):
        offence = convention.OFFENCES.get(str(value.get("article")))
        if offence is None:
            return json.dumps(value, ensure_ascii=False)
        if offence.code == convention.SERIOUS:
            return (f"{value.get('domestic_offence')} (serious crime, Art. {offence.article}: maximum "
                    f"{value.get('max_penalty_years')} years)")
        named = f" — domestic: {value['domestic_offence']}" if value.get("domestic_offence") else ""
        return f"Art. {offence.article}: {offence.title}{named}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return "\n".join(f"• {item}" for item in value)
    return str(value)


def _allowed_now(history: History, side: Side, kind: convention.RequestKind, viewer: Principal | None,
                 desk: str) -> list[str]:
    options = available(history, side, preservation=kind.preservation_clock)
    if viewer is not None and viewer.role not in ACTING_ROLES:
        supervising = viewer.role is Role.SUPERVISOR and viewer.desk == desk
        return ["acknowledge"] if supervising and Action.ACKNOWLEDGE in options else []
    return [a.value for a in options]


def _last_data(history: History, action: Action, key: str | None) -> Any:
    event = history.last(action)
    if event is None:
        return None
    return event.data.get(key) if key else dict(event.data)


def _timeline(session: Session, row: RequestRecord, history: History) -> list[dict[str, Any]]:
    records = {(r.side, r.seq): r for r in session.scalars(
        select(RequestEventRecord).where(RequestEventRecord.request_id == row.id))}
    deliveries = {o.message_id: o for o in session.scalars(
        select(OutboxMessage).where(OutboxMessage.message_id.in_(
            [r.message_id for r in records.values() if r.message_id])))}
    parties = {Side.REQUESTING.value: row.requesting, Side.REQUESTED.value: row.requested}
    entries: list[dict[str, Any]] = []
    for outcome in history.outcomes:
        event = outcome.event
        record = records[event.key]
        entry: dict[str, Any] = {
            "at": event.at, "what": event.action.value, "side": event.side.value, "by": event.by,
            "party": parties[event.side.value], "seq": event.seq, "applied": outcome.applied,
            "state": outcome.after.value, "reason": outcome.reason, "data": dict(event.data),
        }
        sent = deliveries.get(record.message_id or "")
        if sent is not None:
            entry["delivery"] = {"status": sent.status, "attempts": sent.attempts, "error": sent.last_error,
                                 "delivered_at": format_instant(sent.delivered_at) if sent.delivered_at else None}
        entries.append(entry)
        if event.action is Action.SEND and history.received_at is not None:
            entries.append({"at": history.received_at, "what": "received", "side": Side.REQUESTED.value,
                            "by": "machine receipt", "party": row.requested, "applied": True,
                            "state": State.RECEIVED.value, "reason": "", "data": {}})
    # Events keep the canonical order both States share; alerts (ours only) slot in by time.
    pending_alerts = [{**alert, "side": Side.REQUESTED.value, "party": row.requested, "applied": True, "reason": ""}
                      for alert in sorted(alerts.timeline(session, row.id), key=lambda a: str(a["at"]))]
    merged: list[dict[str, Any]] = []
    for entry in entries:
        while pending_alerts and str(pending_alerts[0]["at"]) <= str(entry["at"]):
            merged.append(pending_alerts.pop(0))
        merged.append(entry)
    return merged + pending_alerts


# -- acting ----------------------------------------------------------------------------------------------


def _member(node: Node, state: str) -> MemberCard:
    directory = node.require_directory()
    card = directory.find(state)
    if card is None:
        raise ValidationError(f"{state} is not in the directory, so no request can be sent to it",
                              hint=f"check the State code; `hanoinet directory list` shows the "
                              f"{len(directory.members())} members of directory version {directory.version}")
    return card


def check_draft(node: Node, draft: Draft) -> tuple[str, str]:
    """Refuse a draft with every problem listed; returns the (priority, recipient address) to use."""
    kind = _kind(draft.kind)
    check_address(draft.to)
    state, desk = split_address(draft.to)
    if state == node.state:
        raise ValidationError("a request goes to another State, not to this node's own",
                              hint="address it to the other State's desk, e.g. FRA/247")
    card = _member(node, state)
    target = next((d for d in card.desks if d.id == desk), None)
    if target is None:
        raise ValidationError(f"{state} has no desk {desk!r} in the directory",
                              hint=f"its desks: {', '.join(d.id for d in card.desks)}")
    priority = draft.priority or kind.default_priority
    problems = convention.validate_request(
        draft.kind, dict(draft.fields), priority=priority, language=draft.language,
        declarations=card.declarations, desk_languages=target.languages, to=draft.to, sending_desk=draft.desk,
    )
    if problems:
        raise convention.ValidationFailed(problems)
    return priority, draft.to


def _next_ref(session: Session, state: str, t: datetime) -> str:
    prefix = f"{state}-{t.year:04d}-"
    count = session.scalar(select(func.count()).where(RequestRecord.ref.like(prefix + "%"))) or 0
    return f"{prefix}{count + 1:04d}"


def create(node: Node, principal: Principal, draft: Draft, *, send: bool = True) -> dict[str, Any]:
    """Make a request from ``draft`` (checked first, every problem listed) and send it unless asked not to."""
    principal.require_role(*ACTING_ROLES)
    desk = draft.desk or principal.desk
    if desk not in node.settings.desk_ids:
        raise ValidationError(f"this node has no desk {desk!r}",
                              hint=f"desks: {', '.join(sorted(node.settings.desk_ids))}")
    principal.require_desk(desk)
    priority, to = check_draft(node, replace(draft, desk=desk))
    for attempt in range(3):
        try:
            with node.db.transaction() as uow:
                t = now()
                values = dict(draft.fields)
                row = RequestRecord(
                    id=uuid7(), ref=_next_ref(uow.session, node.state, t), kind=draft.kind,
                    side=Side.REQUESTING.value, requesting=f"{node.state}/{desk}", requested=to, priority=priority,
                    language=draft.language, case_ref=draft.case, confidential=values.get("confidential") is True,
                    do_not_notify=values.get("do_not_notify") is True, fields=json.dumps(values, sort_keys=True),
                    state=State.DRAFT.value, version=1, created_at=t, updated_at=t, officer_id=principal.id,
                )
                uow.session.add(row)
                uow.session.flush()
                audit.record(uow.session, actor=principal.actor, officer_id=principal.id, action="request.create",
                             target=row.ref, detail={"kind": draft.kind, "to": to})
                if send:
                    _act(node, uow, row, Actor.officer(principal), Action.SEND, data={})
                return view(node, uow.session, row, viewer=principal)
        except IntegrityError:  # two officers took the same reference at once on PostgreSQL; take the next
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def edit(node: Node, principal: Principal, ref: str, draft: Draft, *, version: int | None = None) -> dict[str, Any]:
    """Replace what a draft asks (recipient, fields, language, priority, case), checked as a new request is.

    Only a draft can change: nothing of it has reached the other State (a request the other State did not take
    is a draft again, section 13.4 of docs/requests.md). It keeps its reference, kind and sending desk.
    """
    principal.require_role(*ACTING_ROLES)
    with node.db.transaction() as uow:
        row = _load_to_act(uow.session, principal, ref, version)
        if row.state != State.DRAFT.value:
            raise Conflict(f"request {row.ref} is {row.state}, not a draft: what was sent cannot be changed",
                           hint="withdraw it if it is no longer right, and make a new request",
                           code="not_a_draft")
        if draft.kind != row.kind:
            raise ValidationError(f"request {row.ref} is a {row.kind} request; a draft keeps its kind",
                                  hint=f"make a new request of kind {draft.kind}")
        if draft.desk is not None and draft.desk != _our_desk(row):
            raise ValidationError(f"request {row.ref} is sent by desk {_our_desk(row)}; a draft keeps its desk",
                                  hint="make a new request from the other desk")
        priority, to = check_draft(node, draft)
        values = dict(draft.fields)
        before = json.loads(row.fields)
        changed = sorted([name for name in set(before) | set(values) if before.get(name) != values.get(name)]
                         + [name for name, old, new in (("to", row.requested, to), ("priority", row.priority, priority),
                                                        ("language", row.language, draft.language),
                                                        ("case", row.case_ref, draft.case)) if old != new])
        row.requested, row.priority, row.language, row.case_ref = to, priority, draft.language, draft.case
        row.fields = json.dumps(values, sort_keys=True)
        row.confidential = values.get("confidential") is True
        row.do_not_notify = values.get("do_not_notify") is True
        row.version += 1
        row.updated_at = now()
        # Names only: the values may hold personal data, and the audit trail is read more widely.
        audit.record(uow.session, actor=principal.actor, officer_id=principal.id, action="request.edit",
                     target=row.ref, detail={"changed": changed})
        return view(node, uow.session, row, viewer=principal)


def act(node: Node, principal: Principal, ref: str, action: Action, data: Mapping[str, Any], *,
        version: int | None = None) -> dict[str, Any]:
    """Take ``action`` on a request as ``principal``; ``version`` guards against a concurrent change."""
    if action is Action.ACKNOWLEDGE:
        principal.require_role(*ACTING_ROLES, Role.SUPERVISOR)
    else:
        principal.require_role(*ACTING_ROLES)
    if action is Action.EXPIRE:
        raise ValidationError("preservation expires by itself when its period ends",
                              hint="to end it earlier the requesting State releases the data "
                                   "(`hanoinet request release REF`)")
    with node.db.transaction() as uow:
        row = _load_to_act(uow.session, principal, ref, version)
        result = data.get("result")
        if isinstance(result, Mapping):  # an officer's times, with any offset, as the protocol's UTC instants
            data = {**data, "result": convention.canonical_result(row.kind, result)}
        _act(node, uow, row, Actor.officer(principal), action, data=data)
        return view(node, uow.session, row, viewer=principal)


def _load_to_act(session: Session, principal: Principal, ref: str, version: int | None) -> RequestRecord:
    """The request, locked, if ``principal``'s desk may act on it and it is still at ``version`` (when given)."""
    row = _load(session, ref, lock=True)
    _check_reader(principal, row, ref)
    principal.require_desk(_our_desk(row))
    if version is not None and version != row.version:
        raise Conflict(
            f"request {row.ref} changed since you read it: it is now version {row.version} "
            f"({row.state}), you acted on version {version}",
            hint=f"look at it again (`hanoinet request show {row.ref}`) and decide again", code="request_changed",
        )
    return row


def _check_data(row: RequestRecord, action: Action, data: Mapping[str, Any], *,
                requested_declarations: Sequence[Declaration] | None, latest: datetime) -> dict[str, Any]:
    """The data an action carries, checked (ours before sending, the peer's on receipt); every problem listed.

    ``requested_declarations`` are the requested State's, which decide whether a refusal ground is available;
    ``None`` on receipt, where our copy of the directory may be older than the author's: the ground must then
    only exist. ``latest`` bounds ``preserved_at`` (now, or the envelope's creation time, plus skew).
    """
    def need(name: str, what: str) -> str:
        value = data.get(name)
        if not isinstance(value, str) or not value.strip():
            raise ValidationError(f"{action.value}: {name} is required: {what}")
        return value.strip()

    note = data.get("note")
    extra: dict[str, Any] = {"note": note.strip()} if isinstance(note, str) and note.strip() else {}
    if action is Action.CLARIFY:
        return {"question": need("question", "what the requested State needs to know"), **extra}
    if action is Action.ANSWER:
        return {"answer": need("answer", "the answer to the question asked"), **extra}
    if action in (Action.EXECUTE, Action.PARTIALLY_EXECUTE):
        result = data.get("result")
        if not isinstance(result, Mapping):
            raise ValidationError(f"{action.value}: result is required (an object with the result fields)",
                                  hint=f"see `hanoinet request show {row.ref}` and docs/convention.md")
        problems = convention.validate_result(row.kind, dict(result))
        if problems:
            raise convention.ValidationFailed(problems)
        _check_preserved_at(row, result.get("preserved_at"), latest)
        return {"result": dict(result), **extra}
    if action is Action.REFUSE:
        ground = data.get("ground")
        reasons = data.get("reasons")
        offence = json.loads(row.fields).get("offence")
        if requested_declarations is None:
            if ground not in convention.REFUSAL_GROUNDS or not isinstance(reasons, str) or not reasons.strip():
                raise ValidationError(f"refuse: {ground!r} is not a ground, or the reasons are missing")
            return {"ground": ground, "reasons": reasons, **extra}
        problems = convention.validate_refusal(row.kind, ground if isinstance(ground, str) else "",
                                               reasons if isinstance(reasons, str) else "",
                                               declarations=requested_declarations,
                                               offence=offence if isinstance(offence, Mapping) else None)
        if problems:
            raise convention.ValidationFailed(problems)
        return {"ground": ground, "reasons": reasons, **extra}
    if action is Action.WITHDRAW:
        return {"reason": need("reason", "why the request is no longer needed"), **extra}
    if action is Action.NOTICE:
        notice = data.get("notice")
        if notice not in ("will_not_secure", "threatens_confidentiality"):
            raise ValidationError("notice: say which: will_not_secure (preservation will not secure the data) or "
                                  "threatens_confidentiality (it would threaten the investigation's confidentiality)")
        return {"notice": notice, "text": need("text", "what the requesting State should know"), **extra}
    if action is Action.EXTEND:
        days = data.get("days", convention.PRESERVATION_CLOCK.default_extension.days)
        if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 365:
            raise ValidationError("extend: days must be a whole number of days from 1 to 365")
        return {"days": days, "reason": need("reason", "why the data must be kept longer"), **extra}
    if action is Action.FOLLOW_UP:
        return {"mla_ref": need("mla_ref", "the reference of the mutual legal assistance request sent"), **extra}
    if action is Action.RELEASE:
        return {"reason": need("reason", "why the preserved data are no longer needed"), **extra}
    return extra


def _check_preserved_at(row: RequestRecord, value: Any, latest: datetime) -> None:
    """``preserved_at`` starts a clock that ends in releasing data: a mistyped year must not release them now."""
    if not isinstance(value, str):
        return
    preserved = parse_instant(value, field="preserved_at")
    earliest = (row.received_at or row.created_at) - SKEW
    if not earliest <= preserved <= latest:
        raise ValidationError(
            f"preserved_at {value} is outside the life of this request ({format_instant(earliest)} to "
            f"{format_instant(latest)})",
            hint="give the instant the provider actually preserved the data (check the year and the offset)",
        )


def _declarations(node: Node, state: str) -> Sequence[Declaration]:
    card = node.require_directory().find(state)
    return card.declarations if card is not None else ()


def _act(node: Node, uow: UnitOfWork, row: RequestRecord, actor: Actor, action: Action, *,
         data: Mapping[str, Any]) -> None:
    session = uow.session
    side = Side(row.side)
    events = _events(session, row.id)
    kind = _kind(row.kind)
    received = format_instant(row.received_at) if row.received_at else None
    # Whether the action is allowed at all comes first: no point listing data problems of an illegal act.
    next_event(events, side, action, at=now(), preservation=kind.preservation_clock, received_at=received,
               minimum_days=convention.PRESERVATION_CLOCK.minimum.days)
    if action is Action.SEND:
        check_draft(node, Draft(kind=row.kind, to=row.requested, fields=json.loads(row.fields),
                                language=row.language, priority=row.priority, case=row.case_ref))
        payload_data: dict[str, Any] = {
            "kind": row.kind, "priority": row.priority, "language": row.language, "fields": json.loads(row.fields),
        }
    else:
        payload_data = _check_data(row, action, data, latest=now() + SKEW,
                                   requested_declarations=_declarations(node, split_address(row.requested)[0]))
    t = now()
    event = next_event(
        events, side, action, at=t, by=f"{actor.name} ({actor.role})", data=payload_data,
        preservation=kind.preservation_clock, minimum_days=convention.PRESERVATION_CLOCK.minimum.days,
        received_at=received,
    )
    body = RequestEventBody.model_validate({
        "request": row.id, "ref": row.ref, "side": side.value, "seq": event.seq, "seen": event.seen,
        "action": action.value, "at": event.at, "by": {"name": actor.name, "role": actor.role}, "data": payload_data,
    })
    ours, theirs = (row.requesting, row.requested) if side is Side.REQUESTING else (row.requested, row.requesting)
    message = outbox.enqueue(node, uow, sender_desk=split_address(ours)[1], recipient=theirs, kind=KIND,
                             body=body.model_dump(mode="json"), case=row.case_ref, actor=actor.audit_name,
                             officer_id=actor.officer_id)
    _store_event(session, row, event, message_id=message.message_id, by_name=actor.name, by_role=actor.role, t=t)
    _refresh(node, session, row, t, [*events, event])
    if action is not Action.EXPIRE:
        # Any act of a person at the desk (acknowledging, but also refusing at once) ends the escalation.
        alerts.resolve(uow, subject_id=row.id, by=actor.name)
    audit.record(session, actor=actor.audit_name, officer_id=actor.officer_id, action=f"request.{action.value}",
                 target=row.ref, detail={"seq": event.seq, "side": side.value})


def _store_event(session: Session, row: RequestRecord, event: Event, *, message_id: str | None, by_name: str,
                 by_role: str, t: datetime) -> None:
    session.add(RequestEventRecord(
        request_id=row.id, side=event.side.value, seq=event.seq, seen=event.seen, action=event.action.value,
        at=event.at, by_name=by_name, by_role=by_role, data=json.dumps(dict(event.data), sort_keys=True),
        message_id=message_id, recorded_at=t,
    ))
    session.flush()


def _refresh(node: Node, session: Session, row: RequestRecord, t: datetime,
             events: Sequence[Event] | None = None) -> History:
    """Recompute the derived columns from the events (read again unless the caller holds them all) and bump the
    version."""
    history = _history(row, _events(session, row.id) if events is None else events)
    row.state = history.state.value
    send = history.last(Action.SEND)
    ack = history.last(Action.ACKNOWLEDGE)
    row.sent_at = parse_instant(send.at) if send else None
    if history.received_at is not None:
        row.received_at = parse_instant(history.received_at)
        row.ack_due_at = row.received_at + ack_target(node, row)
    row.acknowledged_at = parse_instant(ack.at) if ack else None
    until = history.preservation.until if history.preservation.held_for is None else None
    if until != row.preserve_until:
        row.preservation_warned_days = None  # a new end (extended, held, released) gets its own warnings
    row.preserve_until = until
    final = history.state in TERMINAL or history.state is State.EXECUTED
    row.closed_at = (row.closed_at or t) if final else None
    row.version += 1
    row.updated_at = t
    return history


# -- the other side's acts -------------------------------------------------------------------------------


def receive_event(node: Node, uow: UnitOfWork, payload: EnvelopePayload, received_at: datetime) -> None:
    """Apply a transition sent by the other State (inbox handler, in the transaction storing the envelope)."""
    body = RequestEventBody.model_validate(payload.body)
    event = body.event()
    session = uow.session
    row: RequestRecord | None
    if event.action is Action.SEND:
        if event.seq != 1 or event.side is not Side.REQUESTING:
            raise EnvelopeRefused("a request is sent once, as the requesting State's first event",
                                  code="illegal_transition")
        existing = session.scalar(select(RequestRecord).where(
            (RequestRecord.id == body.request) | (RequestRecord.ref == body.ref)))
        if existing is not None:
            if existing.id == body.request and _same_as_held(_events(session, existing.id), event):
                return  # the same event in a new envelope (a sender restored from backup): nothing to do
            raise EnvelopeRefused(f"request {body.request} or reference {body.ref} exists already",
                                  code="request_conflict")
        row = _open_incoming(node, session, payload, body, received_at)
    else:
        # Locked: an officer's act on this request in another transaction must not be overwritten.
        row = session.get(RequestRecord, body.request, with_for_update=True)
        if row is None:
            raise EnvelopeRefused(f"no request {body.request} here yet", code="out_of_order",
                                  hint="the request itself has not arrived; it will be retried")
    side = Side(row.side)
    if event.side is side:
        raise EnvelopeRefused(f"an event of the {side.value} State must come from this node, not from a peer",
                              code="illegal_transition")
    peer = row.requesting if event.side is Side.REQUESTING else row.requested
    if payload.sender != peer or payload.recipient != (row.requested if peer == row.requesting else row.requesting):
        raise EnvelopeRefused(f"request {row.ref} is between {row.requesting} and {row.requested}, "
                              f"not {payload.sender} and {payload.recipient}", code="not_party")
    events = _events(session, row.id)
    known = [e for e in events if e.side is event.side]
    mine = [e for e in events if e.side is side]
    if event.seq <= len(known):
        if _same_as_held(known, event):
            return
        raise EnvelopeRefused(f"event {event.seq} of request {row.ref} was already received with other content",
                              code="request_conflict")
    if event.seq > len(known) + 1:
        raise EnvelopeRefused(f"event {event.seq} of request {row.ref} arrived before event {len(known) + 1}",
                              hint="it will be accepted once the earlier one arrives", code="out_of_order")
    if body.ref != row.ref:
        raise EnvelopeRefused(f"request {row.id} is {row.ref}, not {body.ref}", code="not_party")
    if event.seen > len(mine):
        raise EnvelopeRefused(f"event {event.seq} claims to have seen {event.seen} of our events; we sent "
                              f"{len(mine)}", code="illegal_transition")
    _check_time(row, event, known, mine, parse_instant(payload.created))
    kind = _kind(row.kind)
    # The author's view: its own earlier events and what it had seen of ours.
    authors_view = [*known, *mine[: event.seen]]
    try:
        next_event(authors_view, event.side, event.action, at=parse_instant(event.at), data=event.data,
                   preservation=kind.preservation_clock, minimum_days=convention.PRESERVATION_CLOCK.minimum.days,
                   received_at=event.at if event.side is Side.REQUESTED else None)
    except HanoinetError as exc:
        raise EnvelopeRefused(f"request {row.ref}: {exc.message}", hint=exc.hint, code="illegal_transition") from None
    if event.action is not Action.SEND:
        try:
            checked = _check_data(row, event.action, event.data, requested_declarations=None,
                                  latest=parse_instant(payload.created) + SKEW)
        except HanoinetError as exc:
            raise EnvelopeRefused(f"request {row.ref}: {event.action.value}: {exc.message}",
                                  code="invalid_request") from None
        if event.action is Action.EXTEND and "days" not in event.data:
            raise EnvelopeRefused(f"request {row.ref}: extend must say how many days", code="invalid_request")
        unexpected = sorted(set(event.data) - set(checked) - {"note"})
        if unexpected:
            raise EnvelopeRefused(f"request {row.ref}: {event.action.value} carries members it does not have: "
                                  f"{unexpected}", code="invalid_request")
    _store_event(session, row, event, message_id=payload.id, by_name=body.by.name, by_role=body.by.role,
                 t=received_at)
    if event.action is Action.SEND:
        row.received_at = received_at
    history = _refresh(node, session, row, received_at, [*events, event])
    if row.priority in PAGED_PRIORITIES and event.action in WAKING_ACTIONS:
        alerts.page(node, uow, subject_id=row.id, subject_ref=row.ref, desk=_our_desk(row), priority=row.priority,
                    headline=_headline(row, kind, WAKING_ACTIONS[event.action],
                                       row.requesting if event.action is Action.SEND else row.requested))
    if event.side is Side.REQUESTING and history.state in TERMINAL:
        alerts.resolve(uow, subject_id=row.id, by=f"{history.state.value} by {row.requesting}")
    audit.record(session, actor=f"peer:{payload.sender}", action=f"request.{event.action.value}", target=row.ref,
                 detail={"seq": event.seq, "side": event.side.value, "state": row.state})


def _headline(row: RequestRecord, kind: convention.RequestKind, what: str, party: str) -> str:
    """What an alert says: never the facts; for a confidential request not even the State or the kind."""
    if row.confidential:
        return f"{what}: confidential request {row.ref}"
    return f"{what}: request {row.ref} ({party}): {kind.title} (Art. {kind.article})"


def _same_as_held(held_events: Sequence[Event], event: Event) -> bool:
    held = next((e for e in held_events if e.key == event.key), None)
    return held is not None and (held.seen, held.action, held.at, dict(held.data)) == \
        (event.seen, event.action, event.at, dict(event.data))


def _check_time(row: RequestRecord, event: Event, known: Sequence[Event], mine: Sequence[Event],
                created: datetime) -> None:
    """An event's time is its envelope's, and never before what its author had already done or seen.

    Clocks are computed from these times on both sides, so a back-dated acknowledgement would fake a met
    target and a future-dated expiry would release data early.
    """
    at = parse_instant(event.at, field="at")
    if abs(at - created) > SKEW:
        raise EnvelopeRefused(f"event {event.seq} of {row.ref} is dated {event.at}, but its envelope was created "
                              f"at {format_instant(created)}", code="invalid_request")
    before = [parse_instant(e.at) for e in [*known, *mine[: event.seen]]]
    if event.side is Side.REQUESTED and row.received_at is not None:
        before.append(row.received_at)
    if before and at < max(before) - SKEW:
        raise EnvelopeRefused(f"event {event.seq} of {row.ref} is dated {event.at}, before events it follows "
                              f"({format_instant(max(before))})", code="invalid_request")


def _open_incoming(node: Node, session: Session, payload: EnvelopePayload, body: RequestEventBody,
                   received_at: datetime) -> RequestRecord:
    data = body.data
    kind_name, priority, language, values = (data.get("kind"), data.get("priority"), data.get("language"),
                                              data.get("fields"))
    if not (isinstance(kind_name, str) and isinstance(priority, str) and isinstance(language, str)
            and isinstance(values, dict)):
        raise EnvelopeRefused("a sent request carries kind, priority, language and fields", code="invalid_request")
    if not body.ref.startswith(split_address(payload.sender)[0] + "-"):
        raise EnvelopeRefused(f"reference {body.ref} does not start with the requesting State's code",
                              code="invalid_request")
    if kind_name not in convention.REQUEST_KINDS:
        raise EnvelopeRefused(f"request kind {kind_name!r} is not known to this node", code="invalid_request")
    card = node.require_directory().find(node.state)
    desk = split_address(payload.recipient)[1]
    target = next((d for d in card.desks if d.id == desk), None) if card is not None else None
    problems = convention.validate_request(
        kind_name, values, priority=priority, language=language,
        declarations=card.declarations if card is not None else (),
        desk_languages=target.languages if target is not None else (),
    )
    if problems:
        raise EnvelopeRefused(
            "the request is incomplete or malformed: " + "; ".join(
                f"{p.field} (Art. {p.article}): {p.message}" for p in problems),
            code="invalid_request",
        )
    row = RequestRecord(
        id=body.request, ref=body.ref, kind=kind_name, side=Side.REQUESTED.value, requesting=payload.sender,
        requested=payload.recipient, priority=priority, language=language, case_ref=payload.case,
        confidential=values.get("confidential") is True, do_not_notify=values.get("do_not_notify") is True,
        fields=json.dumps(values, sort_keys=True), state=State.DRAFT.value, version=0, created_at=received_at,
        updated_at=received_at,
    )
    session.add(row)
    session.flush()
    return row


def settled(node: Node, uow: UnitOfWork, message_id: str, receipt: Receipt | None, error: str | None) -> None:
    """Delivery hook: the receipt for our ``send`` makes the request ``received`` on our side too, at the time
    the receiver signed, so both sides show the same instant."""
    session = uow.session
    record = session.scalar(select(RequestEventRecord).where(RequestEventRecord.message_id == message_id))
    if record is None or record.action != Action.SEND:
        return
    row = session.get(RequestRecord, record.request_id, with_for_update=True)
    if row is None:
        return
    if receipt is None:
        _send_refused(session, row, error or "no receipt")
        return
    # The receipt's time is authoritative, also when an answer from the peer arrived before it.
    row.received_at = parse_instant(receipt.received_at)
    _refresh(node, session, row, now())


def _send_refused(session: Session, row: RequestRecord, error: str) -> None:
    """The other State refused our request itself (or never took it): it goes back to draft, loudly.

    Its events are removed (the outbox keeps the refused envelopes and their errors for the record): none can
    have reached the other State without the first, and the request can be sent again as event 1 once the
    cause is cleared.
    """
    for held in session.scalars(select(RequestEventRecord).where(RequestEventRecord.request_id == row.id)):
        session.delete(held)
    row.state = State.DRAFT.value
    row.sent_at = None
    row.version += 1
    row.updated_at = now()
    audit.record(session, actor=SYSTEM, action="request.send_failed", target=row.ref, detail={"error": error})
    audit.alarm(session, code="request_not_delivered",
                message=f"request {row.ref} to {row.requested} was not accepted: {error}; it is a draft again",
                detail={"ref": row.ref, "error": error}, desk=_our_desk(row))


# -- the node's own clock work ---------------------------------------------------------------------------


def expire_due(node: Node) -> list[str]:
    """Expire the preservations we hold whose period ended without extension or follow-up; returns refs.

    Expiry waits for the delivery cut-off after the period ends: an extension or follow-up the requesting
    State sent in time is either delivered by then or reported to it as undeliverable, so the race rule (our
    expiry first) never discards one that was merely delayed by the network.
    """
    cutoff = now() - timedelta(seconds=node.settings.undeliverable_after_seconds)
    with node.db.transaction(readonly=True) as uow:
        refs = list(uow.session.scalars(select(RequestRecord.ref).where(
            RequestRecord.side == Side.REQUESTED.value, RequestRecord.state.in_(_PRESERVED_STATES),
            RequestRecord.preserve_until.is_not(None), RequestRecord.preserve_until <= cutoff)))
    expired = []
    for ref in refs:
        try:
            with node.db.transaction() as uow:
                row = _load(uow.session, ref, lock=True)
                if row.state not in _PRESERVED_STATES or row.preserve_until is None or row.preserve_until > cutoff:
                    continue
                _act(node, uow, row, Actor(name=node.state, role=SYSTEM), Action.EXPIRE, data={})
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
                         RequestRecord.preservation_warned_days > days)) for days in _WARNING_DAYS))
    with node.db.transaction(readonly=True) as uow:
        refs = list(uow.session.scalars(select(RequestRecord.ref).where(
            RequestRecord.side == Side.REQUESTING.value, RequestRecord.state.in_(_PRESERVED_STATES),
            RequestRecord.preserve_until.is_not(None), due).order_by(RequestRecord.preserve_until, RequestRecord.ref)))
    paged = []
    for ref in refs:
        try:
            if _warn(node, ref, t):
                paged.append(ref)
        except Exception:  # one request must not hold back the others' warnings; it is retried next round
            log.exception("could not warn of a preservation ending soon", ref=ref)
    return paged


def _warn(node: Node, ref: str, t: datetime) -> bool:
    with node.db.transaction() as uow:
        row = _load(uow.session, ref, lock=True)
        until = row.preserve_until
        days = clocks.preservation_warning(until, t, _WARNING_DAYS) if until is not None else None
        if until is None or days is None or row.state not in _PRESERVED_STATES or (
                row.preservation_warned_days is not None and row.preservation_warned_days <= days):
            return False
        row.preservation_warned_days = days
        desk, headline = _our_desk(row), _warning_headline(row, _kind(row.kind), days, ended=until <= t)
        if desk in node.settings.desk_ids:
            alerts.page(node, uow, subject_id=row.id, subject_ref=row.ref, desk=desk, headline=headline,
                        priority="urgent" if days == min(_WARNING_DAYS) else "normal", supersede=True)
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
    return _headline(row, kind, what, row.requested)


async def keep_clocks(node: Node, stop: asyncio.Event, *, interval: float = 30.0) -> None:
    """Background task: expire lapsed preservations and warn of those ending soon (a failure is logged and
    retried next round)."""
    while not stop.is_set():
        for job in (expire_due, warn_due):
            try:
                await asyncio.to_thread(job, node)
            except Exception:  # the loop must survive a bad round; the next one retries
                log.exception("clock work failed", job=job.__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


inbox.on_receive(KIND, receive_event)
delivery.on_settled(KIND, settled)
