"""Alarms dealt with: acknowledged and cleared by the right officers, with who, when and why, on both databases."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from hanoinet.clock import format_instant
from hanoinet.db.database import Database
from hanoinet.db.models import Alarm, AuditEntry
from hanoinet.errors import Conflict, Forbidden, NotFound, ValidationError
from hanoinet.node import alarms, audit
from hanoinet.node.alarms import AlarmAction, AlarmState, next_state
from hanoinet.node.officers import Principal, Role, add_officer

T0 = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
DESKS = {"247", "CA"}


class Clock:
    """The instant alarms are raised and dealt with; tests move it."""

    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> datetime:
        return self.t


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    pinned = Clock()
    monkeypatch.setattr(alarms, "now", pinned)
    monkeypatch.setattr(audit, "now", pinned)
    return pinned


@pytest.fixture
def db(tmp_path: Path, database_url: str) -> Iterator[Database]:
    database = Database(database_url or f"sqlite:///{tmp_path / 'alarms.db'}")
    database.migrate()
    yield database
    database.dispose()


def officer(db: Database, role: Role, desk: str = "247", name: str | None = None) -> Principal:
    with db.transaction() as uow:
        row, _ = add_officer(uow.session, name=name or role.value, role=role.value, desk=desk, desks=DESKS)
        return Principal(id=row.id, name=row.name, role=role, desk=desk)


def raise_alarm(db: Database, code: str = "message_undeliverable", desk: str | None = "247",
                severity: str = "high") -> int:
    with db.transaction() as uow:
        audit.alarm(uow.session, code=code, message=f"{code} happened", severity=severity, desk=desk,
                    detail={"message_id": "0193"})
        uow.session.flush()
        return max(uow.session.scalars(select(Alarm.id)))


def counts(db: Database) -> dict[AlarmState, int]:
    with db.transaction(readonly=True) as uow:
        return alarms.counts(uow.session)


def listed(db: Database, who: Principal, **filters: object) -> list[tuple[int, str]]:
    with db.transaction(readonly=True) as uow:
        return [(r.id, alarms.state_of(r).value) for r in alarms.list_alarms(uow.session, who, **filters)]  # type: ignore[arg-type]


def test_an_alarm_is_acknowledged_then_cleared_with_who_when_and_why(db: Database, clock: Clock) -> None:
    duty, chief = officer(db, Role.DUTY_OFFICER, name="Lan"), officer(db, Role.SUPERVISOR, name="Minh")
    alarm_id = raise_alarm(db)
    assert counts(db) == {AlarmState.OPEN: 1, AlarmState.ACKNOWLEDGED: 0}

    clock.t = T0 + timedelta(minutes=5)
    with db.transaction() as uow:
        alarms.acknowledge(uow.session, duty, alarm_id, "  calling the operator of FRA ")
    assert counts(db) == {AlarmState.OPEN: 0, AlarmState.ACKNOWLEDGED: 1}, "acknowledged: in hand, still counted"
    assert listed(db, chief) == [(alarm_id, "acknowledged")]

    clock.t = T0 + timedelta(hours=2)
    with db.transaction() as uow:
        alarms.clear(uow.session, chief, alarm_id, "FRA's node is back; the message was resent")
    assert counts(db) == {AlarmState.OPEN: 0, AlarmState.ACKNOWLEDGED: 0}
    assert listed(db, chief) == [], "cleared alarms leave the default list"
    assert listed(db, chief, states=[AlarmState.CLEARED]) == [(alarm_id, "cleared")]

    with db.transaction(readonly=True) as uow:
        [view] = alarms.views(uow.session, [uow.session.get(Alarm, alarm_id)])  # type: ignore[list-item]
        trail = [(e.actor, e.action, e.target, json.loads(e.detail), e.at) for e in uow.session.scalars(
            select(AuditEntry).where(AuditEntry.action.like("alarm.%")).order_by(AuditEntry.id))]
    assert view["state"] == "cleared" and view["desk"] == "247" and view["detail"] == {"message_id": "0193"}
    assert view["acknowledged"] == {"at": format_instant(T0 + timedelta(minutes=5)),
                                    "by": {"id": duty.id, "name": "Lan"}, "reason": "calling the operator of FRA"}
    assert view["cleared"] == {"at": format_instant(T0 + timedelta(hours=2)), "by": {"id": chief.id, "name": "Minh"},
                               "reason": "FRA's node is back; the message was resent"}
    detail = {"code": "message_undeliverable", "desk": "247"}
    assert trail == [
        (duty.actor, "alarm.acknowledge", f"alarm:{alarm_id}", {**detail, "reason": "calling the operator of FRA"},
         T0 + timedelta(minutes=5)),
        (chief.actor, "alarm.clear", f"alarm:{alarm_id}",
         {**detail, "reason": "FRA's node is back; the message was resent"}, T0 + timedelta(hours=2)),
    ]


def test_acting_twice_is_refused_naming_who_did_it_and_when(db: Database, clock: Clock) -> None:
    admin, chief = officer(db, Role.ADMIN, name="Operator"), officer(db, Role.SUPERVISOR, name="Minh")
    alarm_id = raise_alarm(db, desk=None)
    with db.transaction() as uow:
        alarms.acknowledge(uow.session, admin, alarm_id)
    with pytest.raises(Conflict) as again, db.transaction() as uow:
        alarms.acknowledge(uow.session, chief, alarm_id, "me too")
    assert again.value.code == "alarm_acknowledged"
    assert f"already acknowledged by Operator (officer {admin.id}) at {format_instant(T0)}" in again.value.message
    assert "alarms clear" in again.value.hint

    with db.transaction() as uow:
        alarms.clear(uow.session, admin, alarm_id, "directory version 8 imported")
    for act in (lambda s: alarms.acknowledge(s, chief, alarm_id), lambda s: alarms.clear(s, chief, alarm_id, "x")):
        with pytest.raises(Conflict) as closed, db.transaction() as uow:
            act(uow.session)
        assert closed.value.code == "alarm_cleared"
        assert closed.value.message.endswith(f"by Operator (officer {admin.id}) at {format_instant(T0)}: "
                                             "directory version 8 imported")
    with db.transaction(readonly=True) as uow:
        row = uow.session.get(Alarm, alarm_id)
        assert row is not None and row.cleared_by == admin.id and row.acknowledged_reason is None
        assert [e.action for e in uow.session.scalars(select(AuditEntry).where(
            AuditEntry.action.like("alarm.%")))] == ["alarm.acknowledge", "alarm.clear"], "refusals change nothing"


def test_clearing_needs_a_reason_on_one_line(db: Database, clock: Clock) -> None:
    admin = officer(db, Role.ADMIN)
    alarm_id = raise_alarm(db)
    for reason, says in (("", "needs a reason"), ("   ", "needs a reason"), ("done\nreally", "line break"),
                         ("done\x1b[2J", "control character"), ("x" * 1001, "1001 characters")):
        with pytest.raises(ValidationError, match=says), db.transaction() as uow:
            alarms.clear(uow.session, admin, alarm_id, reason)
    with pytest.raises(ValidationError, match="line break"), db.transaction() as uow:
        alarms.acknowledge(uow.session, admin, alarm_id, "on it\r\nfake audit line")
    assert counts(db) == {AlarmState.OPEN: 1, AlarmState.ACKNOWLEDGED: 0}


def test_desk_officers_see_and_acknowledge_only_their_desks_alarms_and_clear_none(db: Database, clock: Clock) -> None:
    duty, lawyer = officer(db, Role.DUTY_OFFICER), officer(db, Role.CENTRAL_AUTHORITY, desk="CA")
    examiner, chief = officer(db, Role.EXAMINER), officer(db, Role.SUPERVISOR, desk="CA")
    desk_alarm, ca_alarm, node_alarm = raise_alarm(db), raise_alarm(db, desk="CA"), raise_alarm(db, desk=None)

    assert listed(db, duty) == [(desk_alarm, "open")]
    assert listed(db, lawyer) == [(ca_alarm, "open")]
    assert [i for i, _ in listed(db, chief)] == [node_alarm, ca_alarm, desk_alarm], "supervisors see every desk"
    assert [i for i, _ in listed(db, chief, desk="247")] == [desk_alarm]
    with pytest.raises(Forbidden, match="sees only its alarms"), db.transaction(readonly=True) as uow:
        alarms.list_alarms(uow.session, duty, desk="CA")
    with pytest.raises(Forbidden), db.transaction(readonly=True) as uow:
        alarms.list_alarms(uow.session, examiner)

    for other in (ca_alarm, node_alarm):  # another desk's alarm, or the node's own, is not there for them
        with pytest.raises(NotFound, match=f"no alarm {other} visible to desk 247"), db.transaction() as uow:
            alarms.acknowledge(uow.session, duty, other)
    with pytest.raises(Forbidden, match="may acknowledge an alarm of its desk but not clear it") as refused, \
            db.transaction() as uow:
        alarms.clear(uow.session, duty, desk_alarm, "handled")
    assert f"hanoinet alarms ack {desk_alarm}" in refused.value.hint
    with pytest.raises(Forbidden), db.transaction() as uow:
        alarms.acknowledge(uow.session, examiner, desk_alarm)

    with db.transaction() as uow:
        alarms.acknowledge(uow.session, duty, desk_alarm)
        alarms.clear(uow.session, chief, node_alarm, "directory imported")  # a supervisor clears any alarm
    assert listed(db, chief) == [(ca_alarm, "open"), (desk_alarm, "acknowledged")]


def test_the_same_code_raised_after_clearing_is_a_new_open_alarm(db: Database, clock: Clock) -> None:
    admin = officer(db, Role.ADMIN)
    first = raise_alarm(db, code="directory_expired", desk=None)
    with db.transaction() as uow:
        alarms.clear(uow.session, admin, first, "version 8 imported")
    second = raise_alarm(db, code="directory_expired", desk=None)
    assert second != first
    assert listed(db, admin, states=list(AlarmState)) == [(second, "open"), (first, "cleared")]
    assert counts(db)[AlarmState.OPEN] == 1


def test_filters_and_limit(db: Database, clock: Clock) -> None:
    admin = officer(db, Role.ADMIN)
    fork = raise_alarm(db, code="directory_fork", severity="critical", desk=None)
    lost = raise_alarm(db, code="message_refused")
    warn = raise_alarm(db, code="email_disabled", severity="warning", desk=None)
    with db.transaction() as uow:
        alarms.acknowledge(uow.session, admin, lost)
    assert listed(db, admin, severity="critical") == [(fork, "open")]
    assert listed(db, admin, code="message_refused") == [(lost, "acknowledged")]
    assert listed(db, admin, states=[AlarmState.OPEN]) == [(warn, "open"), (fork, "open")]
    assert listed(db, admin, states=[AlarmState.ACKNOWLEDGED]) == [(lost, "acknowledged")]
    assert listed(db, admin, limit=1) == [(warn, "open")]


@pytest.mark.postgres
def test_two_officers_acting_at_once_cannot_both_succeed(tmp_path: Path, pg_url: str, clock: Clock,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The second officer read the alarm open, but the first committed before the second wrote."""
    db, other = Database(pg_url), Database(pg_url)
    db.migrate()
    try:
        first, second = officer(db, Role.DUTY_OFFICER, name="Lan"), officer(db, Role.SUPERVISOR, name="Minh")
        alarm_id = raise_alarm(db)
        read = alarms.get_alarm

        def read_then_let_the_first_act(session: object, principal: Principal, wanted: int) -> Alarm:
            row = read(session, principal, wanted)  # type: ignore[arg-type]
            if principal == second:
                with other.transaction() as uow:
                    alarms.acknowledge(uow.session, first, wanted, "mine")
            return row

        monkeypatch.setattr(alarms, "get_alarm", read_then_let_the_first_act)
        with pytest.raises(Conflict, match="already acknowledged by Lan") as lost, db.transaction() as uow:
            alarms.acknowledge(uow.session, second, alarm_id, "no, mine")
        assert lost.value.code == "alarm_acknowledged"
        with db.transaction(readonly=True) as uow:
            row = uow.session.get(Alarm, alarm_id)
            assert row is not None and (row.acknowledged_by, row.acknowledged_reason) == (first.id, "mine")
    finally:
        other.dispose()
        db.dispose()


