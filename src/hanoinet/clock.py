"""Time as the protocol writes it, as officers type it, and as people read it.

The protocol has one form: UTC, RFC 3339, millisecond precision, always with ``Z``. It has no floats, so
instants travel as strings of one fixed shape that sort as they compare (:func:`format_instant`,
:func:`parse_instant`). What officers type may carry any RFC 3339 offset (:func:`parse_rfc3339`); it becomes
the same UTC instant before anything is stored, signed or sent. What people read is :func:`show_instant`:
the desk's wall clock with its offset, and UTC beside it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator

from hanoinet.errors import ValidationError

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$", re.ASCII)
# RFC 3339 section 5.6: date-time = full-date "T" full-time, time-offset = "Z" / ("+" / "-") HH ":" MM; "T" and
# "Z" may be lower case (section 5.6, NOTE), and a space may stand for the "T" (same NOTE) because people type it.
_TYPED = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})[Tt ](?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})"
    r":(?P<second>[0-9]{2})(?:\.(?P<fraction>[0-9]+))?"
    r"(?P<offset>[Zz]|(?P<sign>[+-])(?P<oh>[0-9]{2}):(?P<om>[0-9]{2}))?")
#: What an officer is shown when a time they typed is refused.
TYPED_EXAMPLE = "2026-12-07T22:10:00+01:00, with the offset of the clock you read, or in UTC 2026-12-07T21:10:00Z"
#: How finely :func:`show_instant` writes the time of day.
Precision = Literal["minute", "second", "millisecond"]


def now() -> datetime:
    """The current instant, timezone-aware UTC, truncated to milliseconds."""
    t = datetime.now(UTC)
    return t.replace(microsecond=(t.microsecond // 1000) * 1000)


def format_instant(t: datetime) -> str:
    """``2026-11-23T03:00:00.123Z``: the one text form of an instant in the protocol."""
    if t.tzinfo is None:
        raise ValueError("naive datetime: instants must be timezone-aware")
    t = t.astimezone(UTC)
    # Not strftime("%Y"): it does not pad years before 1000 to four digits on every platform.
    return f"{t.year:04d}-" + t.strftime("%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def parse_instant(text: str, *, field: str = "time") -> datetime:
    """Parse an RFC 3339 UTC instant ending in ``Z``; anything else is a :class:`ValidationError`."""
    problem = ""
    if isinstance(text, str) and _RFC3339.fullmatch(text):
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
        except ValueError as exc:  # matches the pattern but is no real instant, e.g. February 30
            problem = f" ({exc})"
    raise ValidationError(
        f"{field}: {text!r} is not an RFC 3339 UTC instant{problem}",
        hint="write it like 2026-11-23T03:00:00.000Z (UTC, with the final Z)",
    )


def parse_rfc3339(text: str, *, field: str = "time") -> datetime:
    """A date and time an officer typed, with any RFC 3339 offset, as the UTC instant it names.

    ``2026-12-07T22:10:00+01:00``, ``2026-12-07t21:10:00z`` and ``2026-12-07 21:10:00.000Z`` are the same
    instant. Fractions of a second beyond the millisecond are dropped, as :func:`format_instant` drops them, so
    ``format_instant(parse_rfc3339(text))`` is the protocol's text for it. A time without an offset, a leap
    second (the protocol cannot write one), or anything else is a :class:`ValidationError` naming ``field``.
    """
    match = _TYPED.fullmatch(text) if isinstance(text, str) else None
    problem = "is not an RFC 3339 date and time with its offset"
    if match is not None and match["offset"] is None:
        problem = "has no offset, so it could be on any clock"
    elif match is not None:
        g = match.groupdict()
        sign = -1 if g["sign"] == "-" else 1
        micro = int((g["fraction"] or "0")[:3].ljust(3, "0")) * 1000
        try:
            if int(g["oh"] or 0) > 23 or int(g["om"] or 0) > 59:
                raise ValueError(f"offset {g['sign']}{g['oh']}:{g['om']} is outside -23:59 to +23:59")
            offset = timezone(sign * timedelta(hours=int(g["oh"] or 0), minutes=int(g["om"] or 0)))
            given = datetime(int(g["year"]), int(g["month"]), int(g["day"]), int(g["hour"]), int(g["minute"]),
                             int(g["second"]), micro, tzinfo=offset)
            return given.astimezone(UTC)
        except (ValueError, OverflowError) as exc:  # February 30, hour 24, second 60, year 0, beyond year 9999
            problem = f"is not a real date and time ({exc})"
    raise ValidationError(f"{field}: {text!r} {problem}",
                          hint=f"write it like {TYPED_EXAMPLE}")


def time_zone(name: str) -> tzinfo:
    """The time zone named ``name`` (IANA, e.g. ``Europe/Paris``); UTC for ``UTC`` or a zone this machine lacks.

    Falling back to UTC is safe because :func:`show_instant` always writes UTC too, labelled as such.
    """
    if name in ("UTC", "Etc/UTC"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def show_instant(t: datetime, zone: tzinfo = UTC, *, precision: Precision = "minute", sep: str = " · ",
                 utc: bool = True) -> str:
    """An instant for people: ``2026-12-07 23:10 CET (+01:00) · 2026-12-07 22:10 UTC``.

    The wall clock of ``zone`` with its abbreviation (left out when the zone has only a number, as
    ``Asia/Ho_Chi_Minh`` has ``+07``) and its offset, then UTC; in UTC only the UTC half, once. The one text
    form of an instant in every list, page, e-mail and report; ``sep`` lets a table put UTC on its own line,
    ``utc=False`` leaves it out where UTC is written elsewhere. Never depends on the process's time zone.
    """
    if t.tzinfo is None:
        raise ValueError("naive datetime: instants must be timezone-aware")
    moment = t.astimezone(UTC)
    universal = f"{_wall(moment, precision)} UTC"
    local = moment.astimezone(zone)
    abbreviation = local.tzname() or ""
    offset = local.utcoffset() or timedelta(0)
    if abbreviation == "UTC" and not offset:
        return universal
    sign, rest = ("-", -offset) if offset < timedelta(0) else ("+", offset)
    minutes, seconds = divmod(int(rest.total_seconds()), 60)
    numeric = f"{sign}{minutes // 60:02d}:{minutes % 60:02d}" + (f":{seconds:02d}" if seconds else "")
    named = "" if abbreviation[:1] in ("+", "-", "") else f" {abbreviation}"
    shown = f"{_wall(local, precision)}{named} ({numeric})"
    return f"{shown}{sep}{universal}" if utc else shown


def _wall(t: datetime, precision: Precision) -> str:
    # Not strftime("%Y"), as in format_instant.
    text = f"{t.year:04d}-{t.month:02d}-{t.day:02d} {t.hour:02d}:{t.minute:02d}"
    if precision == "minute":
        return text
    text += f":{t.second:02d}"
    return text if precision == "second" else f"{text}.{t.microsecond // 1000:03d}"


def ms(delta: timedelta) -> int:
    """A duration in whole milliseconds."""
    return int(delta / timedelta(milliseconds=1))


def _check_instant(text: str) -> str:
    parse_instant(text)
    return text


#: An instant as protocol text; validated on model construction, kept byte-exact for signing.
Instant = Annotated[str, AfterValidator(_check_instant)]
