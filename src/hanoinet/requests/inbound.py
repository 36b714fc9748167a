"""What the other State's node sends about a request: its events, and the receipts for ours.

``receive_event`` is the inbox handler of ``request.event`` (docs/protocol.md, section 10.2): it runs in the
transaction that stores the envelope, makes the checks listed there and refuses with their codes, so a
refused event leaves nothing behind and the sender learns why. ``settled`` is the delivery hook that makes our
``send`` received at the instant the other node signed. Both are registered when this module is imported;
``commands`` imports it (it checks our own acts with :func:`check_data`), so every process that makes
requests takes the answers and receipts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hanoinet import convention
from hanoinet.alerts import service as alerts
from hanoinet.clock import format_instant, now, parse_instant
from hanoinet.db.database import UnitOfWork
from hanoinet.db.models import RequestEventRecord, RequestRecord
from hanoinet.errors import EnvelopeRefused, HanoinetError, ValidationError
from hanoinet.network import delivery, inbox
from hanoinet.network.directory import Declaration
from hanoinet.network.envelope import EnvelopePayload
from hanoinet.network.receipt import Receipt
from hanoinet.node import audit
from hanoinet.node.node import Node
from hanoinet.requests.machine import TERMINAL, Action, Event, Side, State, next_event, requires_consultation
from hanoinet.requests.messages import KIND, RequestEventBody
from hanoinet.requests.records import SYSTEM, events_of, headline, kind_of, our_desk, refresh, store_event
from hanoinet.states import split_address

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
            if existing.id == body.request and _same_as_held(events_of(session, existing.id), event):
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
    events = events_of(session, row.id)
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
    kind = kind_of(row.kind)
    # The author's view: its own earlier events and what it had seen of ours.
    authors_view = [*known, *mine[: event.seen]]
    try:
        next_event(authors_view, event.side, event.action, at=parse_instant(event.at), data=event.data,
                   preservation=kind.preservation_clock, minimum_days=convention.PRESERVATION_CLOCK.minimum.days,
                   received_at=event.at if event.side is Side.REQUESTED else None,
                   consultation=requires_consultation(row.kind))
    except HanoinetError as exc:
        raise EnvelopeRefused(f"request {row.ref}: {exc.message}", hint=exc.hint, code="illegal_transition") from None
    if event.action is not Action.SEND:
        try:
            checked = check_data(row, event.action, event.data, requested_declarations=None,
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
    store_event(session, row, event, message_id=payload.id, by_name=body.by.name, by_role=body.by.role,
                 t=received_at)
    if event.action is Action.SEND:
        row.received_at = received_at
    history = refresh(node, session, row, received_at, [*events, event])
    if row.priority in PAGED_PRIORITIES and event.action in WAKING_ACTIONS:
        alerts.page(node, uow, subject_id=row.id, subject_ref=row.ref, desk=our_desk(row), priority=row.priority,
                    headline=headline(row, kind, WAKING_ACTIONS[event.action],
                                       row.requesting if event.action is Action.SEND else row.requested))
    if event.side is Side.REQUESTING and history.state in TERMINAL:
        alerts.resolve(uow, subject_id=row.id, by=f"{history.state.value} by {row.requesting}")
    audit.record(session, actor=f"peer:{payload.sender}", action=f"request.{event.action.value}", target=row.ref,
                 detail={"seq": event.seq, "side": event.side.value, "state": row.state})


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


def check_data(row: RequestRecord, action: Action, data: Mapping[str, Any], *,
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
                                  hint=f"see `hanoinet request show {row.ref} --reason 'to give its result'` "
                                  "and docs/convention.md")
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
    if action is Action.CONSULT:
        return {**_consultation_data(row, data, requested_declarations), **extra}
    if action is Action.REPLY:
        return {"reply": need("reply", "the requesting State's reply to the consultation"), **extra}
    if action is Action.POSTPONE:
        return {"reasons": need("reasons", "why execution is postponed"),
                "until": _instant(data, "until", "the date and time until which execution is postponed"), **extra}
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


def _instant(data: Mapping[str, Any], name: str, what: str) -> str:
    """``data[name]``, an instant with its offset, as the protocol's UTC form."""
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{name} is required: {what}",
                              hint="give a date and time with its offset, e.g. 2027-01-15T09:00:00+01:00")
    return format_instant(parse_instant(value.strip(), field=name))


def _consultation_data(row: RequestRecord, data: Mapping[str, Any],
                       requested_declarations: Sequence[Declaration] | None) -> dict[str, Any]:
    """A consultation's members, checked against the Convention (Art. 40): ground, reasons, reply-by date.

    As for a refusal, the ground must be one the requested State may cite under its declarations; on receipt
    (``requested_declarations`` is ``None``) it must only exist.
    """
    considering, ground, reasons = data.get("considering"), data.get("ground"), data.get("reasons")
    considering = considering.strip() if isinstance(considering, str) else ""
    reasons = reasons.strip() if isinstance(reasons, str) else ""
    named = ground if isinstance(ground, str) or ground is None else repr(ground)
    if requested_declarations is None and considering == "refusal":
        if ground not in convention.REFUSAL_GROUNDS or not reasons:
            raise ValidationError(f"consult: {ground!r} is not a ground for refusal, or the reasons are missing")
        problems: list[convention.Problem] = []
    else:
        offence = json.loads(row.fields).get("offence")
        problems = convention.validate_consultation(
            row.kind, considering, named, reasons, declarations=requested_declarations or (),
            offence=offence if isinstance(offence, Mapping) else None)
    if problems:
        raise convention.ValidationFailed(problems)
    checked: dict[str, Any] = {"considering": considering, "reasons": reasons,
                               "reply_by": _instant(data, "reply_by", "the date by which the requesting State may "
                                                    "reply to the consultation")}
    if ground is not None:
        checked["ground"] = ground
    return checked


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
    refresh(node, session, row, now())


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
                detail={"ref": row.ref, "error": error}, desk=our_desk(row))


inbox.on_receive(KIND, receive_event)
delivery.on_settled(KIND, settled)
