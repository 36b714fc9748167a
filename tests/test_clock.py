"""Protocol instants: UTC, RFC 3339, millisecond precision, final Z."""

from __future__ import annotations

import calendar
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from hanoinet import clock
from hanoinet.clock import Instant, format_instant, ms, parse_instant
from hanoinet.errors import ValidationError

utc_ms = st.datetimes(timezones=st.just(UTC)).map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000))


def test_format_known_instant_truncates_to_milliseconds() -> None:
    t = datetime(2026, 11, 23, 3, 0, 0, 123_999, tzinfo=UTC)
    assert format_instant(t) == "2026-11-23T03:00:00.123Z"


def test_format_pads_every_field() -> None:
    assert format_instant(datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC)) == "2026-01-02T03:04:05.006Z"


def test_format_converts_other_offsets_to_utc() -> None:
    t = datetime(2026, 1, 1, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    assert format_instant(t) == "2025-12-31T23:30:00.000Z"


def test_format_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="naive"):
        format_instant(datetime(2026, 1, 1))


def test_format_pads_years_before_1000_regression() -> None:
    # Regression: strftime("%Y") writes year 999 as "999", which parse_instant then refused.
    t = datetime(999, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC)
    assert format_instant(t) == "0999-12-31T23:59:59.999Z"
    assert parse_instant(format_instant(t)) == t


def test_parse_known_instant() -> None:
    t = parse_instant("2026-11-23T03:00:00.123Z")
    assert t == datetime(2026, 11, 23, 3, 0, 0, 123_000, tzinfo=UTC)
    assert t.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-23T03:00:00Z", datetime(2026, 11, 23, 3, tzinfo=UTC)),
        ("2026-11-23T03:00:00.1Z", datetime(2026, 11, 23, 3, 0, 0, 100_000, tzinfo=UTC)),
        ("2026-11-23T03:00:00.123456Z", datetime(2026, 11, 23, 3, 0, 0, 123_456, tzinfo=UTC)),
    ],
)
def test_parse_accepts_other_fraction_lengths(text: str, expected: datetime) -> None:
    assert parse_instant(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-23T03:00:00.000+00:00",
        "2026-11-23T03:00:00.000+01:00",
        "2026-11-23T03:00:00.000-05:00",
        "2026-11-23T03:00:00.000",  # no offset at all
        "2026-11-23T03:00:00.000z",
        "2026-11-23 03:00:00.000Z",
        "2026-11-23T03:00Z",
        "2026-11-23",
        "2026-11-23T03:00:00.1234567Z",
        "2026-11-23T03:00:00.Z",
        "26-11-23T03:00:00Z",
        "yesterday",
        "",
        " 2026-11-23T03:00:00Z",
        "2026-11-23T03:00:00Z ",
        "2026-11-23T03:00:00Z\n",
        "\u0662\u0660\u0662\u0666-11-23T03:00:00Z",  # Arabic-Indic digits
    ],
)
def test_parse_refuses_other_forms(text: str) -> None:
    with pytest.raises(ValidationError, match="RFC 3339") as info:
        parse_instant(text, field="created")
    assert "created" in info.value.message
    assert "Z" in info.value.hint


@pytest.mark.parametrize("text", ["2026-02-30T00:00:00.000Z", "2026-13-01T00:00:00Z", "2026-01-01T24:00:00Z",
                                  "2026-01-01T00:60:00Z", "0000-01-01T00:00:00Z"])
def test_parse_refuses_impossible_dates_as_validation_errors_regression(text: str) -> None:
    # Regression: these match the pattern, and datetime.fromisoformat's ValueError used to escape.
    with pytest.raises(ValidationError):
        parse_instant(text)


@pytest.mark.parametrize("value", [None, 1_700_000_000, b"2026-11-23T03:00:00Z", datetime(2026, 1, 1, tzinfo=UTC)])
def test_parse_refuses_non_strings(value: object) -> None:
    with pytest.raises(ValidationError):
        parse_instant(value)  # type: ignore[arg-type]


@settings(max_examples=300)
@given(utc_ms)
def test_round_trip(t: datetime) -> None:
    text = format_instant(t)
    assert len(text) == 24
    assert parse_instant(text) == t
    assert format_instant(parse_instant(text)) == text


@settings(max_examples=200)
@given(utc_ms, utc_ms)
def test_text_sorts_as_instants(a: datetime, b: datetime) -> None:
    assert (format_instant(a) < format_instant(b)) == (a < b)


