"""What an officer does to a request: draft it, change the draft, send it and act on it.

An officer's act is checked first for the officer's role and desk and the ``version`` read; from there every
act, the node's own (expiry) too, takes one path, :func:`act_as`: checked against the state machine and the
Convention's rules for its data, stored as an event, and sent to the other State in the same transaction
(outbox), so both nodes hold the same events. The data of an act are checked as the other node checks them
on receipt (:func:`hanoinet.requests.inbound.check_data`), so what we send is not refused for them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hanoinet import convention
from hanoinet.alerts import service as alerts
from hanoinet.clock import format_instant, now
from hanoinet.db.database import UnitOfWork
from hanoinet.db.models import RequestRecord
from hanoinet.errors import Conflict, Forbidden, ValidationError
from hanoinet.ids import uuid7
from hanoinet.network import outbox
from hanoinet.network.directory import Declaration, MemberCard
from hanoinet.node import audit
from hanoinet.node.node import Node
from hanoinet.node.officers import Principal
from hanoinet.node.roles import Role
from hanoinet.requests.inbound import SKEW, check_data
from hanoinet.requests.machine import (
    Action,
    ApprovalRequired,
    Officer,
    Side,
    State,
    approve,
    next_event,
    requires_consultation,
)
from hanoinet.requests.messages import KIND, RequestEventBody
from hanoinet.requests.records import (
    ACTING_ROLES,
    SYSTEM,
    check_reader,
    events_of,
    kind_of,
    load_request,
    our_desk,
    refresh,
    store_event,
)
from hanoinet.requests.views import view
from hanoinet.states import check_address, split_address


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
    kind = kind_of(draft.kind)
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
    if send and draft.kind in node.settings.approval_required_kinds:
        raise ApprovalRequired(f"a {draft.kind} request must be approved by a supervisor before it is sent "
                               "(four eyes, a setting of this node)",
                               hint=f"make it as a draft (`hanoinet request new --draft`, or send: false), then have "
                                    f"a supervisor of desk {desk} other than you approve it "
                                    "(`hanoinet request approve REF`) and send it")
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
                    act_as(node, uow, row, Actor.officer(principal), Action.SEND, data={})
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
        if draft.desk is not None and draft.desk != our_desk(row):
            raise ValidationError(f"request {row.ref} is sent by desk {our_desk(row)}; a draft keeps its desk",
                                  hint="make a new request from the other desk")
        priority, to = check_draft(node, replace(draft, desk=our_desk(row)))
        values = dict(draft.fields)
        before = json.loads(row.fields)
        changed = sorted([name for name in set(before) | set(values) if before.get(name) != values.get(name)]
                         + [name for name, old, new in (("to", row.requested, to), ("priority", row.priority, priority),
                                                        ("language", row.language, draft.language),
                                                        ("case", row.case_ref, draft.case)) if old != new])
        row.requested, row.priority, row.language, row.case_ref = to, priority, draft.language, draft.case
        row.fields = json.dumps(values, sort_keys=True)
        if row.approval is not None:
            changed.append("approval (void: the contents changed)")
            row.approval = None
        row.confidential = values.get("confidential") is True
        row.do_not_notify = values.get("do_not_notify") is True
        row.version += 1
        row.updated_at = now()
        # Names only: the values may hold personal data, and the audit trail is read more widely.
        audit.record(uow.session, actor=principal.actor, officer_id=principal.id, action="request.edit",
                     target=row.ref, detail={"changed": changed})
        return view(node, uow.session, row, viewer=principal)


def approve_draft(node: Node, principal: Principal, ref: str, *, version: int | None = None) -> dict[str, Any]:
    """A supervisor of the draft's desk, other than its author, approves its contents as they stand (four eyes).

    The approval names the digest of what the ``send`` will carry, is kept with the draft (an edit voids it)
    and travels in the ``send``, so both States see who approved what, and when.
    """
    principal.require_role(Role.SUPERVISOR, *ACTING_ROLES)
    with node.db.transaction() as uow:
        row = load_request(uow.session, ref, lock=True)
        check_reader(principal, row, ref)
        desk = our_desk(row)
        if principal.role is Role.SUPERVISOR and principal.desk != desk:
            raise Forbidden(f"{principal.name} supervises desk {principal.desk}; request {row.ref} is desk {desk}'s",
                            hint=f"ask a supervisor of desk {desk} to approve it", code="approval_required")
        if version is not None and version != row.version:
            raise Conflict(f"request {row.ref} changed since you read it: it is now version {row.version}, you "
                           f"approved version {version}", code="request_changed",
                           hint=f"read it again (`hanoinet request show {row.ref} --reason 'to approve it'`) "
                                "and approve what it now says")
        if row.state != State.DRAFT.value or row.side != Side.REQUESTING.value:
            raise Conflict(f"request {row.ref} is {row.state}: only an outgoing draft is approved before sending",
                           hint="nothing to approve", code="not_a_draft")
        approval = approve(send_content(row), officer=Officer(str(principal.id), principal.name, principal.role.value),
                           author=str(row.officer_id or ""), at=now())
        row.approval = json.dumps(approval, sort_keys=True)
        row.version += 1
        row.updated_at = now()
        audit.record(uow.session, actor=principal.actor, officer_id=principal.id, action="request.approve",
                     target=row.ref, detail={"digest": approval["digest"]})
        return view(node, uow.session, row, viewer=principal)


def send_content(row: RequestRecord) -> dict[str, Any]:
    """What the ``send`` of a draft carries, its approval left out: contents, and the deadline with its reasons."""
    fields = json.loads(row.fields)
    content: dict[str, Any] = {"kind": row.kind, "priority": row.priority, "language": row.language,
                               "fields": fields}
    if isinstance(fields.get("deadline"), str) and isinstance(fields.get("deadline_reason"), str):
        content["deadline"] = {"due": fields["deadline"], "reasons": fields["deadline_reason"]}
    return content


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
        act_as(node, uow, row, Actor.officer(principal), action, data=data)
        return view(node, uow.session, row, viewer=principal)


def _load_to_act(session: Session, principal: Principal, ref: str, version: int | None) -> RequestRecord:
    """The request, locked, if ``principal``'s desk may act on it and it is still at ``version`` (when given)."""
    row = load_request(session, ref, lock=True)
    check_reader(principal, row, ref)
    principal.require_desk(our_desk(row))
    if version is not None and version != row.version:
        raise Conflict(
            f"request {row.ref} changed since you read it: it is now version {row.version} "
            f"({row.state}), you acted on version {version}",
            hint=f"look at it again (`hanoinet request show {row.ref} --reason 'to decide again'`) and decide again",
            code="request_changed",
        )
    return row


