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

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from hanoinet.clock import format_instant, parse_instant
from hanoinet.convention.articles import CONSULT_BEFORE_REFUSING, REQUEST_KINDS
from hanoinet.crypto.canonical import canonical_json
from hanoinet.errors import Conflict, Forbidden, ValidationError


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
    CONSULTATION_OPEN = "consultation_open"
    CONSULTATION_ANSWERED = "consultation_answered"
    POSTPONED = "postponed"
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
    CONSULT = "consult"
    REPLY = "reply"
    POSTPONE = "postpone"
    RESUME = "resume"
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
                      State.CONSULTATION_ANSWERED, State.PARTIALLY_EXECUTED})
#: States in which preserved data may be held (once ``preserved_at`` is recorded, checked by the rules below):
#: after a partial execution the requested State may still be working or asking a question.
PRESERVING = frozenset({State.IN_PROGRESS, State.CLARIFICATION_REQUESTED, State.CLARIFICATION_ANSWERED,
                        State.PARTIALLY_EXECUTED, State.EXECUTED})
#: Actions about data already preserved.
_ON_PRESERVED_DATA = frozenset({"extend", "follow_up", "release", "expire"})
_OPEN = frozenset({State.SENT, State.RECEIVED, State.ACKNOWLEDGED, State.IN_PROGRESS,
                   State.CLARIFICATION_REQUESTED, State.CLARIFICATION_ANSWERED, State.CONSULTATION_OPEN,
                   State.CONSULTATION_ANSWERED, State.POSTPONED, State.PARTIALLY_EXECUTED})


@dataclass(frozen=True, slots=True)
class Rule:
    """An action's owner, the states it may be taken from, and the state it leads to (None: unchanged)."""

    owner: Side
    sources: frozenset[State]
    target: State | None
    preservation_only: bool = False
    #: Only for kinds that follow the consultation procedure of Art. 40 (mutual legal assistance).
    consultation_only: bool = False
    meaning: str = ""
    #: Taken by the node itself when a clock runs out, never by an officer.
    automatic: bool = False


