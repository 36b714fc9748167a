"""The life of a request, agreed by both States: states, who may do what, and how concurrent acts merge.

Pure code. Each side numbers its own events 1, 2, 3, ... and records with every event how many of the other
side's events it had seen (``seen``). Both nodes therefore hold the same set of events and put them in the
same canonical order (:func:`merge`): an event never comes before what its author had seen, and when two
events were made without either seeing the other (a race), the requested State's event comes first: it
acted on the request as it stood, and what it did (data preserved, disclosed) cannot be undone by a message
that crossed it. Replaying the merged events (:func:`replay`) applies each one that is legal in the state it
meets and records the others as *superseded*, with the reason; both sides see the same outcome.

docs/requests.md states these rules for people; the property tests check them on random interleavings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from hanoinet.clock import format_instant, parse_instant
from hanoinet.errors import Conflict, ValidationError


class Side(StrEnum):
    """The two parties to a request."""

    REQUESTING = "requesting"
    REQUESTED = "requested"

    @property
    def other(self) -> Side:
        """The other party."""
        return Side.REQUESTED if self is Side.REQUESTING else Side.REQUESTING


class State(StrEnum):
    """Where a request stands; the same on both nodes once they hold the same events."""

    DRAFT = "draft"
    SENT = "sent"
    RECEIVED = "received"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    CLARIFICATION_REQUESTED = "clarification_requested"
    CLARIFICATION_ANSWERED = "clarification_answered"
    PARTIALLY_EXECUTED = "partially_executed"
    EXECUTED = "executed"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


TERMINAL = frozenset({State.REFUSED, State.WITHDRAWN, State.EXPIRED})
"""States nothing leaves. ``executed`` is final too, except that a preservation goes on until it expires or
the requesting State releases it."""


class Action(StrEnum):
    """What a side can do to a request; each action has one owner."""

    SEND = "send"
    ACKNOWLEDGE = "acknowledge"
    START = "start"
    CLARIFY = "clarify"
    ANSWER = "answer"
    PARTIALLY_EXECUTE = "partially_execute"
    EXECUTE = "execute"
    REFUSE = "refuse"
    WITHDRAW = "withdraw"
    NOTICE = "notice"
    EXTEND = "extend"
    FOLLOW_UP = "follow_up"
    RELEASE = "release"
    EXPIRE = "expire"


_WORKING = frozenset({State.ACKNOWLEDGED, State.IN_PROGRESS, State.CLARIFICATION_ANSWERED,
                      State.PARTIALLY_EXECUTED})
#: States in which preserved data may be held (once ``preserved_at`` is recorded, checked by the rules below):
#: after a partial execution the requested State may still be working or asking a question.
PRESERVING = frozenset({State.IN_PROGRESS, State.CLARIFICATION_REQUESTED, State.CLARIFICATION_ANSWERED,
                        State.PARTIALLY_EXECUTED, State.EXECUTED})
#: Actions about data already preserved.
_ON_PRESERVED_DATA = frozenset({"extend", "follow_up", "release", "expire"})
_OPEN = frozenset({State.SENT, State.RECEIVED, State.ACKNOWLEDGED, State.IN_PROGRESS,
                   State.CLARIFICATION_REQUESTED, State.CLARIFICATION_ANSWERED, State.PARTIALLY_EXECUTED})


@dataclass(frozen=True, slots=True)
class Rule:
    """An action's owner, the states it may be taken from, and the state it leads to (None: unchanged)."""

    owner: Side
    sources: frozenset[State]
    target: State | None
    preservation_only: bool = False
    meaning: str = ""
    #: Taken by the node itself when a clock runs out, never by an officer.
    automatic: bool = False