ACTIONS = st.lists(st.sampled_from(list(AlarmAction)), max_size=6)


@given(actions=ACTIONS)
def test_the_state_machine_only_moves_forward(actions: list[AlarmAction]) -> None:
    state = AlarmState.OPEN
    order = list(AlarmState)
    for action in actions:
        after = next_state(state, action)
        if after is None:
            assert state is AlarmState.CLEARED or (state, action) == (AlarmState.ACKNOWLEDGED,
                                                                      AlarmAction.ACKNOWLEDGE)
            continue
        assert order.index(after) > order.index(state), "never back, never in place"
        state = after
    assert (state is AlarmState.CLEARED) == (AlarmAction.CLEAR in actions)


@pytest.fixture(scope="module")
def machine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Database, Principal]]:
    """One database for every example: each raises its own alarm."""
    db = Database(f"sqlite:///{tmp_path_factory.mktemp('machine') / 'a.db'}")
    db.migrate()
    yield db, officer(db, Role.ADMIN)
    db.dispose()


@settings(max_examples=50, deadline=None)
@given(actions=ACTIONS)
def test_the_service_follows_the_state_machine(machine: tuple[Database, Principal], actions: list[AlarmAction]) -> None:
    """Acting through the database refuses exactly what the machine refuses, and ends where it ends."""
    db, admin = machine
    alarm_id = raise_alarm(db)
    expected = AlarmState.OPEN
    for action in actions:
        after = next_state(expected, action)
        try:
            with db.transaction() as uow:
                if action is AlarmAction.ACKNOWLEDGE:
                    alarms.acknowledge(uow.session, admin, alarm_id)
                else:
                    alarms.clear(uow.session, admin, alarm_id, "dealt with")
            assert after is not None, f"{action} from {expected} was accepted"
            expected = after
        except Conflict:
            assert after is None, f"{action} from {expected} was refused"
    assert listed(db, admin, states=list(AlarmState), limit=1) == [(alarm_id, expected.value)]
