"""The rules of takedown, without storage: review, quarantine, trust, deadlines and what a victim sees.

A platform registered at a node reports each match and what it did about it (docs/takedown.md). Before the
node treats a match as removal-worthy a person reviews it:

- a report starts ``pending``, or ``quarantined`` when its entry is quarantined; a quarantine moves pending
  reports of the entry to ``quarantined`` and a release moves them back;
- a reviewer ``confirm``\\ s a pending or quarantined report (a notice with a deadline goes to the platform) or
  ``reject``\\ s it (a false positive); the platform may itself record a false positive before the review.
  ``confirmed`` and ``rejected`` are final;
- a confirmed report is resolved once the platform answers the notice with ``removed`` or ``not_removed``
  (a removal made before the review resolves it at once); unresolved after its deadline it is overdue and is
  escalated once.

An entry is quarantined when reports of it flood in (more than a threshold within a fixed window: a defence
against a poisoned hash, one that matches innocuous popular content) or when its trust falls: trust is
``(confirmed + 1) / (confirmed + false_positives + 2)``, and below a threshold after a minimum number of false
positives the entry is quarantined. Neither rule can be set off by one platform alone: in a flood window each
platform counts for at most :func:`flood_share` reports, just over half the threshold, and false positives are
counted by who found them (:func:`count_false_positive`): each platform once, whatever the number of its
matches rejected, and this node's reviewers once. Every function here is pure;
:mod:`hanoinet.hashbank.takedown` applies them to the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from fractions import Fraction
from typing import TypeVar

from hanoinet.errors import Conflict, ValidationError
from hanoinet.text import refused_character

#: Default time a platform has to act on a confirmed match, per category: a day for child sexual abuse
#: material, two days for intimate images (the removal window of the US TAKE IT DOWN Act). Node policy,
#: not treaty text: the Convention asks for removal (Art. 34) without fixing hours.
DEFAULT_DEADLINE_SECONDS: dict[str, int] = {"art14": 24 * 3600, "art16": 48 * 3600}
DEFAULT_FLOOD_WINDOW_SECONDS = 3600
DEFAULT_FLOOD_THRESHOLD = 50
DEFAULT_MIN_FALSE_POSITIVES = 3
DEFAULT_TRUST_THRESHOLD_PERCENT = 50
#: Longest reason or note a platform or reviewer may write.
MAX_REASON = 1000
#: Most reports one listing returns.
MAX_LIST = 1000
#: The source of false positives found by this node's reviewers (platforms are sources by their id, from 1).
REVIEWERS = 0


E = TypeVar("E", bound=StrEnum)


class Review(StrEnum):
    """Where a report stands in the node's review."""

    PENDING = "pending"
    QUARANTINED = "quarantined"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


class Action(StrEnum):
    """What the platform says it did about the matched content."""

    REMOVED = "removed"
    NOT_REMOVED = "not_removed"
    UNDER_REVIEW = "under_review"


class Decision(StrEnum):
    """A reviewer's decision on a report."""

    CONFIRM = "confirm"
    REJECT = "reject"


class VictimStatus(StrEnum):
    """What the victim sees for one platform in one country, in order of precedence (see :func:`combine`)."""

    OVERDUE = "overdue"  # confirmed, and the platform missed its deadline: the node escalated it
    NOT_REMOVED = "not_removed"  # the platform answered that it will not remove it, with its reason
    UNDER_REVIEW = "under_review"  # confirmed: the platform has a notice with a deadline
    MATCHED = "matched"  # a platform found a copy; the node has not reviewed it yet
    REMOVED = "removed"
    FALSE_POSITIVE = "false_positive"  # the match was wrong: not the victim's image


#: Precedence of :func:`combine`: the copy that most needs attention decides what the victim sees.
PRECEDENCE = tuple(VictimStatus)

UNDECIDED = frozenset({Review.PENDING, Review.QUARANTINED})
_ANY_ACTION = frozenset(Action)


@dataclass(frozen=True, slots=True)
class Policy:
    """The node's numbers for these rules (settings ``takedown_*``, docs/takedown.md)."""

    deadline_seconds: Mapping[str, int]
    flood_window: timedelta = timedelta(seconds=DEFAULT_FLOOD_WINDOW_SECONDS)
    flood_threshold: int = DEFAULT_FLOOD_THRESHOLD
    min_false_positives: int = DEFAULT_MIN_FALSE_POSITIVES
    trust_threshold_percent: int = DEFAULT_TRUST_THRESHOLD_PERCENT

    def deadline(self, category: str) -> timedelta:
        """How long a platform has to act on a confirmed match of ``category``."""
        return timedelta(seconds=self.deadline_seconds[category])


# -- parsing --------------------------------------------------------------------------------------------------


def _member(kind: type[E], value: object, message: str, *, hint: str, code: str) -> E:
    try:
        return kind(str(value))
    except ValueError:
        raise ValidationError(message, hint=hint, code=code) from None


