"""Time as the protocol writes it: UTC, RFC 3339, millisecond precision, always with ``Z``.

The protocol has no floats, so instants travel as strings of one fixed shape that sort as they compare.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator

from hanoinet.errors import ValidationError

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$", re.ASCII)


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


def ms(delta: timedelta) -> int:
    """A duration in whole milliseconds."""
    return int(delta / timedelta(milliseconds=1))


def _check_instant(text: str) -> str:
    parse_instant(text)
    return text


#: An instant as protocol text; validated on model construction, kept byte-exact for signing.
Instant = Annotated[str, AfterValidator(_check_instant)]