RULES: Mapping[Action, Rule] = {
    Action.SEND: Rule(Side.REQUESTING, frozenset({State.DRAFT}), State.SENT,
                      meaning="the requesting desk sends the request"),
    Action.ACKNOWLEDGE: Rule(Side.REQUESTED, frozenset({State.RECEIVED}), State.ACKNOWLEDGED,
                             meaning="a person at the requested desk has read it"),
    Action.START: Rule(Side.REQUESTED, frozenset({State.ACKNOWLEDGED, State.CLARIFICATION_ANSWERED}),
                       State.IN_PROGRESS, meaning="the requested State is executing it"),
    Action.CLARIFY: Rule(Side.REQUESTED, _WORKING, State.CLARIFICATION_REQUESTED,
                         meaning="the requested State asks a question before it can go on"),
    Action.ANSWER: Rule(Side.REQUESTING, frozenset({State.CLARIFICATION_REQUESTED}), State.CLARIFICATION_ANSWERED,
                        meaning="the requesting State answers the question"),
    Action.PARTIALLY_EXECUTE: Rule(Side.REQUESTED, _WORKING, State.PARTIALLY_EXECUTED,
                                   meaning="part of the assistance is given; the rest follows"),
    Action.EXECUTE: Rule(Side.REQUESTED, _WORKING, State.EXECUTED, meaning="the assistance is given"),
    Action.REFUSE: Rule(Side.REQUESTED, _OPEN - {State.SENT}, State.REFUSED,
                        meaning="the requested State refuses, citing a ground and its reasons"),
    Action.WITHDRAW: Rule(Side.REQUESTING, _OPEN, State.WITHDRAWN,
                          meaning="the requesting State no longer needs it"),
    Action.NOTICE: Rule(Side.REQUESTED, _OPEN - {State.SENT}, None, preservation_only=True,
                        meaning="preservation will not secure the data or would threaten confidentiality"),
    Action.EXTEND: Rule(Side.REQUESTING, PRESERVING, None, preservation_only=True,
                        meaning="the requesting State asks to keep the data longer"),
    Action.FOLLOW_UP: Rule(Side.REQUESTING, PRESERVING, None, preservation_only=True,
                           meaning="the mutual legal assistance request has been sent: keep the data until "
                                   "it is decided"),
    Action.RELEASE: Rule(Side.REQUESTING, PRESERVING, State.EXPIRED, preservation_only=True,
                         meaning="the requesting State no longer needs the preserved data: preservation ends now"),
    Action.EXPIRE: Rule(Side.REQUESTED, PRESERVING, State.EXPIRED, preservation_only=True, automatic=True,
                        meaning="the preservation period ended and the data are released"),
}


def available(history: History, side: Side, *, preservation: bool) -> list[Action]:
    """What ``side`` can do now, all rules considered (state, owner, and whether data are preserved)."""
    return [a for a in allowed(history.state, side, preservation=preservation)
            if not _why_not(Event(side, 0, 0, a, "9999-12-31T23:59:59.999Z"), history.state, RULES[a],
                            history.preservation, preservation=preservation)]


def allowed(state: State, side: Side, *, preservation: bool, automatic: bool = False) -> list[Action]:
    """The actions ``side`` may take in ``state``, in a stable order; the node's own (expiry) only if asked."""
    return [a for a, r in RULES.items()
            if r.owner is side and state in r.sources and (preservation or not r.preservation_only)
            and (automatic or not r.automatic)]


class IllegalTransition(Conflict):
    """An action that is not allowed now; the message names the current state and what is allowed."""

    def __init__(self, action: Action, state: State, side: Side, *, preservation: bool, why: str = "") -> None:
        options = allowed(state, side, preservation=preservation)
        rule = RULES[action]
        if why:
            reason = why
        elif rule.owner is not side:
            reason = f"only the {rule.owner.value} State may {action.value} a request"
        elif rule.preservation_only and not preservation:
            reason = f"{action.value} applies to preservation requests only"
        else:
            reason = f"a request that is {state.value.replace('_', ' ')} cannot be {_past(action)}"
        super().__init__(
            f"{reason} (current state: {state.value})",
            hint=f"allowed now for the {side.value} State: {', '.join(options) or 'nothing'}",
            code="illegal_transition",
        )
        self.state = state
        self.allowed = options