def check_action(value: object) -> Action:
    """``removed``, ``not_removed`` or ``under_review``; ``bad_action`` otherwise."""
    return _member(Action, value, f"action {value!r} is not one a platform can report",
                   hint="removed, not_removed (with a reason) or under_review", code="bad_action")


def check_decision(value: object) -> Decision:
    """``confirm`` or ``reject``; ``bad_decision`` otherwise."""
    return _member(Decision, value, f"decision {value!r} is not confirm or reject",
                   hint="confirm: the match is removal-worthy; reject: a false positive", code="bad_decision")


def control_character(value: str, *, free_text: bool) -> str | None:
    """The first character of ``value`` that may not be stored or sent, or None.

    The node's one rule (:mod:`hanoinet.text`): control characters (but tab and line feed in ``free_text``),
    lone surrogates and noncharacters are refused.
    """
    found = refused_character(value, lines=free_text)
    return value[found[0]] if found is not None else None


def check_text(value: str | None, what: str) -> str | None:
    """A reason or note: stripped, at most :data:`MAX_REASON` characters; None when empty.

    Refused (``bad_reason``): a longer text, or one holding a character :func:`control_character` refuses in
    free text (a control character other than tab and line feed, or a lone surrogate).
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    if len(value) > MAX_REASON:
        raise ValidationError(f"the {what} has {len(value)} characters; at most {MAX_REASON}",
                              hint=f"shorten the {what}", code="bad_reason")
    bad = control_character(value, free_text=True)
    if bad is not None:
        raise ValidationError(f"the {what} contains the character U+{ord(bad):04X}, which cannot be stored",
                              hint=f"write the {what} as plain text: tabs and line feeds are allowed, other control "
                              "characters (U+0000-U+001F, U+007F) are not", code="bad_reason")
    return value


# -- review -------------------------------------------------------------------------------------------------


def allowed_actions(review: Review, resolved: bool) -> frozenset[Action]:
    """What a platform may report on a report in ``review``.

    Before the review and under a notice, anything it did. Once it answered a notice it cannot go back to
    ``under_review`` (that would reopen a resolved notice). On a rejected match the node asks for nothing, so
    a removal is not recorded against the bank; the platform can still say it put the content back.
    """
    if review is Review.REJECTED:
        return frozenset({Action.NOT_REMOVED})
    if review is Review.CONFIRMED and resolved:
        return frozenset({Action.REMOVED, Action.NOT_REMOVED})
    return _ANY_ACTION


def check_report(review: Review, resolved: bool, action: Action, reason: str | None) -> None:
    """Refuse an action the report's state does not allow, or ``not_removed`` without a reason."""
    if action is Action.NOT_REMOVED and reason is None:
        raise ValidationError("not_removed needs a reason", hint="say why the content stays up (e.g. 'not the "
                              "same image', 'court order', 'outside our jurisdiction')", code="reason_required")
    if action not in allowed_actions(review, resolved):
        allowed = ", ".join(sorted(allowed_actions(review, resolved)))
        why = "it was rejected as a false positive" if review is Review.REJECTED else "you answered its notice"
        raise Conflict(f"a report cannot become {action} once {why}", hint=f"report one of: {allowed}",
                       code="action_not_allowed")


def decide(review: Review, decision: Decision) -> Review:
    """The report's review after a reviewer's decision; ``already_reviewed`` if it was decided before."""
    if review not in UNDECIDED:
        raise Conflict(f"this report was already {review}; a review is final",
                       hint="a new match of the same content is a new report", code="already_reviewed")
    return Review.CONFIRMED if decision is Decision.CONFIRM else Review.REJECTED


def platform_false_positive(review: Review) -> Review:
    """The review after the platform records a false positive on its own report.

    Before the review it rejects the report; again on a rejected one it changes nothing. After a reviewer
    confirmed it, the platform answers the notice instead (``not_removed`` with its reason).
    """
    if review is Review.CONFIRMED:
        raise Conflict("a reviewer confirmed this match; it can no longer be recorded as a false positive",
                       hint="answer the notice with action not_removed and say why in the reason",
                       code="already_confirmed")
    return Review.REJECTED


def quarantined(review: Review) -> Review:
    """The review of a report when its entry is quarantined: pending reports wait for a closer look."""
    return Review.QUARANTINED if review is Review.PENDING else review


def released(review: Review) -> Review:
    """The review of a report when its entry's quarantine is lifted."""
    return Review.PENDING if review is Review.QUARANTINED else review


def resolves(review: Review, action: Action) -> bool:
    """Whether ``action`` answers the notice of a report in ``review`` (only confirmed reports have one)."""
    return review is Review.CONFIRMED and action in (Action.REMOVED, Action.NOT_REMOVED)


def resolved_on_confirm(action: Action) -> bool:
    """Whether a report is resolved the moment it is confirmed: only if the content is already removed.

    A ``not_removed`` said before the review was said without it: the notice asks the platform again.
    """
    return action is Action.REMOVED


