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


def _flood_policy(threshold: int, window_seconds: int = 3600) -> rules.Policy:
    return rules.Policy(deadline_seconds=rules.DEFAULT_DEADLINE_SECONDS, flood_threshold=threshold,
                        flood_window=timedelta(seconds=window_seconds))


@given(st.lists(st.tuples(st.integers(min_value=0, max_value=7200), st.integers(min_value=1, max_value=4)),
                min_size=1, max_size=200),
       st.integers(min_value=1, max_value=20), st.integers(min_value=60, max_value=3600))
def test_a_flood_is_more_reports_than_the_threshold_within_one_window(reports: list[tuple[int, int]],
                                                                      threshold: int, window_seconds: int) -> None:
    policy = _flood_policy(threshold, window_seconds)
    share = rules.flood_share(policy)
    window, at, seen = None, T0, []
    for gap, platform in reports:
        at += timedelta(seconds=gap)
        seen.append((at, platform))
        window, flooded = rules.count_report(window, platform, at, policy)
        assert window.start <= at < window.start + policy.flood_window
        in_window = [p for t, p in seen if window.start <= t]
        assert window.count == len(in_window), "the window counts the reports since it opened"
        assert dict(window.reports) == {p: in_window.count(p) for p in set(in_window)}
        counted = sum(min(in_window.count(p), share) for p in set(in_window))
        assert window.counted(policy) == counted and flooded == (counted > threshold)
        if flooded:
            assert len({p for t, p in seen if t > at - policy.flood_window}) >= 2, "never one platform alone"
            for platform_left_out in set(in_window):
                assert len([p for p in in_window if p != platform_left_out]) >= threshold + 1 - share, \
                    "whichever platform is left out, the others reported at least threshold - share + 1"


@given(st.integers(min_value=1, max_value=200), st.integers(min_value=1, max_value=1000))
def test_one_platform_alone_never_floods_and_two_can(threshold: int, reports: int) -> None:
    policy = _flood_policy(threshold)
    share = rules.flood_share(policy)
    assert share <= threshold < 2 * share
    window = None
    for i in range(reports):
        window, flooded = rules.count_report(window, 7, T0 + timedelta(milliseconds=i), policy)
        assert not flooded
    window = None
    for i in range(2 * share):  # a poisoned hash: two platforms each matching many uploads
        window, flooded = rules.count_report(window, 1 + i % 2, T0 + timedelta(milliseconds=i), policy)
    assert flooded


def test_the_flood_numbers_by_default() -> None:
    assert rules.flood_share(POLICY) == 26
    window = None
    for i in range(1000):
        window, flooded = rules.count_report(window, 1, T0 + timedelta(seconds=i), POLICY)
        assert not flooded, "a thousand reports of one platform in an hour"
    assert window is not None and window.counted(POLICY) == 26
    for i in range(24):
        window, flooded = rules.count_report(window, 2, T0 + timedelta(seconds=i), POLICY)
        assert not flooded, "26 + 24 = 50 is not more than 50"
    window, flooded = rules.count_report(window, 3, T0 + timedelta(seconds=30), POLICY)
    assert flooded and window.count == 1025 and window.counted(POLICY) == 51


def test_reports_spread_out_never_flood() -> None:
    window, at = None, T0
    for i in range(1000):
        window, flooded = rules.count_report(window, i % 5, at, POLICY)
        assert not flooded and window.count == 1
        at += POLICY.flood_window
    window, _ = rules.count_report(rules.Window(T0, ((1, 30), (2, 30))), 1, T0 - timedelta(seconds=1), POLICY)
    assert window == rules.Window(T0 - timedelta(seconds=1), ((1, 1),)), "a clock that went back opens a new window"


@given(st.lists(st.tuples(st.integers(min_value=1, max_value=6), st.booleans()), max_size=40))
def test_false_positives_count_each_platform_and_the_reviewers_once(rejections: list[tuple[int, bool]]) -> None:
    sources: frozenset[int] = frozenset()
    for platform, by_reviewer in rejections:
        before = sources
        sources = rules.count_false_positive(sources, platform, by_reviewer=by_reviewer)
        assert before <= sources and len(sources) - len(before) <= 2
    assert sources == {p for p, _ in rejections} | ({rules.REVIEWERS} if any(r for _, r in rejections) else set())
    alone = {p for p, _ in rejections}
    if len(alone) <= 1:
        assert len(sources) <= 2 and not rules.distrusted(0, len(sources), POLICY), \
            "one platform, with the reviewers it fed bad matches, cannot quarantine an entry"


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


CONTROLS = [chr(c) for c in (*range(0x20), 0x7F)]


@given(st.text(max_size=20), st.sampled_from([c for c in CONTROLS if c not in "\t\n"]), st.text(max_size=20))
def test_reasons_hold_no_control_character_but_tab_and_line_feed(before: str, control: str, after: str) -> None:
    text = f"x{before}{control}{after}x"
    found = rules.control_character(text, free_text=True)
    assert found is not None
    with pytest.raises(ValidationError) as caught:
        rules.check_text(text, "reason")
    assert caught.value.code == "bad_reason" and f"U+{ord(found):04X}" in caught.value.message and caught.value.hint


# Noncharacters are unassigned (Cn); C1 controls (U+0080-U+009F) are Cc like the C0 ones.
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Cn"))))
def test_text_without_control_characters_is_kept(text: str) -> None:
    assert rules.control_character(text, free_text=False) is None
    checked = rules.check_text(f"a\t{text[:500]}\nb", "note")
    assert checked == f"a\t{text[:500]}\nb".strip()


def test_names_hold_no_control_character_at_all() -> None:
    for bad in ("a\tb", "a\nb", "a\x00b", "a\x7fb", "a\ud800b"):
        assert rules.control_character(bad, free_text=False) is not None, bad
    assert rules.control_character("a\ud800b", free_text=True) == "\ud800", "a lone surrogate is not text"
    assert rules.control_character("Exämple Photos 写真", free_text=False) is None
    assert rules.control_character("Exämple \u0085", free_text=True) == "\u0085", "a C1 control (NEL) too"
