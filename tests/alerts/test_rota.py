"""Rota rules: who is on duty, across daylight-saving changes, and the escalation chain (pure, no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hanoinet.alerts.rota import Contact, Shift, escalation_chain, on_duty, parse_local
from hanoinet.clock import show_instant
from hanoinet.errors import ValidationError
from tests.test_architecture import EDGES, IO_LIBRARIES, SRC, _imports

PARIS = ZoneInfo("Europe/Paris")
T = datetime(2026, 11, 24, 23, 0, tzinfo=UTC)


def shift(officer_id: int, start: datetime, end: datetime, order: int = 1, desk: str = "247", id_: int = 0) -> Shift:
    return Shift(desk=desk, officer_id=officer_id, starts_at=start, ends_at=end, order=order, id=id_)


def person(officer_id: int, role: str = "duty_officer", desk: str = "247", *, email: bool = True,
           enabled: bool = True) -> Contact:
    return Contact(officer_id=officer_id, name=f"Officer {officer_id}", role=role, desk=desk,
                   email=f"o{officer_id}@example.org" if email else None, enabled=enabled)


@pytest.mark.parametrize("module", ["alerts/rota.py", "alerts/notice.py"])
def test_the_rules_do_no_io(module: str) -> None:
    imported = _imports(SRC / module)
    assert sorted(n for n in imported if n.startswith(EDGES) or n.split(".")[0] in IO_LIBRARIES) == []


def test_local_times_are_read_in_the_desks_zone() -> None:
    assert parse_local("2026-11-24 22:00", PARIS) == datetime(2026, 11, 24, 21, 0, tzinfo=UTC)  # CET, UTC+1
    assert parse_local("2026-07-01 22:00", PARIS) == datetime(2026, 7, 1, 20, 0, tzinfo=UTC)  # CEST, UTC+2
    assert parse_local("2026-11-24T22:00:00Z", PARIS) == datetime(2026, 11, 24, 22, 0, tzinfo=UTC)
    assert show_instant(datetime(2026, 11, 24, 21, 0, tzinfo=UTC), PARIS) == \
        "2026-11-24 22:00 CET (+01:00) · 2026-11-24 21:00 UTC"


@pytest.mark.parametrize("separator", ["\x00", "x", "\t", "\n", "_"])
def test_date_and_time_are_separated_by_a_space_or_t(separator: str) -> None:
    # Regression: datetime.fromisoformat takes any character there, a NUL included, and the rota stored it.
    with pytest.raises(ValidationError, match="is not a date and time"):
        parse_local(f"2026-11-24{separator}22:00", PARIS)
    assert parse_local("2026-11-24T22:00", PARIS) == parse_local("2026-11-24 22:00", PARIS)


def test_a_night_shift_across_the_autumn_change_lasts_nine_hours() -> None:
    # Clocks go back in Paris at 03:00 CEST on 25 October 2026: the night from 22:00 to 06:00 is 9 hours long.
    night = shift(1, parse_local("2026-10-24 22:00", PARIS), parse_local("2026-10-25 06:00", PARIS))
    assert night.ends_at - night.starts_at == timedelta(hours=9)
    assert night.starts_at == datetime(2026, 10, 24, 20, 0, tzinfo=UTC)
    assert night.ends_at == datetime(2026, 10, 25, 5, 0, tzinfo=UTC)
    assert on_duty([night], "247", datetime(2026, 10, 25, 4, 59, tzinfo=UTC)) == [night]  # 05:59 CET
    assert on_duty([night], "247", night.ends_at) == []  # 06:00 CET: the day shift has it


def test_a_night_shift_across_the_spring_change_lasts_seven_hours() -> None:
    night = shift(1, parse_local("2026-03-28 22:00", PARIS), parse_local("2026-03-29 06:00", PARIS))
    assert night.ends_at - night.starts_at == timedelta(hours=7)
    assert show_instant(night.ends_at, PARIS) == "2026-03-29 06:00 CEST (+02:00) · 2026-03-29 04:00 UTC"


def test_local_times_the_clocks_skip_or_repeat_are_refused_unless_the_offset_is_written() -> None:
    with pytest.raises(ValidationError, match="does not exist in Europe/Paris") as skipped:
        parse_local("2026-03-29 02:30", PARIS, field="from")
    assert "from:" in skipped.value.message and "+02:00" in skipped.value.hint
    with pytest.raises(ValidationError, match="happens twice") as repeated:
        parse_local("2026-10-25 02:30", PARIS)
    assert "+02:00" in repeated.value.hint and "+01:00" in repeated.value.hint
    first = parse_local("2026-10-25 02:30+02:00", PARIS)
    second = parse_local("2026-10-25 02:30+01:00", PARIS)
    assert second - first == timedelta(hours=1)


def test_garbage_times_are_explained() -> None:
    with pytest.raises(ValidationError, match="'tonight' is not a date and time") as bad:
        parse_local("tonight", PARIS, field="to")
    assert "2026-11-24 22:00" in bad.value.hint


def test_a_shift_must_end_after_it_starts() -> None:
    with pytest.raises(ValidationError, match=r"ends .* before it starts") as refused:
        shift(1, T, T)
    assert "next day" in refused.value.hint
    with pytest.raises(ValidationError, match="call order 0"):
        shift(1, T, T + timedelta(hours=1), order=0)


def test_on_duty_sorted_by_call_order_with_overlaps_and_hand_overs() -> None:
    day = shift(1, T - timedelta(hours=8), T, order=1, id_=1)
    night_backup = shift(2, T, T + timedelta(hours=8), order=2, id_=2)
    night = shift(3, T, T + timedelta(hours=8), order=1, id_=3)
    other_desk = shift(4, T, T + timedelta(hours=8), order=1, desk="CA", id_=4)
    assert on_duty([day, night_backup, night, other_desk], "247", T) == [night, night_backup]
    assert on_duty([day, night_backup, night], "247", T - timedelta(seconds=1)) == [day]


def test_the_chain_skips_the_unreachable_then_calls_supervisors_of_the_desk_first() -> None:
    shifts = [shift(1, T, T + timedelta(hours=1), order=2), shift(2, T, T + timedelta(hours=1), order=1),
              shift(3, T, T + timedelta(hours=1), order=3), shift(4, T, T + timedelta(hours=1), order=4),
              shift(2, T, T + timedelta(hours=1), order=5)]  # officer 2 twice: called once, at the first place
    contacts = [person(1), person(2), person(3, email=False), person(4, enabled=False),
                person(10, "supervisor", desk="CA"), person(11, "supervisor"), person(12, "supervisor", email=False)]
    chain = escalation_chain(shifts, contacts, "247", T + timedelta(minutes=1))
    assert chain.staffed
    assert [[c.officer_id for c in level] for level in chain.levels] == [[2], [1], [11, 10]]
    assert [c.officer_id for c in chain.next_level({2})] == [1]
    assert [c.officer_id for c in chain.next_level({2, 1, 11})] == [10]
    assert chain.next_level({1, 2, 10, 11}) == ()


def test_nobody_on_duty_means_the_supervisors_first() -> None:
    chain = escalation_chain([], [person(1), person(11, "supervisor")], "247", T)
    assert not chain.staffed
    assert [[c.officer_id for c in level] for level in chain.levels] == [[11]]


_instants = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31),
                         timezones=st.just(UTC))


@st.composite
def _shifts(draw: st.DrawFn) -> list[Shift]:
    result = []
    for i in range(draw(st.integers(0, 12))):
        start = draw(_instants)
        length = draw(st.integers(1, 3 * 86400))
        result.append(shift(draw(st.integers(1, 5)), start, start + timedelta(seconds=length),
                            order=draw(st.integers(1, 3)), desk=draw(st.sampled_from(["247", "CA"])), id_=i + 1))
    return result


@given(_shifts(), _instants)
def test_on_duty_equals_the_brute_force_filter(shifts: list[Shift], at: datetime) -> None:
    # Probe the edges too: the exact start and end of one of the shifts.
    probes = [at] + [s.starts_at for s in shifts[:1]] + [s.ends_at for s in shifts[:1]]
    for t in probes:
        got = on_duty(shifts, "247", t)
        expected = {s.id for s in shifts if s.desk == "247" and s.starts_at <= t and not s.ends_at <= t}
        assert {s.id for s in got} == expected
        assert [s.order for s in got] == sorted(s.order for s in got)


@given(st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)))
def test_a_local_time_that_exists_once_reads_back_as_written(local: datetime) -> None:
    local = local.replace(second=0, microsecond=0)
    try:
        instant = parse_local(local.isoformat(sep=" "), PARIS)
    except ValidationError:  # skipped or repeated: only in the hour of a change
        assert local.month in (3, 10) and local.hour in (2, 3)
        return
    assert instant.astimezone(PARIS).replace(tzinfo=None) == local