# -- flood and trust ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Window:
    """New reports of one entry since ``start``, per platform: ``(platform, reports)`` pairs by platform."""

    start: datetime
    reports: tuple[tuple[int, int], ...] = ()

    @property
    def count(self) -> int:
        """All new reports in the window."""
        return sum(n for _, n in self.reports)

    def counted(self, policy: Policy) -> int:
        """The reports the flood rule counts: each platform's, up to :func:`flood_share`."""
        share = flood_share(policy)
        return sum(min(n, share) for _, n in self.reports)


def flood_share(policy: Policy) -> int:
    """Most reports one platform counts for in a flood window: ``flood_threshold // 2 + 1``.

    Just over half the threshold: one platform alone never floods an entry (its share is at most the
    threshold), two platforms can (two shares exceed it).
    """
    return policy.flood_threshold // 2 + 1


def count_report(window: Window | None, platform: int, at: datetime, policy: Policy) -> tuple[Window, bool]:
    """Count a new report by ``platform`` at ``at``; returns the window and whether the entry is flooded.

    Fixed windows of ``policy.flood_window``: a report after the window (or before it, if the clock went back)
    opens a new one. Flooded: more than ``policy.flood_threshold`` reports in the window, each platform counting
    for at most :func:`flood_share` of them.
    """
    if window is None or not window.start <= at < window.start + policy.flood_window:
        window = Window(at)
    counts = dict(window.reports)
    counts[platform] = counts.get(platform, 0) + 1
    window = Window(window.start, tuple(sorted(counts.items())))
    return window, window.counted(policy) > policy.flood_threshold


def count_false_positive(sources: frozenset[int], platform: int, *, by_reviewer: bool) -> frozenset[int]:
    """Who has called a match of the entry a false positive, after one more rejection of ``platform``'s match.

    The platform whose match it was counts once, however many of its matches were rejected; a rejection by a
    reviewer also counts this node's reviewers (:data:`REVIEWERS`), once. The entry's false positives are the
    number of these sources: one platform alone accounts for at most two (its own, and the reviewers' it can
    get by feeding them bad matches).
    """
    return sources | {platform} | ({REVIEWERS} if by_reviewer else frozenset())


def trust(confirmed: int, false_positives: int) -> Fraction:
    """``(confirmed + 1) / (confirmed + false_positives + 2)``: one half for an entry nobody reviewed yet."""
    return Fraction(confirmed + 1, confirmed + false_positives + 2)


def distrusted(confirmed: int, false_positives: int, policy: Policy) -> bool:
    """Whether the entry's trust has fallen below the threshold after enough false positives."""
    return (false_positives >= policy.min_false_positives
            and trust(confirmed, false_positives) < Fraction(policy.trust_threshold_percent, 100))


# -- deadlines --------------------------------------------------------------------------------------------------


def due_at(confirmed_at: datetime, category: str, policy: Policy) -> datetime:
    """By when the platform must act on a match of ``category`` confirmed at ``confirmed_at``."""
    return confirmed_at + policy.deadline(category)


def is_overdue(review: Review, resolved: bool, due: datetime | None, at: datetime) -> bool:
    """A confirmed report still unanswered after its deadline (answering at the deadline is in time)."""
    return review is Review.CONFIRMED and not resolved and due is not None and at > due


def needs_escalation(review: Review, resolved: bool, due: datetime | None, escalated_at: datetime | None,
                     at: datetime) -> bool:
    """Overdue and not escalated yet: each missed deadline is escalated once."""
    return escalated_at is None and is_overdue(review, resolved, due, at)


# -- what the victim sees -------------------------------------------------------------------------------------


def victim_status(review: Review, action: Action, resolved: bool, escalated: bool) -> VictimStatus:
    """What one report shows the victim.

    A removal shows whatever the review, except on a rejected match (not the victim's image). Before the
    review the victim sees that a copy was found; under a notice, that the platform is acting on it or, once
    escalated, that it is late; after the answer, the answer.
    """
    if review is Review.REJECTED:
        return VictimStatus.FALSE_POSITIVE
    if action is Action.REMOVED:
        return VictimStatus.REMOVED
    if review in UNDECIDED:
        return VictimStatus.MATCHED
    if resolved:
        return VictimStatus.NOT_REMOVED
    return VictimStatus.OVERDUE if escalated else VictimStatus.UNDER_REVIEW


def combine(statuses: Iterable[tuple[VictimStatus, str | None]]) -> tuple[VictimStatus, str | None] | None:
    """One platform's status for one entry from its reports (copies): the first in :data:`PRECEDENCE`.

    The reason goes with ``not_removed`` only (the platform's answer); of several, the first in sorted order,
    so that the result does not depend on the order of the reports. None for no report.
    """
    held = list(statuses)
    if not held:
        return None
    status = min((s for s, _ in held), key=PRECEDENCE.index)
    if status is not VictimStatus.NOT_REMOVED:
        return status, None
    return status, min((r for s, r in held if s is status and r is not None), default=None)