@settings(max_examples=100)
@given(st.datetimes(timezones=st.just(UTC)))
def test_format_truncates_never_rounds(t: datetime) -> None:
    parsed = parse_instant(format_instant(t))
    assert timedelta(0) <= t - parsed < timedelta(milliseconds=1)


def test_now_is_utc_and_millisecond_precise() -> None:
    before = datetime.now(UTC)
    t = clock.now()
    assert t.tzinfo is UTC
    assert t.microsecond % 1000 == 0
    assert before - timedelta(milliseconds=1) <= t <= datetime.now(UTC)


@pytest.mark.parametrize(
    ("delta", "expected"),
    [(timedelta(seconds=1.5), 1500), (timedelta(days=1), 86_400_000), (timedelta(microseconds=999), 0),
     (timedelta(0), 0), (timedelta(milliseconds=-3), -3)],
)
def test_ms(delta: timedelta, expected: int) -> None:
    assert ms(delta) == expected


class _Stamped(BaseModel):
    at: Instant


def test_instant_type_keeps_text_byte_exact() -> None:
    assert _Stamped(at="2026-11-23T03:00:00Z").at == "2026-11-23T03:00:00Z"


def test_instant_type_refuses_bad_text() -> None:
    with pytest.raises((ValidationError, ValueError)):
        _Stamped(at="2026-11-23T03:00:00+00:00")


# --- What officers type: any RFC 3339 offset ---------------------------------------------------------------

#: Instants whose every offset stays within datetime's years, so each can be written in any offset.
typed_range = st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31),
                           timezones=st.just(UTC)).map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000))
offsets = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(lambda m: timedelta(minutes=m))


