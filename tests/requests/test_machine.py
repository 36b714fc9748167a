"""The request state machine: ownership, legal transitions, the race rules, and agreement of both sides."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hanoinet.clock import format_instant
from hanoinet.errors import ValidationError
from hanoinet.requests.machine import (
    RULES,
    TERMINAL,
    Action,
    Considering,
    Event,
    History,
    IllegalTransition,
    Side,
    State,
    allowed,
    available,
    merge,
    next_event,
    replay,
)

T0 = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
RECEIVED = format_instant(T0 + timedelta(seconds=1))
REQUESTING, REQUESTED = Side.REQUESTING, Side.REQUESTED


def data_for(action: Action, at: datetime, history: History | None = None) -> dict[str, Any]:
    """Plausible data for each action: what the machine reads (result.preserved_at, days, mla_ref, and for the
    Art. 40 procedure the consultation, postponement and refusal members).

    A refusal cites the ground of a consultation held by ``at`` in ``history``, if any.
    """
    ground = "domestic_law_forbids"
    if history is not None:
        held = [c.ground for c in history.procedure.consultations
                if c.considering is Considering.REFUSAL and c.held(at)]
        if held and held[-1]:
            ground = held[-1]
    return {
        Action.EXECUTE: {"result": {"preserved_at": format_instant(at)}},
        Action.PARTIALLY_EXECUTE: {"result": {"preserved_at": format_instant(at)}},
        Action.EXTEND: {"days": 30, "reason": "MLA request being drafted"},
        Action.FOLLOW_UP: {"mla_ref": "MLA-1"},
        Action.RELEASE: {"reason": "suspect identified, data no longer needed"},
        Action.NOTICE: {"notice": "will_not_secure", "text": "logs rotate hourly"},
        Action.CONSULT: ({"considering": "refusal", "ground": ground, "reasons": "a similar domestic search "
                          "would need a judge's order", "reply_by": format_instant(at + timedelta(minutes=10))}
                         if at.minute % 2 else
                         {"considering": "postponement", "reasons": "a domestic trial is under way",
                          "reply_by": format_instant(at + timedelta(minutes=10))}),
        Action.REPLY: {"reply": "a court order will follow"},
        Action.POSTPONE: {"reasons": "a domestic trial is under way",
                          "until": format_instant(at + timedelta(minutes=5))},
        Action.REFUSE: {"ground": ground, "reasons": "no order could be obtained"},
    }.get(action, {})


def play(*steps: tuple[Side, Action], preservation: bool = True, start: datetime = T0) -> list[Event]:
    """Events of one conversation where each side sees everything before acting."""
    events: list[Event] = []
    t = start
    for side, action in steps:
        t += timedelta(minutes=1)
        events.append(next_event(events, side, action, at=t, data=data_for(action, t), preservation=preservation,
                                 received_at=RECEIVED))
    return events


def test_a_preservation_from_sending_to_execution() -> None:
    events = play((REQUESTING, Action.SEND), (REQUESTED, Action.ACKNOWLEDGE), (REQUESTED, Action.START),
                  (REQUESTED, Action.EXECUTE))
    history = replay(events, received_at=RECEIVED, preservation=True)
    assert [o.after for o in history.outcomes] == [State.SENT, State.ACKNOWLEDGED, State.IN_PROGRESS,
                                                    State.EXECUTED]
    assert history.state is State.EXECUTED
    assert history.preservation.until == T0 + timedelta(minutes=4, days=60)


def test_sent_becomes_received_with_the_receipt() -> None:
    events = play((REQUESTING, Action.SEND))
    assert replay(events).state is State.SENT
    assert replay(events, received_at=RECEIVED).state is State.RECEIVED


@pytest.mark.parametrize(("side", "action"), [(REQUESTING, Action.ACKNOWLEDGE), (REQUESTED, Action.WITHDRAW),
                                              (REQUESTING, Action.EXECUTE), (REQUESTED, Action.ANSWER)])
def test_only_the_owner_may_act(side: Side, action: Action) -> None:
    events = play((REQUESTING, Action.SEND))
    with pytest.raises(IllegalTransition) as refused:
        next_event(events, side, action, at=T0, received_at=RECEIVED, preservation=True)
    assert f"only the {RULES[action].owner.value} State" in refused.value.message
    assert "current state: received" in refused.value.message


def test_illegal_transition_names_state_and_allowed_actions() -> None:
    events = play((REQUESTING, Action.SEND))
    with pytest.raises(IllegalTransition) as refused:
        next_event(events, REQUESTED, Action.EXECUTE, at=T0, received_at=RECEIVED, preservation=True)
    assert refused.value.code == "illegal_transition"
    assert "cannot be executed" in refused.value.message
    assert refused.value.allowed == [Action.ACKNOWLEDGE, Action.REFUSE, Action.NOTICE]
    assert "acknowledge, refuse, notice" in refused.value.hint


def test_preservation_only_actions_are_refused_for_other_kinds() -> None:
    events = play((REQUESTING, Action.SEND), (REQUESTED, Action.ACKNOWLEDGE), (REQUESTED, Action.EXECUTE),
                  preservation=False)
    with pytest.raises(IllegalTransition, match="preservation requests only"):
        next_event(events, REQUESTING, Action.EXTEND, at=T0, preservation=False, received_at=RECEIVED)


def test_withdrawal_crossing_an_execution_is_recorded_without_effect() -> None:
    events = play((REQUESTING, Action.SEND), (REQUESTED, Action.ACKNOWLEDGE))
    execute = next_event(events, REQUESTED, Action.EXECUTE, at=T0 + timedelta(hours=1),
                         data=data_for(Action.EXECUTE, T0), preservation=True, received_at=RECEIVED)
    withdraw = next_event(events, REQUESTING, Action.WITHDRAW, at=T0 + timedelta(minutes=59), preservation=True,
                          received_at=RECEIVED)
    history = replay([*events, withdraw, execute], received_at=RECEIVED, preservation=True)
    assert history.state is State.EXECUTED
    last = history.outcomes[-1]
    assert last.event is withdraw and not last.applied
    assert "already executed" in last.reason


def test_a_withdrawal_seen_before_acting_stops_the_requested_state() -> None:
    events = play((REQUESTING, Action.SEND), (REQUESTED, Action.ACKNOWLEDGE), (REQUESTING, Action.WITHDRAW))
    with pytest.raises(IllegalTransition, match="withdrawn"):
        next_event(events, REQUESTED, Action.EXECUTE, at=T0, preservation=True, received_at=RECEIVED)


def test_clarification_round_trip() -> None:
    events = play((REQUESTING, Action.SEND), (REQUESTED, Action.ACKNOWLEDGE), (REQUESTED, Action.CLARIFY),
                  (REQUESTING, Action.ANSWER), (REQUESTED, Action.START), (REQUESTED, Action.PARTIALLY_EXECUTE),
                  (REQUESTED, Action.EXECUTE))
    assert replay(events, received_at=RECEIVED, preservation=True).state is State.EXECUTED


def test_extension_and_follow_up_move_and_hold_the_preservation_clock() -> None:
    events = play((REQUESTING, Action.SEND), (REQUESTED, Action.ACKNOWLEDGE), (REQUESTED, Action.EXECUTE),
                  (REQUESTING, Action.EXTEND))
    history = replay(events, received_at=RECEIVED, preservation=True)
    assert history.preservation.extension_days == 30
    assert history.preservation.until == T0 + timedelta(minutes=3, days=90)
    events.append(next_event(events, REQUESTING, Action.FOLLOW_UP, at=T0, data={"mla_ref": "MLA-9"},
                             preservation=True, received_at=RECEIVED))
    assert replay(events, received_at=RECEIVED, preservation=True).preservation.held_for == "MLA-9"


def test_expiry_only_after_the_period_and_never_while_held() -> None:
    events = play((REQUESTING, Action.SEND), (REQUESTED, Action.ACKNOWLEDGE), (REQUESTED, Action.EXECUTE))
    with pytest.raises(IllegalTransition, match="had not ended"):
        next_event(events, REQUESTED, Action.EXPIRE, at=T0 + timedelta(days=59), preservation=True,
                   received_at=RECEIVED)
    late = T0 + timedelta(days=61)
    expired = next_event(events, REQUESTED, Action.EXPIRE, at=late, preservation=True, received_at=RECEIVED)
    assert replay([*events, expired], received_at=RECEIVED, preservation=True).state is State.EXPIRED
    held = [*events, next_event(events, REQUESTING, Action.FOLLOW_UP, at=T0, data={"mla_ref": "MLA-1"},
                                preservation=True, received_at=RECEIVED)]
    with pytest.raises(IllegalTransition, match="held until the follow-up request MLA-1"):
        next_event(held, REQUESTED, Action.EXPIRE, at=late, preservation=True, received_at=RECEIVED)


def test_the_requesting_state_can_release_preserved_data_also_while_held() -> None:
    events = play((REQUESTING, Action.SEND), (REQUESTED, Action.ACKNOWLEDGE), (REQUESTED, Action.PARTIALLY_EXECUTE),
                  (REQUESTING, Action.FOLLOW_UP), (REQUESTING, Action.RELEASE))
    history = replay(events, received_at=RECEIVED, preservation=True)
    assert history.state is State.EXPIRED
    assert history.outcomes[-1].applied


def test_expiry_is_the_nodes_own_act_never_offered_to_officers() -> None:
    events = play((REQUESTING, Action.SEND), (REQUESTED, Action.ACKNOWLEDGE), (REQUESTED, Action.EXECUTE))
    assert allowed(State.EXECUTED, REQUESTED, preservation=True) == []
    assert allowed(State.EXECUTED, REQUESTED, preservation=True, automatic=True) == [Action.EXPIRE]
    with pytest.raises(IllegalTransition) as refused:
        next_event(events, REQUESTED, Action.ACKNOWLEDGE, at=T0, preservation=True, received_at=RECEIVED)
    assert "expire" not in refused.value.hint
    partial = play((REQUESTING, Action.SEND), (REQUESTED, Action.ACKNOWLEDGE), (REQUESTED, Action.PARTIALLY_EXECUTE))
    lapsed = next_event(partial, REQUESTED, Action.EXPIRE, at=T0 + timedelta(days=61), preservation=True,
                        received_at=RECEIVED)
    assert replay([*partial, lapsed], received_at=RECEIVED, preservation=True).state is State.EXPIRED


def test_actions_on_preserved_data_need_preserved_data_not_a_given_state() -> None:
    events = play((REQUESTING, Action.SEND), (REQUESTED, Action.ACKNOWLEDGE), (REQUESTED, Action.START))
    history = replay(events, received_at=RECEIVED, preservation=True)
    assert Action.EXTEND not in available(history, REQUESTING, preservation=True)
    with pytest.raises(IllegalTransition, match="no data have been preserved yet"):
        next_event(events, REQUESTING, Action.EXTEND, at=T0, data={"days": 30}, preservation=True,
                   received_at=RECEIVED)
    t = T0 + timedelta(minutes=10)
    for side, action in ((REQUESTED, Action.PARTIALLY_EXECUTE), (REQUESTED, Action.CLARIFY),
                         (REQUESTING, Action.EXTEND)):
        t += timedelta(minutes=1)
        events.append(next_event(events, side, action, at=t, data=data_for(action, t), preservation=True,
                                 received_at=RECEIVED))
    history = replay(events, received_at=RECEIVED, preservation=True)
    assert history.state is State.CLARIFICATION_REQUESTED and history.preservation.extension_days == 30


def test_merge_refuses_gaps_and_impossible_views() -> None:
    events = play((REQUESTING, Action.SEND), (REQUESTED, Action.ACKNOWLEDGE), (REQUESTED, Action.START))
    with pytest.raises(ValidationError, match="not numbered"):
        merge([events[0], events[2]])
    impossible = Event(REQUESTED, 1, 5, Action.ACKNOWLEDGE, format_instant(T0))
    with pytest.raises(ValidationError, match="only 1 exist"):
        merge([events[0], impossible])


def test_every_rule_has_an_owner_and_leads_somewhere_legal() -> None:
    for action, rule in RULES.items():
        assert not (rule.sources & TERMINAL), action
        assert rule.target is None or rule.target not in (State.DRAFT, State.SENT) or action is Action.SEND
    assert allowed(State.DRAFT, REQUESTING, preservation=False) == [Action.SEND]
    for state in TERMINAL:
        assert allowed(state, REQUESTING, preservation=True) == []
        assert allowed(state, REQUESTED, preservation=True) == []


# -- two nodes, random interleavings ----------------------------------------------------------------------


@dataclass
class Party:
    """One node's copy of the request."""

    side: Side
    events: list[Event] = field(default_factory=list)
    received_at: str | None = None


