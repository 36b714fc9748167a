"""The legal and service clocks of a request, computed from its history (pure).

- acknowledgement: from receipt to a person's acknowledgement, against the requested desk's target;
- preservation (Art. 42): from ``preserved_at``, at least the minimum period plus extensions, then held
  while the follow-up request is pending; warnings before it lapses;
- response: from sending to execution or refusal (for statistics and follow-up calls);
- deadline (Art. 40): the date by which the requesting State, giving its reasons, asks for execution;
- consultation (Art. 40): the date by which the requesting State may reply to a consultation before a
  refusal or a postponement;
- postponement (Art. 40): the date until which execution is postponed; past it, the node resumes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hanoinet.clock import format_instant, parse_instant
from hanoinet.requests.machine import TERMINAL, Action, History, State


@dataclass(frozen=True, slots=True)
class Clock:
    """One clock as shown to an officer."""

    name: str
    label: str
    status: str  # running | met | late | overdue | warning | held | lapsed | released | stopped
    started: datetime | None
    due: datetime | None
    stopped: datetime | None = None
    note: str = ""
    article: str = ""

    def remaining(self, t: datetime) -> timedelta | None:
        """Time left until ``due`` (negative when past), while the clock runs."""
        if self.due is None or self.stopped is not None:
            return None
        return self.due - t

    def to_json(self, t: datetime) -> dict[str, Any]:
        """JSON view; durations in whole seconds (the protocol has no floats)."""
        left = self.remaining(t)
        return {
            "name": self.name, "label": self.label, "status": self.status, "article": self.article,
            "started": format_instant(self.started) if self.started else None,
            "due": format_instant(self.due) if self.due else None,
            "stopped": format_instant(self.stopped) if self.stopped else None,
            "remaining_seconds": int(left.total_seconds()) if left is not None else None,
            "elapsed_seconds": int((self.stopped - self.started).total_seconds())
            if self.stopped is not None and self.started is not None else None,
            "note": self.note,
        }


def _at(history: History, action: Action) -> datetime | None:
    event = history.last(action)
    return parse_instant(event.at) if event is not None else None


def acknowledgement(history: History, target: timedelta, t: datetime) -> Clock | None:
    """Time to acknowledgement against ``target``; ``None`` before the request was received."""
    if history.received_at is None:
        return None
    received = parse_instant(history.received_at)
    due = received + target
    acknowledged = _at(history, Action.ACKNOWLEDGE)
    label = "acknowledgement by a person at the requested desk"
    if acknowledged is not None:
        status = "met" if acknowledged <= due else "late"
        return Clock("acknowledgement", label, status, received, due, stopped=acknowledged)
    if history.state in TERMINAL:
        return Clock("acknowledgement", label, "stopped", received, due, stopped=None,
                     note=f"request {history.state.value} before acknowledgement")
    return Clock("acknowledgement", label, "overdue" if t > due else "running", received, due)


def preservation(history: History, t: datetime, *, warnings: Sequence[int], article: str = "") -> Clock | None:
    """The Art. 42 preservation period; ``None`` until the requested State records ``preserved_at``."""
    clock = history.preservation
    until = clock.until
    if clock.preserved_at is None or until is None:
        return None
    label = (f"data preserved for at least {clock.minimum_days} days"
             + (f" + {clock.extension_days} days of extensions" if clock.extension_days else ""))
    released = _at(history, Action.RELEASE)
    if history.state is State.EXPIRED and released is not None:
        return Clock("preservation", label, "released", clock.preserved_at, until, stopped=released,
                     article=article, note="the requesting State no longer needs the data")
    if history.state is State.EXPIRED:
        return Clock("preservation", label, "lapsed", clock.preserved_at, until,
                     stopped=_at(history, Action.EXPIRE), article=article)
    if history.state in (State.WITHDRAWN, State.REFUSED):
        return Clock("preservation", label, "stopped", clock.preserved_at, until,
                     stopped=_at(history, Action.WITHDRAW) or _at(history, Action.REFUSE), article=article)
    if clock.held_for is not None:
        return Clock("preservation", label, "held", clock.preserved_at, until, article=article,
                     note=f"kept until the mutual legal assistance request {clock.held_for} is decided")
    if t >= until:
        return Clock("preservation", label, "overdue", clock.preserved_at, until, article=article,
                     note="the minimum period has ended: extend, send the follow-up request, or let it expire")
    soon = preservation_warning(until, t, warnings)
    if soon is not None:
        return Clock("preservation", label, "warning", clock.preserved_at, until, article=article,
                     note=f"lapses in less than {soon} day(s): extend it or send the follow-up request")
    return Clock("preservation", label, "running", clock.preserved_at, until, article=article)


def preservation_warning(until: datetime, t: datetime, warnings: Sequence[int]) -> int | None:
    """The nearest warning, in days before ``until``, whose time has come at ``t``; ``None`` before the first."""
    due = [days for days in warnings if until - t <= timedelta(days=days)]
    return min(due) if due else None


def response(history: History) -> Clock | None:
    """From sending to the requested State's final answer (no target: shown for follow-up)."""
    sent = _at(history, Action.SEND)
    if sent is None:
        return None
    done = _at(history, Action.EXECUTE) or _at(history, Action.REFUSE)
    return Clock("response", "from sending to execution or refusal", "stopped" if done else "running", sent, None,
                 stopped=done)