def _typed(t: datetime, offset: timedelta, *, separator: str = "T", fraction: str = "", utc: str = "Z") -> str:
    """``t`` as RFC 3339 text in ``offset``, written independently of the parser under test."""
    local = t.astimezone(timezone(offset))
    sign = "-" if offset < timedelta(0) else "+"
    hours, minutes = divmod(abs(offset) // timedelta(minutes=1), 60)
    zone = utc if not offset and utc else f"{sign}{hours:02d}:{minutes:02d}"
    return (f"{local.year:04d}-{local.month:02d}-{local.day:02d}{separator}{local.hour:02d}:{local.minute:02d}:"
            f"{local.second:02d}{fraction}{zone}")


def test_typed_time_with_an_offset_is_the_utc_instant() -> None:
    t = clock.parse_rfc3339("2026-12-07T22:10:00+01:00", field="preserved_at")
    assert t == datetime(2026, 12, 7, 21, 10, tzinfo=UTC)
    assert t.tzinfo is UTC
    assert format_instant(t) == "2026-12-07T21:10:00.000Z"


@pytest.mark.parametrize("text", ["2026-12-07T21:10:00Z", "2026-12-07t21:10:00z", "2026-12-07 21:10:00Z",
                                  "2026-12-07T21:10:00.000Z", "2026-12-07T21:10:00.0009999Z",
                                  "2026-12-07T22:10:00+01:00", "2026-12-07T15:40:00-05:30",
                                  "2026-12-07T21:10:00-00:00", "2026-12-08T04:10:00+07:00"])
def test_typed_forms_of_one_instant(text: str) -> None:
    assert format_instant(clock.parse_rfc3339(text)) == "2026-12-07T21:10:00.000Z"


def test_every_offset_from_minus_to_plus_23_59() -> None:
    t = datetime(2026, 12, 7, 21, 10, 0, 123_000, tzinfo=UTC)
    for minutes in range(-(23 * 60 + 59), 23 * 60 + 60):
        text = _typed(t, timedelta(minutes=minutes), fraction=".123", utc="")
        assert clock.parse_rfc3339(text) == t, text


@settings(max_examples=300)
@given(typed_range, offsets, st.sampled_from(["T", "t", " "]), st.sampled_from(["Z", "z", ""]),
       st.text(alphabet="0123456789", max_size=9))
def test_typed_round_trip(t: datetime, offset: timedelta, separator: str, utc: str, digits: str) -> None:
    fraction = f"{t.microsecond // 1000:03d}{digits}"
    text = _typed(t, offset, separator=separator, fraction="." + fraction, utc=utc)
    parsed = clock.parse_rfc3339(text)
    assert parsed == t and parsed.tzinfo is UTC
    assert clock.parse_rfc3339(format_instant(parsed)) == parsed


@settings(max_examples=200)
@given(utc_ms)
def test_typed_parser_accepts_every_protocol_instant(t: datetime) -> None:
    assert clock.parse_rfc3339(format_instant(t)) == t


@settings(max_examples=200)
@given(st.integers(1, 9999), st.integers(1, 12), st.integers(0, 99), st.sampled_from(["Z", "+01:00", "-05:30"]))
def test_typed_impossible_days_are_refused(year: int, month: int, day: int, zone: str) -> None:
    days = calendar.monthrange(year, month)[1]
    text = f"{year:04d}-{month:02d}-{day:02d}T12:00:00{zone}"
    if 1 <= day <= days:
        assert clock.parse_rfc3339(text).tzinfo is UTC
        return
    with pytest.raises(ValidationError, match="not a real date") as info:
        clock.parse_rfc3339(text, field="preserved_at")
    assert info.value.message.startswith("preserved_at: ")
    assert "2026-12-07T22:10:00+01:00" in info.value.hint


@pytest.mark.parametrize("text", ["2026-13-01T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:60:00Z",
                                  "2026-12-31T23:59:60Z",  # a leap second: the protocol cannot write it
                                  "0000-01-01T00:00:00Z", "0001-01-01T00:30:00+01:00", "9999-12-31T23:30:00-01:00",
                                  "2026-12-07T22:10:00+24:00", "2026-12-07T22:10:00-24:00",
                                  "2026-12-07T22:10:00+01:60"])
def test_typed_impossible_instants_are_refused(text: str) -> None:
    with pytest.raises(ValidationError, match="not a real date and time"):
        clock.parse_rfc3339(text, field="--at")


@pytest.mark.parametrize("text", ["2026-12-07T22:10:00", "2026-12-07 22:10:00"])
def test_typed_time_without_offset_is_refused(text: str) -> None:
    with pytest.raises(ValidationError, match="has no offset") as info:
        clock.parse_rfc3339(text, field="--since")
    assert "--since" in info.value.message and "+01:00" in info.value.hint


@pytest.mark.parametrize("text", ["2026-12-07T22:10+01:00", "2026-12-07T22:10:00+0100", "2026-12-07T22:10:00+01",
                                  "2026-12-07", "2026-12-07T22:10:00 +01:00", "2026-12-07T22:10:00.+01:00",
                                  "2026-12-07T22:10:00ZZ", " 2026-12-07T22:10:00Z", "2026-12-07T22:10:00Z\n",
                                  "2026-12-07T22:10:00 CET", "20261207T221000Z", "tomorrow", "",
                                  "\u0662\u0660\u0662\u0666-12-07T22:10:00Z"])
def test_typed_other_forms_are_refused(text: str) -> None:
    with pytest.raises(ValidationError) as info:
        clock.parse_rfc3339(text, field="at")
    assert info.value.message.startswith("at: ")


@settings(max_examples=300)
@given(st.text(alphabet="0123456789-+:TtZz .", max_size=40))
def test_typed_parser_refuses_only_with_its_error(text: str) -> None:
    try:
        parsed = clock.parse_rfc3339(text)
    except ValidationError:
        return
    assert parsed.tzinfo is UTC


def test_protocol_parser_still_refuses_offsets() -> None:
    # What travels between nodes keeps its one form; only what officers type is read more widely.
    with pytest.raises(ValidationError):
        parse_instant("2026-12-07T22:10:00+01:00")


# --- What people read: the desk's wall clock, then UTC -----------------------------------------------------

PARIS, HANOI = ZoneInfo("Europe/Paris"), ZoneInfo("Asia/Ho_Chi_Minh")
EVENING = datetime(2026, 12, 7, 22, 10, 30, 123_000, tzinfo=UTC)


@pytest.mark.parametrize(("zone", "expected"), [
    (HANOI, "2026-12-08 05:10 (+07:00) · 2026-12-07 22:10 UTC"),  # a zone with no abbreviation but its number
    (PARIS, "2026-12-07 23:10 CET (+01:00) · 2026-12-07 22:10 UTC"),
    (ZoneInfo("America/St_Johns"), "2026-12-07 18:40 NST (-03:30) · 2026-12-07 22:10 UTC"),
    (ZoneInfo("Asia/Kathmandu"), "2026-12-08 03:55 (+05:45) · 2026-12-07 22:10 UTC"),
    (ZoneInfo("Europe/London"), "2026-12-07 22:10 GMT (+00:00) · 2026-12-07 22:10 UTC"),  # local, even at +00:00
    (UTC, "2026-12-07 22:10 UTC"),
    (ZoneInfo("Etc/UTC"), "2026-12-07 22:10 UTC"),
])
def test_show_instant(zone: ZoneInfo, expected: str) -> None:
    assert clock.show_instant(EVENING, zone) == expected


def test_show_instant_precision_and_layout() -> None:
    assert clock.show_instant(EVENING, PARIS, precision="second") == \
        "2026-12-07 23:10:30 CET (+01:00) · 2026-12-07 22:10:30 UTC"
    assert clock.show_instant(EVENING, UTC, precision="millisecond") == "2026-12-07 22:10:30.123 UTC"
    assert clock.show_instant(EVENING, PARIS, sep="\n") == "2026-12-07 23:10 CET (+01:00)\n2026-12-07 22:10 UTC"
    assert clock.show_instant(EVENING, PARIS, utc=False) == "2026-12-07 23:10 CET (+01:00)"
    assert clock.show_instant(EVENING.astimezone(HANOI)) == "2026-12-07 22:10 UTC"  # the instant, not its tzinfo
    assert clock.show_instant(datetime(999, 1, 2, 3, 4, tzinfo=UTC)) == "0999-01-02 03:04 UTC"


def test_show_instant_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="naive"):
        clock.show_instant(datetime(2026, 12, 7, 22, 10), PARIS)