def _past(action: Action) -> str:
    return {"send": "sent", "acknowledge": "acknowledged", "start": "started", "clarify": "clarified",
            "answer": "answered", "partially_execute": "partially executed", "execute": "executed",
            "refuse": "refused", "withdraw": "withdrawn", "notice": "given a notice", "extend": "extended",
            "follow_up": "followed up", "release": "released", "expire": "expired"}[action.value]


@dataclass(frozen=True, slots=True)
class Event:
    """One transition as exchanged: who (side, person), when, what, and what its author had seen."""

    side: Side
    seq: int
    seen: int
    action: Action
    at: str
    by: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, int]:
        """Identity of the event within its request."""
        return self.side.value, self.seq


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an event did when replayed: applied (state before and after) or superseded (and why)."""

    event: Event
    before: State
    after: State
    applied: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Preservation:
    """The Art. 42 clock as the events define it (times as datetimes, ``None`` when not yet known)."""

    preserved_at: datetime | None = None
    minimum_days: int = 60
    extension_days: int = 0
    held_for: str | None = None
    notices: tuple[str, ...] = ()

    @property
    def until(self) -> datetime | None:
        """End of the preservation period, not counting a hold for a follow-up request."""
        if self.preserved_at is None:
            return None
        return self.preserved_at + timedelta(days=self.minimum_days + self.extension_days)


@dataclass(frozen=True, slots=True)
class History:
    """A request's replayed history: the outcomes in canonical order and where it ended."""

    outcomes: tuple[Outcome, ...]
    state: State
    received_at: str | None
    preservation: Preservation

    def last(self, action: Action) -> Event | None:
        """The last applied event of ``action``."""
        for outcome in reversed(self.outcomes):
            if outcome.applied and outcome.event.action is action:
                return outcome.event
        return None

    def count(self, side: Side) -> int:
        """How many events of ``side`` the history holds."""
        return sum(1 for o in self.outcomes if o.event.side is side)


def check_sequence(events: Sequence[Event]) -> None:
    """Each side's events must be numbered 1..n without gaps, and ``seen`` never exceeds what exists."""
    counts = {side: 0 for side in Side}
    for side in Side:
        seqs = sorted(e.seq for e in events if e.side is side)
        if seqs != list(range(1, len(seqs) + 1)):
            raise ValidationError(f"{side.value} events are not numbered 1..{len(seqs)}: {seqs}")
        counts[side] = len(seqs)
    for event in events:
        if event.seen > counts[event.side.other]:
            raise ValidationError(
                f"{event.side.value} event {event.seq} claims to have seen {event.seen} events of the "
                f"{event.side.other.value} State, but only {counts[event.side.other]} exist"
            )


def merge(events: Iterable[Event]) -> list[Event]:
    """The canonical order of a request's events: causal, and on a race the requested State first.

    Each side's events form a chain; an event is ready when its predecessor on its side and the first
    ``seen`` events of the other side are placed. Of the (at most two) ready events, the requested State's
    goes first. The result is the same on both nodes whatever order the events arrived in.
    """
    events = list(events)
    check_sequence(events)
    chains = {side: sorted((e for e in events if e.side is side), key=lambda e: e.seq) for side in Side}
    placed = {side: 0 for side in Side}
    order: list[Event] = []
    while len(order) < len(events):
        for side in (Side.REQUESTED, Side.REQUESTING):
            chain = chains[side]
            if placed[side] < len(chain) and chain[placed[side]].seen <= placed[side.other]:
                order.append(chain[placed[side]])
                placed[side] += 1
                break
        else:  # unreachable for numbered events from two honest sides; refuse rather than loop
            raise ValidationError("the events of this request depend on each other in a circle")
    return order


