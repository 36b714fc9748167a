"""``/api/v1/rota`` and ``/api/v1/pages``: who is on duty at a desk, and the pages waiting for an acknowledgement."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from hanoinet.alerts import service, store
from hanoinet.api.inputs import CheckedRoute, Line
from hanoinet.api.officers import Officer
from hanoinet.clock import format_instant, now, parse_rfc3339, show_instant
from hanoinet.db.models import Officer as OfficerRow
from hanoinet.db.models import Page, RotaEntry
from hanoinet.errors import Forbidden
from hanoinet.node.node import Node
from hanoinet.node.officers import Principal
from hanoinet.node.roles import Role

router = APIRouter(route_class=CheckedRoute, prefix="/api/v1", tags=["rota"])
#: Largest id a database integer column holds (SQLite and PostgreSQL BIGINT).
MAX_ID = 2**63 - 1


def _node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


class NewRotaEntry(BaseModel):
    """An officer on duty at a desk; times are wall-clock times in the desk's time zone."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    desk: Line = Field(description="desk id, e.g. 247")
    officer_id: int = Field(ge=1, le=MAX_ID)
    starts: Line = Field(alias="from", description="start at the desk's wall clock, e.g. 2026-11-24 22:00")
    ends: Line = Field(alias="to", description="end at the desk's wall clock, e.g. 2026-11-25 06:00")
    order: int = Field(default=1, ge=1, le=99, description="1: called first, 2: next, ...")


def _readable_desk(node: Node, officer: Principal, desk: str | None) -> str:
    desk = store.check_node_desk(node, desk or officer.desk)
    if not officer.can_read_desk(desk):
        raise Forbidden(f"{officer.name} works at desk {officer.desk} and cannot see the rota of desk {desk}")
    return desk


def _entry_view(node: Node, entry: RotaEntry, name: str, at: datetime) -> dict[str, Any]:
    zone = store.desk_zone(node, entry.desk)
    return {
        "id": entry.id, "desk": entry.desk, "officer_id": entry.officer_id, "officer": name,
        "order": entry.call_order, "from": format_instant(entry.starts_at), "to": format_instant(entry.ends_at),
        "timezone": zone.key, "from_local": show_instant(entry.starts_at, zone, utc=False),
        "to_local": show_instant(entry.ends_at, zone, utc=False),
        "on_duty": store.shift(entry).covers(at),
    }


@router.get("/rota", summary="Rota of a desk: entries running or to come, and who is on duty")
def get_rota(
    officer: Officer, request: Request,
    desk: Annotated[str | None, Query(description="desk id; default: your desk")] = None,
    at: Annotated[str | None, Query(description="RFC 3339 date and time with any offset, e.g. "
                                                "2026-11-24T23:00:00+01:00; default: now")] = None,
) -> dict[str, Any]:
    """Entries of the desk that end after ``at``, and the escalation chain at ``at``."""
    node = _node(request)
    desk = _readable_desk(node, officer, desk)
    t = parse_rfc3339(at, field="at") if at else now()
    with node.db.transaction(readonly=True) as uow:
        rows = store.entries(uow.session, desk, ending_after=t)
        names = {o.id: o.name for o in uow.session.execute(
            select(OfficerRow.id, OfficerRow.name).where(OfficerRow.id.in_({e.officer_id for e in rows}))
        )}
        chain = store.chain_at(uow.session, desk, t)
    return {
        "desk": desk, "timezone": node.settings.desk_policy(desk).timezone, "at": format_instant(t),
        "entries": [_entry_view(node, e, names.get(e.officer_id, ""), t) for e in rows],
        "on_duty": [{"officer_id": c.officer_id, "officer": c.name} for c in chain.on_duty],
        "supervisors": [{"officer_id": c.officer_id, "officer": c.name} for c in chain.supervisors],
    }


@router.post("/rota", status_code=201, summary="Put an officer on a desk's rota (supervisors, admins)")
def add_rota_entry(command: NewRotaEntry, officer: Officer, request: Request) -> dict[str, Any]:
    """Add a rota entry; ``warnings`` says when the officer cannot be reached by e-mail."""
    officer.require_role(Role.SUPERVISOR, Role.ADMIN)
    node = _node(request)
    with node.db.transaction() as uow:
        entry = store.add_entry(node, uow.session, desk=command.desk, officer_id=command.officer_id,
                                starts=command.starts, ends=command.ends, order=command.order,
                                actor=officer.actor, actor_id=officer.id)
        person = uow.session.get(OfficerRow, entry.officer_id)
        name, email = (person.name, person.email) if person is not None else ("", None)
        view = _entry_view(node, entry, name, now())
    view["warnings"] = [] if email else [
        f"officer {entry.officer_id} ({name}) has no e-mail address: duty alerts reach them only through the "
        "desk webhook, if the desk has one"
    ]
    return view


@router.delete("/rota/{entry_id}", summary="Remove a rota entry (supervisors, admins)")
def remove_rota_entry(entry_id: Annotated[int, Path(ge=1, le=MAX_ID)], officer: Officer,
                      request: Request) -> dict[str, Any]:
    """Delete the entry; the audit trail keeps what it was."""
    officer.require_role(Role.SUPERVISOR, Role.ADMIN)
    with _node(request).db.transaction() as uow:
        entry = store.remove_entry(uow.session, entry_id, actor=officer.actor, actor_id=officer.id)
        return {"removed": entry_id, "desk": entry.desk}


def _page_view(session: Session, row: Page) -> dict[str, Any]:
    return {
        "id": row.id, "subject_id": row.subject_id, "subject_ref": row.subject_ref, "desk": row.desk,
        "priority": row.priority, "headline": row.headline, "opened_at": format_instant(row.opened_at),
        "ack_due_at": format_instant(row.ack_due_at), "level": row.level, "no_one_on_duty": row.no_one_on_duty,
        "next_escalation_at": format_instant(row.next_escalation_at) if row.next_escalation_at else None,
        "exhausted": row.exhausted_at is not None,
        "timeline": service.timeline(session, row.subject_id),
    }


@router.get("/pages", summary="Pages nobody has acknowledged yet")
def list_pages(officer: Officer, request: Request) -> list[dict[str, Any]]:
    """Open pages, oldest first: every desk for supervisors and admins, the officer's own desk otherwise."""
    with _node(request).db.transaction(readonly=True) as uow:
        rows = service.open_pages(uow.session, None if officer.reads_every_desk else {officer.desk})
        return [_page_view(uow.session, row) for row in rows]