@dataclass
class Network:
    """Both parties and the events in flight; each direction is delivered in order, as the inbox enforces."""

    parties: dict[Side, Party]
    in_flight: dict[Side, list[Event]]  # keyed by the receiving side
    t: datetime = T0

    def act(self, side: Side, choice: int, preservation: bool, consultation: bool = False) -> None:
        party = self.parties[side]
        if side is REQUESTED and party.received_at is None:
            return  # nothing to act on yet
        history = replay(party.events, received_at=party.received_at, preservation=preservation,
                         consultation=consultation)
        options = available(history, side, preservation=preservation, consultation=consultation, at=self.t)
        if side is REQUESTED and preservation:
            options += [a for a in allowed(history.state, side, preservation=True, automatic=True)
                        if a not in options]
        # Ending moves (withdraw, refuse, release, expire) only now and then, so long histories get explored.
        calm = [a for a in options if RULES[a].target not in TERMINAL]
        pool = options if choice >= 16 else calm
        if not pool:
            return
        action = pool[choice % len(pool)]
        self.t += timedelta(days=61) if action is Action.EXPIRE else timedelta(minutes=1 + choice % 3)
        try:
            event = next_event(party.events, side, action, at=self.t, data=data_for(action, self.t, history),
                               preservation=preservation, received_at=party.received_at, consultation=consultation)
        except IllegalTransition:
            assert action is Action.EXPIRE  # only the clock-bound expiry may be unavailable (e.g. held)
            return
        assert event.seq == sum(1 for e in party.events if e.side is side) + 1
        party.events.append(event)
        self.in_flight[side.other].append(event)

    def deliver(self, to: Side) -> None:
        if not self.in_flight[to]:
            return
        event = self.in_flight[to].pop(0)
        party = self.parties[to]
        party.events.append(event)
        if event.action is Action.SEND:
            party.received_at = RECEIVED
            self.parties[REQUESTING].received_at = RECEIVED  # the receipt travels back with the answer


