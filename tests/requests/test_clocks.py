"""The clocks of a request (pure): here the preservation warnings; the rest is covered through the service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from hanoinet.requests.clocks import preservation_warning

END = datetime(2027, 1, 31, 12, tzinfo=UTC)
WARNINGS = (14, 7, 1)


def test_each_warning_starts_at_its_day() -> None:
    assert preservation_warning(END, END - timedelta(days=14, seconds=1), WARNINGS) is None
    assert preservation_warning(END, END - timedelta(days=14), WARNINGS) == 14
    assert preservation_warning(END, END - timedelta(days=7, seconds=1), WARNINGS) == 14
    assert preservation_warning(END, END - timedelta(days=7), WARNINGS) == 7
    assert preservation_warning(END, END - timedelta(hours=1), WARNINGS) == 1
    assert preservation_warning(END, END + timedelta(days=3), WARNINGS) == 1  # past the end: still the last one
    assert preservation_warning(END, END, ()) is None


@given(a=st.integers(-30 * 86_400, 90 * 86_400), b=st.integers(-30 * 86_400, 90 * 86_400),
       warnings=st.lists(st.integers(1, 60), max_size=4))
def test_warnings_only_come_nearer_as_time_passes(a: int, b: int, warnings: list[int]) -> None:
    less_left, more_left = sorted((a, b))  # seconds before the end, at a later and an earlier instant
    first = preservation_warning(END, END - timedelta(seconds=more_left), warnings)
    then = preservation_warning(END, END - timedelta(seconds=less_left), warnings)
    if first is not None:
        assert then is not None and then <= first
    assert (first is None) == all(timedelta(seconds=more_left) > timedelta(days=days) for days in warnings)
