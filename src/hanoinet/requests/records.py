"""The stored request and its events: what commands, views, inbound events and jobs share.

A request is its row and its events. The events are what both States hold alike; the row keeps what the replayed
history says (state, clocks) for lists and filters, and a ``version`` that two officers acting at once are
checked against. Storing an event and recomputing the row happen here, in the caller's transaction, for our
acts and the other State's alike.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from hanoinet import convention
from hanoinet.clock import format_instant, parse_instant
from hanoinet.db.models import RequestEventRecord, RequestRecord
from hanoinet.errors import NotFound, ValidationError
from hanoinet.node.node import Node
from hanoinet.node.officers import Principal
from hanoinet.node.roles import Role
from hanoinet.requests.machine import (
    PRESERVING,
    TERMINAL,
    Action,
    Event,
    History,
    Side,
    State,
    replay,
    requires_consultation,
)
from hanoinet.states import split_address

#: Roles that may act on requests. Supervisors read every desk and, as the last level of a duty alert, may
#: acknowledge; the node's administrators run the node and do not answer foreign States.
ACTING_ROLES = (Role.DUTY_OFFICER, Role.CENTRAL_AUTHORITY)
#: Who acts when the node itself does (expiry, warnings, a request the other State did not take).
SYSTEM = "system"
#: Days before a preservation ends at which its desk is warned (policy values of the Convention's clock).
WARNING_DAYS = tuple(w.days for w in convention.PRESERVATION_CLOCK.warnings)
#: States in which a preservation request may hold preserved data, and its clock runs.
PRESERVED_STATES = tuple(sorted(s.value for s in PRESERVING))


def events_of(session: Session, request_id: str) -> list[Event]:
    """The stored events of a request, both sides', in the order they were stored."""
    rows = session.scalars(select(RequestEventRecord).where(RequestEventRecord.request_id == request_id)
                           .order_by(RequestEventRecord.id))
    return [Event(side=Side(r.side), seq=r.seq, seen=r.seen, action=Action(r.action), at=r.at,
                  by=f"{r.by_name} ({r.by_role})", data=json.loads(r.data)) for r in rows]


def kind_of(name: str) -> convention.RequestKind:
    """The request kind called ``name``, or a validation error listing the kinds."""
    kind = convention.REQUEST_KINDS.get(name)
    if kind is None:
        raise ValidationError(f"unknown request kind {name!r}",
                              hint=f"kinds: {', '.join(sorted(convention.REQUEST_KINDS))}")
    return kind


def history_of(row: RequestRecord, events: Sequence[Event]) -> History:
    """``events`` replayed with the clock rules of ``row``'s kind."""
    kind = kind_of(row.kind)
    received = format_instant(row.received_at) if row.received_at else None
    return replay(events, received_at=received, preservation=kind.preservation_clock,
                  minimum_days=convention.PRESERVATION_CLOCK.minimum.days,
                  consultation=requires_consultation(row.kind))


def load_request(session: Session, ref: str, *, lock: bool = False) -> RequestRecord:
    """The request whose reference or id is ``ref`` (locked for update with ``lock``); no access check."""
    query = select(RequestRecord).where((RequestRecord.ref == ref) | (RequestRecord.id == ref))
    row = session.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise _not_found(ref)
    return row


def _not_found(ref: str) -> NotFound:
    # One answer whether the request is missing or another desk's: sequential references must not be probed.
    return NotFound(f"no request {ref!r} that your desk can see on this node",
                    hint="list the requests your desk can see with `hanoinet request list`")


def our_desk(row: RequestRecord) -> str:
    """The desk of this node that holds the request: the sending desk, or the one asked."""
    return split_address(row.requesting if row.side == Side.REQUESTING else row.requested)[1]


def check_reader(principal: Principal, row: RequestRecord, asked: str) -> None:
    """Refuse another desk's request exactly as a missing one, naming only what was ``asked`` (a ref or an id)."""
    if not principal.can_read_desk(our_desk(row)):
        raise _not_found(asked)


def ack_target(node: Node, row: RequestRecord) -> timedelta:
    """The acknowledgement target: our desk's policy when we are asked, the Convention default otherwise."""
    if row.side == Side.REQUESTED:
        return node.settings.ack_target(our_desk(row), row.priority)
    return convention.PRIORITIES[row.priority].acknowledge_within


def store_event(session: Session, row: RequestRecord, event: Event, *, message_id: str | None, by_name: str,
                by_role: str, t: datetime) -> None:
    """Store ``event`` of ``row`` with the envelope that carried it (``message_id``), ours or the peer's."""
    session.add(RequestEventRecord(
        request_id=row.id, side=event.side.value, seq=event.seq, seen=event.seen, action=event.action.value,
        at=event.at, by_name=by_name, by_role=by_role, data=json.dumps(dict(event.data), sort_keys=True),
        message_id=message_id, recorded_at=t,
    ))
    session.flush()


def refresh(node: Node, session: Session, row: RequestRecord, t: datetime,
            events: Sequence[Event] | None = None) -> History:
    """Recompute the derived columns from the events (read again unless the caller holds them all) and bump the
    version."""
    history = history_of(row, events_of(session, row.id) if events is None else events)
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


def headline(row: RequestRecord, kind: convention.RequestKind, what: str, party: str) -> str:
    """What an alert says: never the facts; for a confidential request not even the State or the kind."""
    if row.confidential:
        return f"{what}: confidential request {row.ref}"
    return f"{what}: request {row.ref} ({party}): {kind.title} (Art. {kind.article})"