def replay(events: Iterable[Event], *, received_at: str | None = None, preservation: bool = False,
           minimum_days: int = 60) -> History:
    """Apply the events in canonical order, from ``draft``.

    ``received_at`` is the time in the requested node's signed receipt for the ``send`` envelope; the
    request is ``received`` from then on (also as soon as any event of the requested State exists, since
    it can only act on what it received).
    """
    ordered = merge(events)
    state = State.DRAFT
    outcomes: list[Outcome] = []
    clock = Preservation(minimum_days=minimum_days)
    sent = False
    receipt = received_at
    for event in ordered:
        if event.side is Side.REQUESTED and sent and state is State.SENT:
            state = State.RECEIVED
            receipt = receipt or event.at
        rule = RULES[event.action]
        reason = _why_not(event, state, rule, clock, preservation=preservation)
        if reason:
            outcomes.append(Outcome(event, state, state, applied=False, reason=reason))
            continue
        before = state
        state = rule.target or state
        clock = _clock_after(event, clock)
        outcomes.append(Outcome(event, before, state, applied=True))
        if event.action is Action.SEND:
            sent = True
            if receipt is not None:
                state = State.RECEIVED
    return History(tuple(outcomes), state, receipt if sent else None, clock)


def _why_not(event: Event, state: State, rule: Rule, clock: Preservation, *, preservation: bool) -> str:
    if rule.owner is not event.side:
        return f"only the {rule.owner.value} State may {event.action.value}"
    if rule.preservation_only and not preservation:
        return f"{event.action.value} applies to preservation requests only"
    if state not in rule.sources:
        return (f"{event.action.value} by the {event.side.value} State crossed with the other State's acts: "
                f"when it reached the request, the request was already {state.value}; it is recorded and "
                f"has no effect")
    if event.action.value in _ON_PRESERVED_DATA and clock.preserved_at is None:
        return "no data have been preserved yet (the requested State has not recorded preserved_at)"
    if event.action is Action.EXPIRE:
        until = clock.until
        if clock.held_for is not None:
            return f"the data are held until the follow-up request {clock.held_for} is decided"
        if until is None or parse_instant(event.at) < until:
            return "the preservation period had not ended"
    return ""


def _clock_after(event: Event, clock: Preservation) -> Preservation:
    data = event.data
    if event.action in (Action.EXECUTE, Action.PARTIALLY_EXECUTE) and clock.preserved_at is None:
        result = data.get("result")
        if isinstance(result, Mapping) and isinstance(result.get("preserved_at"), str):
            return replace(clock, preserved_at=parse_instant(result["preserved_at"], field="preserved_at"))
    if event.action is Action.EXTEND:
        days = data.get("days")
        return replace(clock, extension_days=clock.extension_days + (days if isinstance(days, int) else 0))
    if event.action is Action.FOLLOW_UP:
        return replace(clock, held_for=str(data.get("mla_ref") or "the follow-up request"))
    if event.action is Action.NOTICE:
        return replace(clock, notices=(*clock.notices, str(data.get("notice", ""))))
    return clock


def next_event(history: Sequence[Event], side: Side, action: Action, *, at: datetime, by: str = "",
               data: Mapping[str, Any] | None = None, preservation: bool = False,
               received_at: str | None = None, minimum_days: int = 60) -> Event:
    """The event ``side`` creates by taking ``action`` now, checked against the history it holds.

    Raises :class:`IllegalTransition` (naming the current state and the allowed actions) when the action is
    not allowed in the state the history leads to.
    """
    current = replay(history, received_at=received_at, preservation=preservation, minimum_days=minimum_days)
    rule = RULES[action]
    if rule.owner is not side or current.state not in rule.sources or (rule.preservation_only and not preservation):
        raise IllegalTransition(action, current.state, side, preservation=preservation)
    event = Event(side=side, seq=current.count(side) + 1, seen=current.count(side.other), action=action,
                  at=format_instant(at), by=by, data=dict(data or {}))
    why = _why_not(event, current.state, rule, current.preservation, preservation=preservation)
    if why:
        raise IllegalTransition(action, current.state, side, preservation=preservation, why=why)
    return event
