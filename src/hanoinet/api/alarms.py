"""``/api/v1/alarms``: the alarms an officer may see, and acknowledging or clearing one (docs/operations.md, 7)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from hanoinet.api.inputs import CheckedRoute
from hanoinet.api.officers import Officer, node_of
from hanoinet.api.problems import problem_responses
from hanoinet.node import alarms
from hanoinet.node.alarms import REASON_MAX, AlarmState

router = APIRouter(route_class=CheckedRoute, prefix="/api/v1", tags=["alarms"])
#: Largest id a database integer column holds (SQLite and PostgreSQL BIGINT).
MAX_ID = 2**63 - 1

AlarmId = Annotated[int, Path(ge=1, le=MAX_ID, description="the alarm's id, as listed")]
_UNAUTHENTICATED = {401: "no token, or an unknown or disabled one"}
_FORBIDDEN = {403: "the officer's role may not do this (or asked for another desk's alarms)"}
_NOT_FOUND = {404: "no such alarm, or it concerns another desk"}


class AcknowledgeBody(BaseModel):
    """Acknowledging: the officer is on it. A note is optional."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=REASON_MAX,
                               description="what is being done, e.g. 'calling the operator of FRA'")


class ClearBody(BaseModel):
    """Clearing: the cause is dealt with. The reason is required and kept on the alarm and the audit trail."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(max_length=REASON_MAX, description="what was done, e.g. 'directory version 8 imported'")


@router.get("/alarms", summary="Alarms the officer may see, newest first",
            responses=problem_responses({**_UNAUTHENTICATED, **_FORBIDDEN}))
def list_alarms(
    officer: Officer, request: Request, *,
    state: Annotated[list[AlarmState] | None, Query(
        description="open, acknowledged or cleared; repeat for several (default: open and acknowledged)")] = None,
    severity: Annotated[str | None, Query(max_length=16, description="e.g. critical, high, warning")] = None,
    code: Annotated[str | None, Query(max_length=64, description="e.g. directory_expired")] = None,
    desk: Annotated[str | None, Query(max_length=16, description="only the alarms of this desk")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Admins and supervisors see every alarm; duty officers and central-authority officers their desk's."""
    with node_of(request).db.transaction(readonly=True) as uow:
        rows = alarms.list_alarms(uow.session, officer, states=state or alarms.UNCLEARED, severity=severity,
                                  code=code, desk=desk, limit=limit)
        return alarms.views(uow.session, rows)


@router.post("/alarms/{alarm_id}/acknowledge", summary="Say you are on an alarm (it stays counted, as acknowledged)",
             responses=problem_responses({**_UNAUTHENTICATED, **_FORBIDDEN, **_NOT_FOUND,
                                          409: "already acknowledged or cleared (code alarm_acknowledged, "
                                               "alarm_cleared), naming by whom and when",
                                          422: "the note spans lines or is too long"}))
def acknowledge(alarm_id: AlarmId, body: AcknowledgeBody, officer: Officer, request: Request) -> dict[str, Any]:
    """Admins, supervisors, and the officers of the alarm's desk. Recorded in the audit trail."""
    with node_of(request).db.transaction() as uow:
        row = alarms.acknowledge(uow.session, officer, alarm_id, body.reason)
        return alarms.views(uow.session, [row])[0]


@router.post("/alarms/{alarm_id}/clear", summary="Say an alarm is dealt with, and why",
             responses=problem_responses({**_UNAUTHENTICATED, **_FORBIDDEN, **_NOT_FOUND,
                                          409: "already cleared (code alarm_cleared), naming by whom and when",
                                          422: "no reason, or one that spans lines or is too long"}))
def clear(alarm_id: AlarmId, body: ClearBody, officer: Officer, request: Request) -> dict[str, Any]:
    """Admins and supervisors. Recorded in the audit trail; the alarm leaves the list and the health counts."""
    with node_of(request).db.transaction() as uow:
        row = alarms.clear(uow.session, officer, alarm_id, body.reason)
        return alarms.views(uow.session, [row])[0]
