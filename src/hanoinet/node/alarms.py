"""Alarms as an operator deals with them: open, acknowledged (seen, in hand), cleared (dealt with, and why).

Raising an alarm is :func:`hanoinet.node.audit.alarm`; this module lists, acknowledges and clears them
(docs/operations.md, section 7, "Alarms"):

- ``open`` -> ``acknowledged`` -> ``cleared``, or ``open`` -> ``cleared`` directly; ``cleared`` is final.
  Acknowledging takes an optional note, clearing a reason; both are kept on the alarm and in the audit trail.
- An alarm raised again after one of the same code was cleared is a new open alarm: each raising names its
  own occurrence (a message, a request, a directory version), and the cleared one keeps its history.
- Admins and supervisors see, acknowledge and clear every alarm. Duty officers and central-authority officers
  see and acknowledge the alarms of their own desk (an alarm without a desk is the node's own, not theirs);
  clearing is for the people who can judge that the cause is dealt with.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import Session

from hanoinet.clock import format_instant, now
from hanoinet.db.models import Alarm, Officer
from hanoinet.errors import Conflict, Forbidden, NotFound, ValidationError
from hanoinet.node import audit
from hanoinet.node.officers import Principal
from hanoinet.node.roles import Role
from hanoinet.text import refused_character


class AlarmState(StrEnum):
    """Where an alarm stands."""

    OPEN = "open"  # nobody has said they are on it
    ACKNOWLEDGED = "acknowledged"  # an officer is on it; still counted as not dealt with
    CLEARED = "cleared"  # dealt with, for the reason given


class AlarmAction(StrEnum):
    """What an officer does to an alarm."""

    ACKNOWLEDGE = "acknowledge"
    CLEAR = "clear"


#: The states each action may start from; anything else is refused (409).
_FROM: dict[AlarmAction, frozenset[AlarmState]] = {
    AlarmAction.ACKNOWLEDGE: frozenset({AlarmState.OPEN}),
    AlarmAction.CLEAR: frozenset({AlarmState.OPEN, AlarmState.ACKNOWLEDGED}),
}
_TO = {AlarmAction.ACKNOWLEDGE: AlarmState.ACKNOWLEDGED, AlarmAction.CLEAR: AlarmState.CLEARED}

#: Not yet dealt with: what ``hanoinet alarms`` lists unless told otherwise.
UNCLEARED = (AlarmState.OPEN, AlarmState.ACKNOWLEDGED)
#: Who sees and handles every alarm of the node.
OVERSEERS = (Role.ADMIN, Role.SUPERVISOR)
#: Who sees and acknowledges the alarms of their own desk.
DESK_ROLES = (Role.DUTY_OFFICER, Role.CENTRAL_AUTHORITY)
#: A reason is a sentence or two for the audit trail, not a report.
REASON_MAX = 1000


def next_state(state: AlarmState, action: AlarmAction) -> AlarmState | None:
    """The state ``action`` leads to from ``state``, or None if it is not allowed there."""
    return _TO[action] if state in _FROM[action] else None


def state_of(row: Alarm) -> AlarmState:
    """The alarm's state, read from its timestamps."""
    if row.cleared_at is not None:
        return AlarmState.CLEARED
    return AlarmState.ACKNOWLEDGED if row.acknowledged_at is not None else AlarmState.OPEN


def _in_state(state: AlarmState) -> ColumnElement[bool]:
    if state is AlarmState.CLEARED:
        return Alarm.cleared_at.is_not(None)
    acknowledged = Alarm.acknowledged_at.is_not(None) if state is AlarmState.ACKNOWLEDGED \
        else Alarm.acknowledged_at.is_(None)
    return and_(Alarm.cleared_at.is_(None), acknowledged)


def check_reason(reason: str | None, *, required: bool) -> str | None:
    """``reason`` stripped; refused if it is required and blank, too long, or spans lines or controls."""
    text = (reason or "").strip()
    if not text:
        if required:
            raise ValidationError("clearing an alarm needs a reason",
                                  hint='say what was done about it, e.g. --reason "directory version 8 imported"')
        return None
    if len(text) > REASON_MAX:
        raise ValidationError(f"the reason is {len(text)} characters long; at most {REASON_MAX} are kept",
                              hint="say it in a sentence or two; details belong in the case file")
    refused = refused_character(text, lines=False)
    if refused is not None:
        raise ValidationError(f"the reason is one line of text; character {refused[0] + 1} is {refused[1]}",
                              hint="write the reason on one line")
    return text


def _require_reader(principal: Principal) -> None:
    principal.require_role(*OVERSEERS, *DESK_ROLES)


def _visible(principal: Principal) -> ColumnElement[bool] | None:
    """The condition limiting what ``principal`` sees (None: everything)."""
    return None if principal.role in OVERSEERS else Alarm.desk == principal.desk


def list_alarms(
    session: Session, principal: Principal, *, states: Iterable[AlarmState] = UNCLEARED,
    severity: str | None = None, code: str | None = None, desk: str | None = None, limit: int = 100,
) -> list[Alarm]:
    """The alarms ``principal`` may see in ``states``, newest first, at most ``limit``."""
    _require_reader(principal)
    if desk is not None and principal.role not in OVERSEERS and desk != principal.desk:
        raise Forbidden(f"{principal.name} works at desk {principal.desk} and sees only its alarms, not desk {desk}'s",
                        hint="leave out the desk, or ask a supervisor")
    chosen = set(states) or set(AlarmState)
    query = select(Alarm).order_by(Alarm.id.desc()).limit(limit)
    if chosen != set(AlarmState):
        query = query.where(_any_of(chosen))
    scope = _visible(principal)
    if scope is not None:
        query = query.where(scope)
    if desk is not None:
        query = query.where(Alarm.desk == desk)
    if severity is not None:
        query = query.where(Alarm.severity == severity)
    if code is not None:
        query = query.where(Alarm.code == code)
    return list(session.scalars(query))


