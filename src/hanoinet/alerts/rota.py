"""Duty rotas as pure rules: who is on duty at a desk at an instant, and whom to alert, in which order.

No I/O: the service layer loads rota entries and officers and hands them over as plain values. Instants are
UTC; local times are converted with ``zoneinfo``, so a shift across a daylight-saving change keeps its real
length (a night shift 22:00-06:00 in Paris lasts 9 hours on the night clocks go back, 7 on the night they go
forward).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hanoinet.clock import show_instant
from hanoinet.errors import ValidationError

SUPERVISOR = "supervisor"
#: Rota times outside these years are typing mistakes (and near datetime's limits, time zone arithmetic fails).
FIRST_YEAR, LAST_YEAR = 2000, 2999


@dataclass(frozen=True, slots=True)
class Shift:
    """One rota entry: an officer on duty at a desk over ``[starts_at, ends_at)``, called in ``order`` (1 first)."""

    desk: str
    officer_id: int
    starts_at: datetime
    ends_at: datetime
    order: int
    id: int = 0

    def __post_init__(self) -> None:
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("naive datetime: rota instants must be timezone-aware")
        if self.ends_at <= self.starts_at:
            raise ValidationError(
                f"the shift ends ({show_instant(self.ends_at)}) before it starts ({show_instant(self.starts_at)})",
                hint="give an end after the start; a night shift ends on the next day, e.g. "
                "--from '2026-11-24 22:00' --to '2026-11-25 06:00'",
            )
        if self.order < 1:
            raise ValidationError(f"call order {self.order} is not allowed",
                                  hint="use 1 for the officer called first, 2 for the next, and so on")

    def covers(self, at: datetime) -> bool:
        """Whether the shift is running at ``at`` (start included, end excluded, so shifts can hand over)."""
        return self.starts_at <= at < self.ends_at


@dataclass(frozen=True, slots=True)
class Contact:
    """An officer as the escalation chain sees them."""

    officer_id: int
    name: str
    role: str
    desk: str
    email: str | None
    enabled: bool

    @property
    def reachable(self) -> bool:
        """Enabled and with an address to alert (a disabled account or no e-mail is skipped)."""
        return self.enabled and bool(self.email)


@dataclass(frozen=True, slots=True)
class EscalationChain:
    """Whom to alert for a page: the officers on duty one level each, in call order, then the supervisors."""

    on_duty: tuple[Contact, ...]
    supervisors: tuple[Contact, ...]

    @property
    def staffed(self) -> bool:
        """Whether someone reachable is on duty (otherwise the supervisors are alerted at once)."""
        return bool(self.on_duty)

    @property
    def levels(self) -> list[tuple[Contact, ...]]:
        """The levels in order; everyone in a level is alerted together."""
        levels: list[tuple[Contact, ...]] = [(c,) for c in self.on_duty]
        if self.supervisors:
            levels.append(self.supervisors)
        return levels

    def next_level(self, alerted: set[int]) -> tuple[Contact, ...]:
        """The first level with someone not yet alerted, without those already alerted; empty when exhausted.

        The chain is rebuilt at each escalation, so an officer whose shift began since the last level is
        reached, and nobody is alerted twice for one page.
        """
        for level in self.levels:
            fresh = tuple(c for c in level if c.officer_id not in alerted)
            if fresh:
                return fresh
        return ()


def parse_local(text: str, zone: ZoneInfo, *, field: str = "time") -> datetime:
    """A wall-clock time at the desk (``2026-11-24 22:00``) as a UTC instant.

    A time with an explicit offset (``2026-10-25 02:30+01:00``, or ``Z``) is taken as written. A local time
    that does not exist (skipped when clocks go forward) or that exists twice (when they go back) is refused:
    guessing would put someone on duty an hour early or late.
    """
    written = text.strip()
    try:
        if len(written) > 10 and written[10] not in " T":
            # fromisoformat takes any character between date and time, a NUL as well as a letter.
            raise ValueError("date and time are separated by a space or T")
        given = datetime.fromisoformat(written)
    except ValueError:
        raise ValidationError(f"{field}: {text!r} is not a date and time",
                              hint="write it like 2026-11-24 22:00 (the desk's local time)") from None
    if not FIRST_YEAR <= given.year <= LAST_YEAR:
        raise ValidationError(f"{field}: {text!r} is not a plausible rota time",
                              hint=f"give a date between the years {FIRST_YEAR} and {LAST_YEAR}")
    if given.tzinfo is not None:
        return given.astimezone(UTC)
    local = given.replace(tzinfo=zone)
    if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != given:
        raise ValidationError(
            f"{field}: {text} does not exist in {zone.key}: the clocks jump over it",
            hint="pick a time outside the daylight-saving change, or write the offset, e.g. 2026-03-29 03:00+02:00",
        )
    if local.utcoffset() != given.replace(tzinfo=zone, fold=1).utcoffset():
        earlier, later = (given.replace(tzinfo=zone, fold=fold).isoformat(sep=" ", timespec="minutes")
                          for fold in (0, 1))
        raise ValidationError(f"{field}: {text} happens twice in {zone.key} (the clocks go back)",
                              hint=f"write the offset to say which one: {earlier} or {later}")
    return local.astimezone(UTC)


def on_duty(shifts: Iterable[Shift], desk: str, at: datetime) -> list[Shift]:
    """The shifts of ``desk`` running at ``at``, first called first (then earlier start, then lower id)."""
    running = [s for s in shifts if s.desk == desk and s.covers(at)]
    return sorted(running, key=lambda s: (s.order, s.starts_at, s.id))


def escalation_chain(shifts: Iterable[Shift], contacts: Iterable[Contact], desk: str, at: datetime) -> EscalationChain:
    """Whom to alert for a page of ``desk`` at ``at``.

    The officers on duty in call order, then the supervisors, who see every desk: those of ``desk`` first,
    then the others. Disabled officers and officers without an e-mail address are skipped; an officer on
    several overlapping shifts appears once, at their first place.
    """
    by_id = {c.officer_id: c for c in contacts}
    chosen: list[Contact] = []
    for shift in on_duty(shifts, desk, at):
        contact = by_id.get(shift.officer_id)
        if contact is not None and contact.reachable and contact not in chosen:
            chosen.append(contact)
    supervisors = sorted(
        (c for c in by_id.values() if c.role == SUPERVISOR and c.reachable and c not in chosen),
        key=lambda c: (c.desk != desk, c.officer_id),
    )
    return EscalationChain(on_duty=tuple(chosen), supervisors=tuple(supervisors))