def _declarations(node: Node, state: str) -> Sequence[Declaration]:
    card = node.require_directory().find(state)
    return card.declarations if card is not None else ()


def act_as(node: Node, uow: UnitOfWork, row: RequestRecord, actor: Actor, action: Action, *,
           data: Mapping[str, Any]) -> None:
    """Take ``action`` on the locked ``row`` as ``actor``, in the caller's transaction: checked, sent, stored."""
    session = uow.session
    side = Side(row.side)
    events = events_of(session, row.id)
    kind = kind_of(row.kind)
    received = format_instant(row.received_at) if row.received_at else None
    consultation = requires_consultation(row.kind)
    # Whether the action is allowed at all comes first: no point listing data problems of an illegal act.
    next_event(events, side, action, at=now(), preservation=kind.preservation_clock, received_at=received,
               minimum_days=convention.PRESERVATION_CLOCK.minimum.days, consultation=consultation)
    if action is Action.SEND:
        check_draft(node, Draft(kind=row.kind, to=row.requested, fields=json.loads(row.fields),
                                language=row.language, priority=row.priority, case=row.case_ref,
                                desk=our_desk(row)))
        payload_data = send_content(row)
        if row.approval is not None:
            payload_data["approval"] = json.loads(row.approval)
    else:
        payload_data = check_data(row, action, data, latest=now() + SKEW,
                                  requested_declarations=_declarations(node, split_address(row.requested)[0]))
    t = now()
    try:
        event = next_event(
            events, side, action, at=t, by=f"{actor.name} ({actor.role})", data=payload_data,
            preservation=kind.preservation_clock, minimum_days=convention.PRESERVATION_CLOCK.minimum.days,
            received_at=received, consultation=consultation,
            approval_required=row.kind in node.settings.approval_required_kinds,
        )
    except ApprovalRequired as exc:
        raise ApprovalRequired(exc.message, hint=f"a supervisor of desk {our_desk(row)} other than the request's "
                               f"author approves it (`hanoinet request approve {row.ref}`), then send it") from None
    body = RequestEventBody.model_validate({
        "request": row.id, "ref": row.ref, "side": side.value, "seq": event.seq, "seen": event.seen,
        "action": action.value, "at": event.at, "by": {"name": actor.name, "role": actor.role}, "data": payload_data,
    })
    ours, theirs = (row.requesting, row.requested) if side is Side.REQUESTING else (row.requested, row.requesting)
    message = outbox.enqueue(node, uow, sender_desk=split_address(ours)[1], recipient=theirs, kind=KIND,
                             body=body.model_dump(mode="json"), case=row.case_ref, actor=actor.audit_name,
                             officer_id=actor.officer_id)
    store_event(session, row, event, message_id=message.message_id, by_name=actor.name, by_role=actor.role, t=t)
    refresh(node, session, row, t, [*events, event])
    if action is not Action.EXPIRE:
        # Any act of a person at the desk (acknowledging, but also refusing at once) ends the escalation.
        alerts.resolve(uow, subject_id=row.id, by=actor.name)
    audit.record(session, actor=actor.audit_name, officer_id=actor.officer_id, action=f"request.{action.value}",
                 target=row.ref, detail={"seq": event.seq, "side": side.value})