def _any_of(states: Iterable[AlarmState]) -> ColumnElement[bool]:
    return or_(*[_in_state(s) for s in sorted(states)])


def get_alarm(session: Session, principal: Principal, alarm_id: int) -> Alarm:
    """One alarm ``principal`` may see; :class:`NotFound` otherwise (another desk's alarm is not shown)."""
    _require_reader(principal)
    row = session.get(Alarm, alarm_id)
    if row is None or (principal.role not in OVERSEERS and row.desk != principal.desk):
        where = "" if principal.role in OVERSEERS else f" visible to desk {principal.desk}"
        raise NotFound(f"no alarm {alarm_id}{where}", hint="list them with `hanoinet alarms`")
    return row


def acknowledge(session: Session, principal: Principal, alarm_id: int, reason: str | None = None) -> Alarm:
    """``principal`` is on it: the alarm stays counted as not dealt with, but no longer as open."""
    note = check_reason(reason, required=False)
    return _act(session, principal, alarm_id, AlarmAction.ACKNOWLEDGE, note,
                values={"acknowledged_at": now(), "acknowledged_by": principal.id, "acknowledged_reason": note})


def clear(session: Session, principal: Principal, alarm_id: int, reason: str) -> Alarm:
    """The cause is dealt with, for ``reason``: the alarm leaves the list and the health counts."""
    if principal.role not in OVERSEERS:
        _require_reader(principal)
        raise Forbidden(f"role {principal.role} may acknowledge an alarm of its desk but not clear it",
                        hint=f"acknowledge it (`hanoinet alarms ack {alarm_id}`); a supervisor or the node operator "
                             "clears it once the cause is dealt with")
    text = check_reason(reason, required=True)
    return _act(session, principal, alarm_id, AlarmAction.CLEAR, text,
                values={"cleared_at": now(), "cleared_by": principal.id, "cleared_reason": text})


def _act(session: Session, principal: Principal, alarm_id: int, action: AlarmAction, reason: str | None,
         *, values: dict[str, Any]) -> Alarm:
    row = get_alarm(session, principal, alarm_id)
    if next_state(state_of(row), action) is None:
        raise _refusal(session, row)
    # Conditional on the state it may start from, so that two officers acting at once cannot both succeed.
    changed = session.execute(
        update(Alarm).where(Alarm.id == alarm_id, _any_of(_FROM[action])).values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    session.refresh(row)
    if not changed:
        raise _refusal(session, row)
    audit.record(session, actor=principal.actor, officer_id=principal.id, action=f"alarm.{action.value}",
                 target=f"alarm:{row.id}", detail={"code": row.code, "desk": row.desk, "reason": reason})
    return row


def _refusal(session: Session, row: Alarm) -> Conflict:
    state = state_of(row)
    if state is AlarmState.CLEARED:
        by, at, why = row.cleared_by, row.cleared_at, row.cleared_reason
    else:
        by, at, why = row.acknowledged_by, row.acknowledged_at, row.acknowledged_reason
    names = officer_names(session, [by])
    who = f"{names.get(by, 'an officer')} (officer {by})" if by is not None else "an officer"
    when = format_instant(at) if at is not None else "earlier"
    return Conflict(
        f"alarm {row.id} is already {state.value} by {who} at {when}" + (f": {why}" if why else ""),
        hint="nothing more to do: if it happens again, a new alarm is raised" if state is AlarmState.CLEARED
        else f"it is in hand; clear it once the cause is dealt with (`hanoinet alarms clear {row.id} --reason ...`)",
        code="alarm_" + state.value,
    )


def counts(session: Session) -> dict[AlarmState, int]:
    """How many alarms of the node are open and how many acknowledged (not cleared), for ``/healthz``."""
    rows = session.execute(
        select(Alarm.acknowledged_at.is_not(None), func.count()).where(Alarm.cleared_at.is_(None))
        .group_by(Alarm.acknowledged_at.is_not(None))
    )
    found = {bool(acknowledged): int(n) for acknowledged, n in rows}
    return {AlarmState.OPEN: found.get(False, 0), AlarmState.ACKNOWLEDGED: found.get(True, 0)}


def officer_names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    """The names of the officers ``ids`` (disabled ones too)."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(select(Officer.id, Officer.name).where(Officer.id.in_(wanted)))
    return {officer_id: name for officer_id, name in rows}


def views(session: Session, rows: Sequence[Alarm]) -> list[dict[str, Any]]:
    """The alarms as the API shows them: what happened, and who acknowledged and cleared it, when and why."""
    names = officer_names(session, [i for r in rows for i in (r.acknowledged_by, r.cleared_by)])

    def step(at: Any, by: int | None, reason: str | None) -> dict[str, Any] | None:
        if at is None:
            return None
        return {"at": format_instant(at), "by": {"id": by, "name": names.get(by) if by is not None else None},
                "reason": reason}

    return [{"id": r.id, "at": format_instant(r.at), "code": r.code, "severity": r.severity, "desk": r.desk,
             "state": state_of(r).value, "message": r.message, "detail": json.loads(r.detail),
             "acknowledged": step(r.acknowledged_at, r.acknowledged_by, r.acknowledged_reason),
             "cleared": step(r.cleared_at, r.cleared_by, r.cleared_reason)} for r in rows]