steps = st.lists(st.tuples(st.sampled_from(["act-requesting", "act-requested", "to-requesting", "to-requested"]),
                           st.integers(min_value=0, max_value=20)), max_size=40)


@settings(max_examples=400)
@given(steps=steps, kind=st.sampled_from(["other", "preservation", "mla"]))
def test_random_interleavings_agree_and_stay_legal(steps: list[tuple[str, int]], kind: str) -> None:
    preservation, consultation = kind == "preservation", kind == "mla"
    net = Network({REQUESTING: Party(REQUESTING), REQUESTED: Party(REQUESTED)}, {REQUESTING: [], REQUESTED: []})
    net.act(REQUESTING, 0, preservation)  # send
    for step, choice in steps:
        if step == "act-requesting":
            net.act(REQUESTING, choice, preservation, consultation)
        elif step == "act-requested":
            net.act(REQUESTED, choice, preservation, consultation)
        elif step == "to-requesting":
            net.deliver(REQUESTING)
        else:
            net.deliver(REQUESTED)
    while net.in_flight[REQUESTING] or net.in_flight[REQUESTED]:
        net.deliver(REQUESTING)
        net.deliver(REQUESTED)
    a, b = (replay(p.events, received_at=p.received_at, preservation=preservation, consultation=consultation)
            for p in net.parties.values())
    assert a == b  # same canonical order, same outcomes, same state, same clocks, same consultations
    for outcome in a.outcomes:
        rule = RULES[outcome.event.action]
        if outcome.applied:
            assert outcome.before in rule.sources and outcome.event.side is rule.owner
            assert outcome.after is (rule.target or outcome.before)
        else:
            assert outcome.before == outcome.after and outcome.reason
            assert outcome.before not in rule.sources or outcome.event.action is Action.EXPIRE
    applied_states = [o.before for o in a.outcomes if o.applied]
    assert not any(s in TERMINAL for s in applied_states)
    if consultation:
        assert_consulted_first(a)