def deadline(history: History, t: datetime, *, article: str = "") -> Clock | None:
    """The requesting State's deadline, from sending to execution; ``None`` when the request gave none.

    Met or late once executed (a partial execution does not stop it); stopped when the request ends
    otherwise; overdue once past while the request is open, also while it is postponed.
    """
    given = history.procedure.deadline
    sent = _at(history, Action.SEND)
    if given is None or sent is None:
        return None
    label = "execution by the date the requesting State asked for"
    executed = _at(history, Action.EXECUTE)
    if executed is not None:
        return Clock("deadline", label, "met" if executed <= given.due else "late", sent, given.due,
                     stopped=executed, note=given.reasons, article=article)
    if history.state in TERMINAL:
        return Clock("deadline", label, "stopped", sent, given.due, stopped=_end(history), article=article,
                     note=f"request {history.state.value}")
    note = given.reasons
    if history.state is State.POSTPONED and history.procedure.postponement is not None:
        note = f"postponed until {format_instant(history.procedure.postponement.until)}; asked for: {note}"
    return Clock("deadline", label, "overdue" if t > given.due else "running", sent, given.due, note=note,
                 article=article)


def consultation(history: History, t: datetime, *, article: str = "") -> Clock | None:
    """The last consultation: running until the reply-by date, then overdue while no reply came.

    ``met`` or ``late`` once the requesting State replied; ``stopped`` when the requested State went on
    (resumed, refused, postponed) or the request was withdrawn without a reply. ``None`` before any.
    """
    if not history.procedure.consultations:
        return None
    last = history.procedure.consultations[-1]
    label = f"reply to the consultation on {last.ground or last.considering.value}"
    if last.answered_at is not None:
        return Clock("consultation", label, "met" if last.answered_at <= last.reply_by else "late", last.opened_at,
                     last.reply_by, stopped=last.answered_at, note=last.reasons, article=article)
    if last.closed_at is not None:
        return Clock("consultation", label, "stopped", last.opened_at, last.reply_by, stopped=last.closed_at,
                     note="closed without a reply", article=article)
    if t >= last.reply_by:
        return Clock("consultation", label, "overdue", last.opened_at, last.reply_by, article=article,
                     note=f"no reply by the date given: the requested State may now go on to the {last.considering}")
    return Clock("consultation", label, "running", last.opened_at, last.reply_by, note=last.reasons, article=article)


def postponement(history: History, t: datetime, *, article: str = "") -> Clock | None:
    """The last postponement: running until its date, overdue past it until resumed; ``None`` before any."""
    last = history.procedure.postponement
    if last is None:
        return None
    label = "execution postponed"
    if last.ended_at is not None:
        return Clock("postponement", label, "stopped", last.at, last.until, stopped=last.ended_at, note=last.reasons,
                     article=article)
    if t >= last.until:
        return Clock("postponement", label, "overdue", last.at, last.until, article=article,
                     note="the postponement has ended: the requested node resumes execution")
    return Clock("postponement", label, "running", last.at, last.until, note=last.reasons, article=article)


def _end(history: History) -> datetime | None:
    for action in (Action.REFUSE, Action.WITHDRAW, Action.RELEASE, Action.EXPIRE):
        end = _at(history, action)
        if end is not None:
            return end
    return None


def all_clocks(history: History, t: datetime, *, ack_target: timedelta, warnings: Sequence[int],
               preservation_article: str = "", procedure_article: str = "") -> list[Clock]:
    """Every clock that applies now, most urgent first.

    Acknowledgement, preservation, consultation, postponement, the requesting State's deadline, response;
    ``procedure_article`` is cited by the three clocks of the Art. 40 procedure.
    """
    clocks = [acknowledgement(history, ack_target, t),
              preservation(history, t, warnings=warnings, article=preservation_article),
              consultation(history, t, article=procedure_article), postponement(history, t, article=procedure_article),
              deadline(history, t, article=procedure_article), response(history)]
    return [c for c in clocks if c is not None]
