"""The takedown rules without storage: review, flood, trust, deadlines and what a victim sees."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hanoinet.errors import Conflict, ValidationError
from hanoinet.hashbank import takedown_rules as rules
from hanoinet.hashbank.takedown_rules import Action, Decision, Review, VictimStatus

POLICY = rules.Policy(deadline_seconds=rules.DEFAULT_DEADLINE_SECONDS)
T0 = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)

reviews = st.sampled_from(list(Review))
actions = st.sampled_from(list(Action))
decisions = st.sampled_from(list(Decision))
statuses = st.sampled_from(list(VictimStatus))
reasons = st.one_of(st.none(), st.text(min_size=1, max_size=5))
# What can happen to a report after it is made, in any order.
events = st.one_of(
    st.tuples(st.just("decide"), decisions), st.tuples(st.just("platform_fp"), st.none()),
    st.tuples(st.just("quarantine"), st.none()), st.tuples(st.just("release"), st.none()),
    st.tuples(st.just("act"), actions),
)


def test_the_defaults_are_those_documented() -> None:
    assert POLICY.deadline("art14") == timedelta(hours=24) and POLICY.deadline("art16") == timedelta(hours=48)
    assert (POLICY.flood_window, POLICY.flood_threshold) == (timedelta(hours=1), 50)
    assert (POLICY.min_false_positives, POLICY.trust_threshold_percent) == (3, 50)
    assert rules.trust(0, 0) == Fraction(1, 2)


@given(st.lists(events, max_size=12))
def test_a_review_is_decided_once_and_then_final(history: list[tuple[str, object]]) -> None:
    review, decided = Review.PENDING, None
    for what, value in history:
        if what == "decide":
            assert isinstance(value, Decision)
            if decided is None:
                review = rules.decide(review, value)
                decided = review
            else:
                with pytest.raises(Conflict):
                    rules.decide(review, value)
        elif what == "platform_fp":
            if review is Review.CONFIRMED:
                with pytest.raises(Conflict):
                    rules.platform_false_positive(review)
            else:
                review = rules.platform_false_positive(review)
                decided = decided or review
        elif what == "quarantine":
            review = rules.quarantined(review)
        elif what == "release":
            review = rules.released(review)
        if decided is not None:
            assert review is decided, "confirmed and rejected are final"
        else:
            assert review in rules.UNDECIDED


@given(reviews, st.booleans(), actions, reasons)
def test_what_a_platform_may_report(review: Review, resolved: bool, action: Action, reason: str | None) -> None:
    allowed = rules.allowed_actions(review, resolved)
    if action is Action.NOT_REMOVED and reason is None:
        with pytest.raises(ValidationError):
            rules.check_report(review, resolved, action, reason)
    elif action in allowed:
        rules.check_report(review, resolved, action, reason)
    else:
        with pytest.raises(Conflict):
            rules.check_report(review, resolved, action, reason)
    # A removal is never recorded against a rejected match; an answered notice is never reopened.
    assert (Action.REMOVED in allowed) == (review is not Review.REJECTED)
    assert (Action.UNDER_REVIEW in allowed) == (review in rules.UNDECIDED or (review is Review.CONFIRMED
                                                                              and not resolved))
    assert Action.NOT_REMOVED in allowed


@given(reviews, actions)
def test_only_an_answer_to_a_notice_resolves_it(review: Review, action: Action) -> None:
    assert rules.resolves(review, action) == (review is Review.CONFIRMED and action is not Action.UNDER_REVIEW)
    assert rules.resolved_on_confirm(action) == (action is Action.REMOVED)


@given(st.lists(st.integers(min_value=0, max_value=7200), min_size=1, max_size=200),
       st.integers(min_value=1, max_value=20), st.integers(min_value=60, max_value=3600))
def test_a_flood_is_more_reports_than_the_threshold_within_one_window(gaps: list[int], threshold: int,
                                                                      window_seconds: int) -> None:
    policy = rules.Policy(deadline_seconds=rules.DEFAULT_DEADLINE_SECONDS, flood_threshold=threshold,
                          flood_window=timedelta(seconds=window_seconds))
    window, at, times = None, T0, []
    for gap in gaps:
        at += timedelta(seconds=gap)
        times.append(at)
        window, flooded = rules.count_report(window, at, policy)
        assert window.start <= at < window.start + policy.flood_window
        in_window = [t for t in times if window.start <= t]
        assert window.count == len(in_window), "the window counts the reports since it opened"
        assert flooded == (len(in_window) > threshold)
        if flooded:
            assert len([t for t in times if t > at - policy.flood_window]) > threshold, \
                "a flood is never declared without that many reports within the window's length"


def test_reports_spread_out_never_flood() -> None:
    window, at = None, T0
    for _ in range(1000):
        window, flooded = rules.count_report(window, at, POLICY)
        assert not flooded and window.count == 1
        at += POLICY.flood_window
    window, _ = rules.count_report(rules.Window(T0, 30), T0 - timedelta(seconds=1), POLICY)
    assert window == rules.Window(T0 - timedelta(seconds=1), 1), "a clock that went back opens a new window"


@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=0, max_value=10_000))
def test_trust_falls_with_false_positives_and_rises_with_confirmations(confirmed: int, false_positives: int) -> None:
    value = rules.trust(confirmed, false_positives)
    assert 0 < value < 1
    assert rules.trust(confirmed, false_positives + 1) < value < rules.trust(confirmed + 1, false_positives)
    # With the default threshold of one half: quarantined when false positives outnumber confirmations.
    assert rules.distrusted(confirmed, false_positives, POLICY) == (false_positives >= 3
                                                                    and false_positives > confirmed)


@given(st.integers(min_value=0, max_value=1000), st.integers(min_value=0, max_value=1000),
       st.integers(min_value=1, max_value=10), st.integers(min_value=0, max_value=100))
def test_distrust_needs_enough_false_positives_and_is_monotone(confirmed: int, false_positives: int,
                                                               minimum: int, percent: int) -> None:
    policy = rules.Policy(deadline_seconds=rules.DEFAULT_DEADLINE_SECONDS, min_false_positives=minimum,
                          trust_threshold_percent=percent)
    if rules.distrusted(confirmed, false_positives, policy):
        assert false_positives >= minimum
        assert rules.distrusted(confirmed, false_positives + 1, policy), "one more false positive keeps it"
    if false_positives < minimum:
        assert not rules.distrusted(confirmed, false_positives, policy)
    if percent == 0:
        assert not rules.distrusted(confirmed, false_positives, policy), "a threshold of 0 never quarantines"


@given(reviews, st.booleans(), st.integers(min_value=-100_000, max_value=300_000),
       st.one_of(st.none(), st.just(T0)), st.sampled_from(["art14", "art16"]))
def test_a_missed_deadline_is_overdue_and_escalated_once(review: Review, resolved: bool, elapsed: int,
                                                         escalated: datetime | None, category: str) -> None:
    due = rules.due_at(T0, category, POLICY)
    assert due - T0 == timedelta(seconds=rules.DEFAULT_DEADLINE_SECONDS[category])
    at = T0 + timedelta(seconds=elapsed)
    overdue = rules.is_overdue(review, resolved, due, at)
    assert overdue == (review is Review.CONFIRMED and not resolved and at > due)
    assert not rules.is_overdue(review, resolved, due, due), "acting at the deadline is in time"
    assert not rules.is_overdue(review, resolved, None, at)
    assert rules.needs_escalation(review, resolved, due, escalated, at) == (overdue and escalated is None)


@given(reviews, actions, st.booleans(), st.booleans())
def test_what_the_victim_sees_of_one_report(review: Review, action: Action, resolved: bool, escalated: bool) -> None:
    status = rules.victim_status(review, action, resolved, escalated)
    if review is Review.REJECTED:
        assert status is VictimStatus.FALSE_POSITIVE
    elif action is Action.REMOVED:
        assert status is VictimStatus.REMOVED
    elif review in rules.UNDECIDED:
        assert status is VictimStatus.MATCHED, "nothing is removal-worthy before a person reviewed it"
    else:
        assert status in (VictimStatus.NOT_REMOVED, VictimStatus.UNDER_REVIEW, VictimStatus.OVERDUE)
        assert (status is VictimStatus.OVERDUE) == (not resolved and escalated)


@given(st.lists(st.tuples(statuses, reasons), max_size=8), st.randoms())
def test_one_platforms_copies_combine_into_one_status_whatever_their_order(
        held: list[tuple[VictimStatus, str | None]], shuffler: random.Random) -> None:
    combined = rules.combine(held)
    if not held:
        assert combined is None
        return
    assert combined is not None
    status, reason = combined
    assert status in {s for s, _ in held}
    assert all(rules.PRECEDENCE.index(status) <= rules.PRECEDENCE.index(s) for s, _ in held)
    assert reason is None or status is VictimStatus.NOT_REMOVED
    shuffled = list(held)
    shuffler.shuffle(shuffled)
    assert rules.combine(shuffled) == combined


def test_one_copy_still_up_outweighs_copies_removed() -> None:
    assert rules.combine([(VictimStatus.REMOVED, None), (VictimStatus.UNDER_REVIEW, None)]) == (
        VictimStatus.UNDER_REVIEW, None)
    assert rules.combine([(VictimStatus.REMOVED, None), (VictimStatus.FALSE_POSITIVE, None)]) == (
        VictimStatus.REMOVED, None)
    assert rules.combine([(VictimStatus.NOT_REMOVED, "b"), (VictimStatus.NOT_REMOVED, "a")]) == (
        VictimStatus.NOT_REMOVED, "a")


@pytest.mark.parametrize(("check", "value", "code"), [
    (rules.check_action, "deleted", "bad_action"),
    (rules.check_decision, "maybe", "bad_decision"),
])
def test_bad_words_are_refused_with_what_to_say(check: Callable[[str], object], value: str, code: str) -> None:
    with pytest.raises(ValidationError) as caught:
        check(value)
    assert caught.value.code == code and caught.value.hint


def test_reasons_are_trimmed_and_bounded() -> None:
    assert rules.check_text("  ", "reason") is None and rules.check_text(" court order ", "reason") == "court order"
    with pytest.raises(ValidationError) as caught:
        rules.check_text("x" * (rules.MAX_REASON + 1), "reason")
    assert caught.value.code == "bad_reason"