@pytest.mark.parametrize(("utc", "expected"), [
    # Sunday 29 March 2026, 01:00 UTC: Paris goes from 02:00 CET to 03:00 CEST.
    (datetime(2026, 3, 29, 0, 59, tzinfo=UTC), "2026-03-29 01:59 CET (+01:00) · 2026-03-29 00:59 UTC"),
    (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), "2026-03-29 03:00 CEST (+02:00) · 2026-03-29 01:00 UTC"),
    # Sunday 25 October 2026, 01:00 UTC: Paris goes back from 03:00 CEST to 02:00 CET; 02:30 happens twice and
    # the offset and UTC tell the two apart.
    (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), "2026-10-25 02:30 CEST (+02:00) · 2026-10-25 00:30 UTC"),
    (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), "2026-10-25 02:30 CET (+01:00) · 2026-10-25 01:30 UTC"),
])
def test_show_instant_across_daylight_saving_changes(utc: datetime, expected: str) -> None:
    assert clock.show_instant(utc, PARIS) == expected


def test_typed_and_shown_agree_on_the_repeated_hour() -> None:
    first, second = (clock.parse_rfc3339(f"2026-10-25T02:30:00{o}") for o in ("+02:00", "+01:00"))
    assert second - first == timedelta(hours=1)
    assert [clock.show_instant(t, PARIS, utc=False) for t in (first, second)] == \
        ["2026-10-25 02:30 CEST (+02:00)", "2026-10-25 02:30 CET (+01:00)"]


def test_time_zone_by_name() -> None:
    assert clock.time_zone("UTC") is UTC and clock.time_zone("Etc/UTC") is UTC
    assert clock.time_zone("Europe/Paris") == PARIS
    assert clock.time_zone("Nowhere/Atlantis") is UTC  # a CLI machine without that zone still shows UTC, labelled


@pytest.mark.parametrize("process_zone", ["America/New_York", "Asia/Tokyo"])
def test_display_and_parsing_ignore_the_process_time_zone(process_zone: str, monkeypatch: pytest.MonkeyPatch) -> None:
    code = ("from datetime import UTC, datetime\nfrom zoneinfo import ZoneInfo\nfrom hanoinet import clock\n"
            "t = clock.parse_rfc3339('2026-10-25T02:30:00+01:00')\n"
            "print(clock.format_instant(t)); print(clock.show_instant(t, ZoneInfo('Europe/Paris')))\n"
            "print(clock.show_instant(t))\n")
    src = str(Path(clock.__file__).resolve().parents[1])
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60,
                          env={**os.environ, "TZ": process_zone, "PYTHONPATH": src})
    assert done.stdout.splitlines() == ["2026-10-25T01:30:00.000Z",
                                        "2026-10-25 02:30 CET (+01:00) · 2026-10-25 01:30 UTC",
                                        "2026-10-25 01:30 UTC"]
    # And in this process, with its zone changed under it.
    monkeypatch.setenv("TZ", process_zone)
    time.tzset()
    try:
        assert clock.show_instant(clock.parse_rfc3339("2026-10-25T02:30:00+01:00"), PARIS) == \
            "2026-10-25 02:30 CET (+01:00) · 2026-10-25 01:30 UTC"
    finally:
        monkeypatch.undo()
        time.tzset()