def assert_consulted_first(history: History) -> None:
    """Every applied refusal or postponement came after a consultation on it that the requesting State answered
    or let lapse (Art. 40); a postponement needs one opened since the last postponement."""
    consulted: list[dict[str, Any]] = []  # each: considering, ground, reply_by, answered
    for outcome in history.outcomes:
        event = outcome.event
        if not outcome.applied:
            continue
        if event.action is Action.CONSULT:
            consulted.append({**event.data, "answered": False, "fresh": True})
        elif event.action is Action.REPLY:
            consulted[-1]["answered"] = True
        elif event.action in (Action.REFUSE, Action.POSTPONE):
            wanted = "refusal" if event.action is Action.REFUSE else "postponement"
            held = [c for c in consulted if c["considering"] == wanted
                    and (c["answered"] or c["reply_by"] <= event.at)
                    and (c.get("ground") == event.data["ground"] if wanted == "refusal" else c["fresh"])]
            assert held, f"{event.action.value} at {event.at} without a consultation on it"
            if event.action is Action.POSTPONE:
                for c in consulted:
                    c["fresh"] = False


@settings(max_examples=200)
@given(order=st.permutations(range(7)))
def test_merge_ignores_arrival_order(order: list[int]) -> None:
    events = play((REQUESTING, Action.SEND), (REQUESTED, Action.ACKNOWLEDGE), (REQUESTED, Action.START),
                  (REQUESTED, Action.CLARIFY), (REQUESTING, Action.ANSWER), (REQUESTED, Action.EXECUTE),
                  (REQUESTING, Action.EXTEND))
    assert merge([events[i] for i in order]) == events
