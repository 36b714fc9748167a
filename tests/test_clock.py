"""Protocol instants: UTC, RFC 3339, millisecond precision, final Z."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

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