RULES: Mapping[Action, Rule] = {
    Action.SEND: Rule(Side.REQUESTING, frozenset({State.DRAFT}), State.SENT,
                      meaning="the requesting desk sends the request"),
    Action.ACKNOWLEDGE: Rule(Side.REQUESTED, frozenset({State.RECEIVED}), State.ACKNOWLEDGED,
                             meaning="a person at the requested desk has read it"),
    Action.START: Rule(Side.REQUESTED, frozenset({State.ACKNOWLEDGED, State.CLARIFICATION_ANSWERED,
                                                  State.CONSULTATION_OPEN, State.CONSULTATION_ANSWERED}),
                       State.IN_PROGRESS, meaning="the requested State is executing it"),
    Action.CLARIFY: Rule(Side.REQUESTED, _WORKING, State.CLARIFICATION_REQUESTED,
                         meaning="the requested State asks a question before it can go on"),
    Action.ANSWER: Rule(Side.REQUESTING, frozenset({State.CLARIFICATION_REQUESTED}), State.CLARIFICATION_ANSWERED,
                        meaning="the requesting State answers the question"),
    Action.CONSULT: Rule(Side.REQUESTED, _WORKING | {State.POSTPONED}, State.CONSULTATION_OPEN,
                         consultation_only=True,
                         meaning="the requested State consults the requesting State on a refusal or a "
                                 "postponement it considers, with the ground, its reasons and a date to reply by"),
    Action.REPLY: Rule(Side.REQUESTING, frozenset({State.CONSULTATION_OPEN}), State.CONSULTATION_ANSWERED,
                       consultation_only=True, meaning="the requesting State replies to the consultation"),
    Action.POSTPONE: Rule(Side.REQUESTED, _WORKING | {State.CONSULTATION_OPEN, State.POSTPONED}, State.POSTPONED,
                          consultation_only=True,
                          meaning="after consulting, the requested State postpones execution until a date, with "
                                  "its reasons"),
    Action.RESUME: Rule(Side.REQUESTED, frozenset({State.POSTPONED}), State.IN_PROGRESS, consultation_only=True,
                        meaning="the requested State resumes a postponed execution (its node does when the date "
                                "passes)"),
    Action.PARTIALLY_EXECUTE: Rule(Side.REQUESTED, _WORKING, State.PARTIALLY_EXECUTED,
                                   meaning="part of the assistance is given; the rest follows"),
    Action.EXECUTE: Rule(Side.REQUESTED, _WORKING, State.EXECUTED, meaning="the assistance is given"),
    Action.REFUSE: Rule(Side.REQUESTED, _OPEN - {State.SENT}, State.REFUSED,
                        meaning="the requested State refuses, citing a ground and its reasons"),
    Action.WITHDRAW: Rule(Side.REQUESTING, _OPEN, State.WITHDRAWN,
                          meaning="the requesting State no longer needs it"),
    Action.NOTICE: Rule(Side.REQUESTED, _OPEN - {State.SENT, State.CONSULTATION_OPEN, State.CONSULTATION_ANSWERED,
                                                 State.POSTPONED}, None, preservation_only=True,
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


#: The role whose approval satisfies four eyes: the value of ``hanoinet.node.roles.Role.SUPERVISOR`` (the pure
#: core does not import the node layer; a test keeps the two equal).
SUPERVISOR_ROLE = "supervisor"


class Considering(StrEnum):
    """What a consultation is about: the refusal or the postponement the requested State considers."""

    REFUSAL = "refusal"
    POSTPONEMENT = "postponement"


def requires_consultation(kind: str) -> bool:
    """Whether requests of ``kind`` follow the consultation procedure of Art. 40 (mutual legal assistance).

    Read from the kind's ``requires_consultation`` attribute, which the kinds of mutual legal assistance set;
    ``False`` for the Art. 41-43 kinds, and for a name that is not a kind. Both nodes know the kinds, so both
    replay a request with the same answer.
    """
    return getattr(REQUEST_KINDS.get(kind), "requires_consultation", False) is True


def available(history: History, side: Side, *, preservation: bool, consultation: bool = False,
              at: datetime | None = None) -> list[Action]:
    """What ``side`` can do now, all rules considered (state, owner, preserved data, consultations held).

    ``at`` is now; it decides whether a consultation's reply-by date has passed (without it, as if it had).
    A refusal or postponement is offered when some consultation allows one: which ground it may cite is
    checked when it is taken.
    """
    probe_at = format_instant(at) if at is not None else "9999-12-31T23:59:59.999Z"
    return [a for a in allowed(history.state, side, preservation=preservation, consultation=consultation)
            if not _why_not(Event(side, 0, 0, a, probe_at), history.state, RULES[a], history.preservation,
                            history.procedure, preservation=preservation, consultation=consultation, probe=True)]


def allowed(state: State, side: Side, *, preservation: bool, automatic: bool = False,
            consultation: bool = False) -> list[Action]:
    """The actions ``side`` may take in ``state``, in a stable order; the node's own (expiry) only if asked."""
    return [a for a, r in RULES.items()
            if r.owner is side and state in r.sources and (preservation or not r.preservation_only)
            and (consultation or not r.consultation_only) and (automatic or not r.automatic)]


class IllegalTransition(Conflict):
    """An action that is not allowed now; the message names the current state and what is allowed."""

    def __init__(self, action: Action, state: State, side: Side, *, preservation: bool, why: str = "",
                 consultation: bool = False) -> None:
        options = allowed(state, side, preservation=preservation, consultation=consultation)
        rule = RULES[action]
        if why:
            reason = why
        elif rule.owner is not side:
            reason = f"only the {rule.owner.value} State may {action.value} a request"
        elif rule.preservation_only and not preservation:
            reason = f"{action.value} applies to preservation requests only"
        elif rule.consultation_only and not consultation:
            reason = _NOT_MLA.format(action=action.value)
        else:
            reason = f"a request that is {state.value.replace('_', ' ')} cannot be {_past(action)}"
        super().__init__(
            f"{reason} (current state: {state.value})",
            hint=f"allowed now for the {side.value} State: {', '.join(options) or 'nothing'}",
            code="illegal_transition",
        )
        self.state = state
        self.allowed = options


class ApprovalRequired(Forbidden):
    """Four eyes: an outgoing request of this kind needs a valid supervisor's approval before it is sent."""

    code = "approval_required"


_NOT_MLA = ("{action} applies only to requests for mutual legal assistance, which follow the consultation "
            "procedure of Art. " + CONSULT_BEFORE_REFUSING.article)


def _past(action: Action) -> str:
    return {"send": "sent", "acknowledge": "acknowledged", "start": "started", "clarify": "clarified",
            "answer": "answered", "consult": "consulted on", "reply": "replied to", "postpone": "postponed",
            "resume": "resumed", "partially_execute": "partially executed", "execute": "executed",
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
class Consultation:
    """A consultation of the requesting State (Art. 40) on a refusal (on ``ground``) or a postponement."""

    considering: Considering
    ground: str | None
    reasons: str
    opened_at: datetime
    reply_by: datetime
    answered_at: datetime | None = None
    #: When the request left ``consultation_open`` otherwise than by the reply (resumed, refused, withdrawn).
    closed_at: datetime | None = None
    #: A postponement consultation is used up by the postponement that follows it.
    used: bool = False

    def held(self, t: datetime) -> bool:
        """Whether the requesting State had its say by ``t``: it replied, or the reply-by date passed."""
        return self.answered_at is not None or t >= self.reply_by


@dataclass(frozen=True, slots=True)
class Postponement:
    """A postponed execution: since when, until when, why, and when it ended (``None`` while it lasts)."""

    at: datetime
    until: datetime
    reasons: str
    ended_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Deadline:
    """The date by which the requesting State asks for execution, with its reasons (Art. 40), from the send."""

    due: datetime
    reasons: str


@dataclass(frozen=True, slots=True)
class Approval:
    """A supervisor's approval of an outgoing request (four eyes), as carried in its ``send``."""

    approver: str
    name: str
    role: str
    author: str
    at: datetime
    digest: str


@dataclass(frozen=True, slots=True)
class Procedure:
    """What the events say of the Art. 40 procedure and of the request's approval."""

    consultations: tuple[Consultation, ...] = ()
    postponement: Postponement | None = None
    deadline: Deadline | None = None
    approval: Approval | None = None


@dataclass(frozen=True, slots=True)
class History:
    """A request's replayed history: the outcomes in canonical order and where it ended."""

    outcomes: tuple[Outcome, ...]
    state: State
    received_at: str | None
    preservation: Preservation
    procedure: Procedure = Procedure()

    def last(self, action: Action) -> Event | None:
        """The last applied event of ``action``."""
        for outcome in reversed(self.outcomes):
            if outcome.applied and outcome.event.action is action:
                return outcome.event
        return None

    def count(self, side: Side) -> int:
        """How many events of ``side`` the history holds."""
        return sum(1 for o in self.outcomes if o.event.side is side)


@dataclass(frozen=True, slots=True)
class Officer:
    """The person taking an action, as the machine needs them for four eyes: local id, name and role."""

    id: str
    name: str
    role: str


def content_digest(content: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the RFC 8785 form of what a ``send`` carries, its approval left out.

    An approval names this digest, so a draft changed after it was approved cannot be sent on that approval.
    """
    return hashlib.sha256(canonical_json({k: v for k, v in content.items() if k != "approval"})).hexdigest()


def approve(content: Mapping[str, Any], *, officer: Officer, author: str, at: datetime) -> dict[str, Any]:
    """A supervisor's approval of the draft whose ``send`` will carry ``content`` (four eyes).

    ``author`` is the local id of the officer who wrote the draft. The approval is kept with the draft and
    travels in the ``send`` (member ``approval``), so both States see who approved what, and when. Raises
    :class:`ApprovalRequired` when ``officer`` is not a supervisor or wrote the draft.
    """
    if officer.role != SUPERVISOR_ROLE:
        raise ApprovalRequired(
            f"{officer.name} is a {officer.role.replace('_', ' ')}: only a supervisor may approve an outgoing "
            "request", hint="ask a supervisor of your desk to approve it")
    if not author or officer.id == author:
        raise ApprovalRequired(
            f"{officer.name} wrote this request and cannot also approve it: four eyes need a second officer",
            hint="ask another supervisor of your desk to approve it")
    return {"approver": officer.id, "name": officer.name, "role": officer.role, "author": author,
            "at": format_instant(at), "digest": content_digest(content)}


def resume_due(history: History, t: datetime) -> bool:
    """Whether a postponed request's date has passed at ``t``: its node then resumes it (``resume``)."""
    postponement = history.procedure.postponement
    return history.state is State.POSTPONED and postponement is not None and t >= postponement.until


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
           minimum_days: int = 60, consultation: bool = False) -> History:
    """Apply the events in canonical order, from ``draft``.

    ``received_at`` is the time in the requested node's signed receipt for the ``send`` envelope; the
    request is ``received`` from then on (also as soon as any event of the requested State exists, since
    it can only act on what it received). ``consultation``: the kind follows the consultation procedure of
    Art. 40 (:func:`requires_consultation`).
    """
    ordered = merge(events)
    state = State.DRAFT
    outcomes: list[Outcome] = []
    clock = Preservation(minimum_days=minimum_days)
    procedure = Procedure()
    sent = False
    receipt = received_at
    for event in ordered:
        if event.side is Side.REQUESTED and sent and state is State.SENT:
            state = State.RECEIVED
            receipt = receipt or event.at
        rule = RULES[event.action]
        reason = _why_not(event, state, rule, clock, procedure, preservation=preservation,
                          consultation=consultation)
        if reason:
            outcomes.append(Outcome(event, state, state, applied=False, reason=reason))
            continue
        before = state
        state = rule.target or state
        clock = _clock_after(event, clock)
        procedure = _procedure_after(event, before, state, procedure)
        outcomes.append(Outcome(event, before, state, applied=True))
        if event.action is Action.SEND:
            sent = True
            if receipt is not None:
                state = State.RECEIVED
    return History(tuple(outcomes), state, receipt if sent else None, clock, procedure)


def _text(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _instant(data: Mapping[str, Any], name: str) -> datetime | None:
    value = data.get(name)
    if not isinstance(value, str):
        return None
    try:
        return parse_instant(value, field=name)
    except ValidationError:
        return None


def _data_problem(event: Event, *, consultation: bool) -> tuple[str, str] | None:
    """What is wrong with the data an action of the Art. 40 procedure carries, and what to do; ``None``: fine.

    Only what the machine reads is checked here; the rest of each action's data is checked against the
    Convention by hanoinet.convention.rules.
    """
    data, action = event.data, event.action
    at = parse_instant(event.at)
    if action is Action.CONSULT:
        considering = data.get("considering")
        if considering not in tuple(Considering):
            return (f"consult: considering must be {' or '.join(Considering)}, not {considering!r}",
                    "say whether you consider refusing the request or postponing its execution")
        if considering == Considering.REFUSAL and _text(data, "ground") is None:
            return ("consult: the ground for refusal you consider is missing",
                    "give the ground's code (`hanoinet request grounds` lists them)")
        if considering == Considering.POSTPONEMENT and "ground" in data:
            return ("consult: a postponement is not refused on a ground", "remove ground; give your reasons")
        if _text(data, "reasons") is None:
            return ("consult: the reasons are missing",
                    "explain why you consider it, so the requesting State can answer (Art. "
                    f"{CONSULT_BEFORE_REFUSING.article})")
        reply_by = _instant(data, "reply_by")
        if reply_by is None or reply_by <= at:
            return ("consult: reply_by must be a later instant, the date by which the requesting State may reply",
                    "give a date and time with its offset, after now, e.g. 2026-12-21T17:00:00+01:00")
    elif action is Action.REPLY and _text(data, "reply") is None:
        return "reply: the reply is missing", "write the requesting State's reply to the consultation"
    elif action is Action.POSTPONE:
        if _text(data, "reasons") is None:
            return "postpone: the reasons are missing", "explain why execution is postponed"
        until = _instant(data, "until")
        if until is None or until <= at:
            return ("postpone: until must be a later instant, the date until which execution is postponed",
                    "give a date and time with its offset, after now, e.g. 2027-01-15T09:00:00+01:00")
    elif action is Action.REFUSE and consultation:
        if _text(data, "ground") is None or _text(data, "reasons") is None:
            return ("refuse: the ground and the reasons are both required",
                    "give the ground you consulted the requesting State on, and your reasons")
    elif action is Action.SEND:
        return _send_problem(event)
    return None


def _send_problem(event: Event) -> tuple[str, str] | None:
    data = event.data
    deadline = data.get("deadline")
    if deadline is not None:
        due = _instant(deadline, "due") if isinstance(deadline, Mapping) else None
        if due is None or due <= parse_instant(event.at):
            return ("send: the deadline's due must be a later instant",
                    "give the date and time by which you need the assistance, with its offset, or no deadline")
        if _text(deadline, "reasons") is None:
            return ("send: a deadline needs its reasons",
                    "say why the assistance is needed by then: the requested State honours a deadline given "
                    "with its reasons")
    approval = data.get("approval")
    if approval is None:
        return None
    return _approval_problem(approval, data, parse_instant(event.at))


def _approval_problem(approval: object, content: Mapping[str, Any], at: datetime) -> tuple[str, str] | None:
    again = "ask a supervisor of your desk other than the author to approve the request as it stands now"
    if not isinstance(approval, Mapping):
        return "send: the approval is not an object", again
    approver, author = _text(approval, "approver"), _text(approval, "author")
    approved_at = _instant(approval, "at")
    if approver is None or author is None or approved_at is None or _text(approval, "name") is None:
        return "send: the approval must name the approver, the author and when it was given", again
    if approval.get("role") != SUPERVISOR_ROLE:
        return f"send: the approval was given by a {approval.get('role')!r}, not a supervisor", again
    if approver == author:
        return "send: the author approved their own request; four eyes need a second officer", again
    if approved_at > at:
        return "send: the approval is dated after the sending", again
    try:
        digest = content_digest(content)
    except ValidationError:
        return "send: the request's contents cannot be written as protocol JSON", "fix the draft"
    if approval.get("digest") != digest:
        return (f"send: the request changed after {approval.get('name')} approved it at "
                f"{format_instant(approved_at)}", again)
    return None


def _consultation_problem(event: Event, procedure: Procedure, *, probe: bool) -> str:
    """Why a refusal or postponement may not be made yet: no consultation on it, or one still awaiting a reply."""
    at = parse_instant(event.at)
    article = CONSULT_BEFORE_REFUSING.article
    if event.action is Action.REFUSE:
        ground = _text(event.data, "ground")
        relevant = [c for c in procedure.consultations if c.considering is Considering.REFUSAL
                    and (probe or c.ground == ground)]
        what = "refusing" if probe else f"refusing on {ground!r}"
        how = "consult (considering refusal, with that ground, your reasons and a reply-by date)"
    else:
        relevant = [c for c in procedure.consultations if c.considering is Considering.POSTPONEMENT and not c.used]
        what = "postponing" + (" again" if procedure.postponement is not None else "")
        how = "consult (considering postponement, with your reasons and a reply-by date)"
    if not relevant:
        return (f"before {what} the requested State must consult the requesting State (Art. {article}): "
                f"{how} first")
    if not any(c.held(at) for c in relevant):
        waiting = relevant[-1]
        return (f"the requesting State may reply to the consultation until {format_instant(waiting.reply_by)}: "
                f"{what} is possible once it has replied or that time has passed")
    return ""


def _why_not(event: Event, state: State, rule: Rule, clock: Preservation, procedure: Procedure, *,
             preservation: bool, consultation: bool = False, probe: bool = False) -> str:
    """Why ``event`` may not be applied in ``state``; ``""`` when it may.

    ``probe``: the event is a stand-in without data, asking whether the action is possible at all now.
    """
    if rule.owner is not event.side:
        return f"only the {rule.owner.value} State may {event.action.value}"
    if rule.preservation_only and not preservation:
        return f"{event.action.value} applies to preservation requests only"
    if rule.consultation_only and not consultation:
        return _NOT_MLA.format(action=event.action.value)
    if state not in rule.sources:
        return (f"{event.action.value} by the {event.side.value} State crossed with the other State's acts: "
                f"when it reached the request, the request was already {state.value}; it is recorded and "
                f"has no effect")
    if not probe:
        problem = _data_problem(event, consultation=consultation)
        if problem is not None:
            return problem[0]
    if event.action.value in _ON_PRESERVED_DATA and clock.preserved_at is None:
        return "no data have been preserved yet (the requested State has not recorded preserved_at)"
    if event.action is Action.EXPIRE:
        until = clock.until
        if clock.held_for is not None:
            return f"the data are held until the follow-up request {clock.held_for} is decided"
        if until is None or parse_instant(event.at) < until:
            return "the preservation period had not ended"
    if consultation and event.action in (Action.REFUSE, Action.POSTPONE):
        return _consultation_problem(event, procedure, probe=probe)
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


def _procedure_after(event: Event, before: State, after: State, procedure: Procedure) -> Procedure:
    """The procedure once an applied ``event`` took the request from ``before`` to ``after``."""
    data, at = event.data, parse_instant(event.at)
    consultations = list(procedure.consultations)
    postponement = procedure.postponement
    if before is State.CONSULTATION_OPEN and after is not State.CONSULTATION_OPEN and consultations:
        last = consultations[-1]
        consultations[-1] = (replace(last, answered_at=at) if event.action is Action.REPLY
                             else replace(last, closed_at=at))
    if before is State.POSTPONED and after is not State.POSTPONED and postponement is not None:
        postponement = replace(postponement, ended_at=at)
    if event.action is Action.CONSULT:
        ground = _text(data, "ground")
        consultations.append(Consultation(Considering(data["considering"]), ground, _text(data, "reasons") or "",
                                          at, parse_instant(data["reply_by"], field="reply_by")))
    elif event.action is Action.POSTPONE:
        consultations = [replace(c, used=True) if c.considering is Considering.POSTPONEMENT else c
                         for c in consultations]
        postponement = Postponement(at, parse_instant(data["until"], field="until"), _text(data, "reasons") or "")
    deadline, approval = procedure.deadline, procedure.approval
    if event.action is Action.SEND:
        given = data.get("deadline")
        if isinstance(given, Mapping):
            deadline = Deadline(parse_instant(given["due"], field="due"), _text(given, "reasons") or "")
        signed = data.get("approval")
        if isinstance(signed, Mapping):
            approval = Approval(str(signed["approver"]), str(signed["name"]), str(signed["role"]),
                                str(signed["author"]), parse_instant(signed["at"], field="at"), str(signed["digest"]))
    return Procedure(tuple(consultations), postponement, deadline, approval)


def _require_approval(event: Event, *, required: bool) -> None:
    """Four eyes at the sending node: a valid approval of what is sent, if the send carries one or must."""
    if "approval" in event.data:
        refused = _approval_problem(event.data["approval"], event.data, parse_instant(event.at))
        if refused is not None:
            raise ApprovalRequired(refused[0], hint=refused[1])
    elif required:
        raise ApprovalRequired("this kind of request must be approved by a supervisor before it is sent "
                               "(four eyes, a setting of this node)",
                               hint="ask a supervisor of your desk other than the author to approve it, then send it")


def next_event(history: Sequence[Event], side: Side, action: Action, *, at: datetime, by: str = "",
               data: Mapping[str, Any] | None = None, preservation: bool = False,
               received_at: str | None = None, minimum_days: int = 60, consultation: bool = False,
               approval_required: bool = False) -> Event:
    """The event ``side`` creates by taking ``action`` now, checked against the history it holds.

    Raises :class:`IllegalTransition` (naming the current state and the allowed actions) when the action is
    not allowed in the state the history leads to, :class:`ValidationError` when data the machine reads are
    missing or malformed (saying what to give), and :class:`ApprovalRequired` when ``approval_required`` (this
    node's setting for the kind) and the ``send`` carries no valid approval of what it sends.

    ``data=None`` asks only whether the action is possible now, before its data are gathered: the data and
    the approval are not checked, and a refusal or postponement needs some consultation that allows one.
    """
    current = replay(history, received_at=received_at, preservation=preservation, minimum_days=minimum_days,
                     consultation=consultation)
    rule = RULES[action]
    if rule.owner is not side or current.state not in rule.sources or (rule.preservation_only and not preservation) \
            or (rule.consultation_only and not consultation):
        raise IllegalTransition(action, current.state, side, preservation=preservation, consultation=consultation)
    event = Event(side=side, seq=current.count(side) + 1, seen=current.count(side.other), action=action,
                  at=format_instant(at), by=by, data=dict(data or {}))
    probe = data is None
    if not probe and action is Action.SEND:
        _require_approval(event, required=approval_required)
    problem = None if probe else _data_problem(event, consultation=consultation)
    if problem is not None:
        raise ValidationError(problem[0], hint=problem[1])
    why = _why_not(event, current.state, rule, current.preservation, current.procedure, preservation=preservation,
                   consultation=consultation, probe=probe)
    if why:
        raise IllegalTransition(action, current.state, side, preservation=preservation, why=why,
                                consultation=consultation)
    return event
