"""Rota entries and the officers they name, in the database; the rules are in :mod:`hanoinet.alerts.rota`."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from hanoinet.alerts.rota import Contact, EscalationChain, Shift, escalation_chain, parse_local
from hanoinet.clock import format_instant, now
from hanoinet.db.models import Officer, RotaEntry
from hanoinet.errors import NotFound, ValidationError
from hanoinet.node import audit
from hanoinet.node.node import Node
from hanoinet.node.officers import CONFINED_ROLES
from hanoinet.node.roles import Role


def contact(officer: Officer) -> Contact:
    """An officer as the escalation chain sees them."""
    return Contact(officer_id=officer.id, name=officer.name, role=officer.role, desk=officer.desk,
                   email=officer.email, enabled=officer.disabled_at is None)


def shift(entry: RotaEntry) -> Shift:
    """A stored rota entry as the rules see it."""
    return Shift(desk=entry.desk, officer_id=entry.officer_id, starts_at=entry.starts_at, ends_at=entry.ends_at,
                 order=entry.call_order, id=entry.id)


def chain_at(session: Session, desk: str, at: datetime) -> EscalationChain:
    """The escalation chain of ``desk`` at ``at``, from the rota and the officers as stored now."""
    running = session.scalars(
        select(RotaEntry).where(RotaEntry.desk == desk, RotaEntry.starts_at <= at, RotaEntry.ends_at > at)
    )
    officers = session.scalars(select(Officer).where(Officer.disabled_at.is_(None)))
    return escalation_chain([shift(e) for e in running], [contact(o) for o in officers], desk, at)


def desk_zone(node: Node, desk: str) -> ZoneInfo:
    """The time zone a desk's rota is written in."""
    return ZoneInfo(node.settings.desk_policy(desk).timezone)


def check_node_desk(node: Node, desk: str) -> str:
    """Return ``desk`` if this node has it."""
    if desk not in node.settings.desk_ids:
        raise ValidationError(f"this node has no desk {desk!r}",
                              hint=f"desks: {', '.join(sorted(node.settings.desk_ids))}")
    return desk


def add_entry(
    node: Node, session: Session, *, desk: str, officer_id: int, starts: str, ends: str, order: int, actor: str,
    actor_id: int | None = None,
) -> RotaEntry:
    """Put an officer on duty at ``desk`` from ``starts`` to ``ends``, wall-clock times in the desk's time zone.

    Overlapping entries are allowed (two officers on duty, or a hand-over); ``order`` says who is called first.
    """
    check_node_desk(node, desk)
    officer = session.get(Officer, officer_id)
    if officer is None:
        raise NotFound(f"no officer {officer_id}", hint="list them with `hanoinet officer list`")
    if officer.disabled_at is not None:
        raise ValidationError(f"officer {officer_id} ({officer.name}) is disabled and cannot be on duty")
    if officer.role in CONFINED_ROLES:
        # They read no desk's work, so they could not act on what an alert wakes them for.
        raise ValidationError(f"officer {officer_id} ({officer.name}) has the role {officer.role}, which takes no "
                              "duty at a desk",
                              hint="put a duty officer, a central authority lawyer or a supervisor on this rota")
    if officer.desk != desk and officer.role not in (Role.SUPERVISOR, Role.ADMIN):
        # A desk officer reads only their own desk's requests, so they could not act on what they are woken for.
        raise ValidationError(f"officer {officer_id} ({officer.name}) works at desk {officer.desk}, not {desk}",
                              hint=f"put an officer of desk {desk}, or a supervisor, on this rota")
    zone = desk_zone(node, desk)
    rule = Shift(desk=desk, officer_id=officer_id, starts_at=parse_local(starts, zone, field="from"),
                 ends_at=parse_local(ends, zone, field="to"), order=order)
    entry = RotaEntry(desk=desk, officer_id=officer_id, starts_at=rule.starts_at, ends_at=rule.ends_at,
                      call_order=order, created_at=now(), created_by=actor)
    session.add(entry)
    session.flush()
    audit.record(session, actor=actor, officer_id=actor_id, action="rota.add", target=f"rota:{entry.id}",
                 detail={"desk": desk, "officer_id": officer_id, "from": format_instant(entry.starts_at),
                         "to": format_instant(entry.ends_at), "order": order})
    return entry


def remove_entry(session: Session, entry_id: int, *, actor: str, actor_id: int | None = None) -> RotaEntry:
    """Delete a rota entry; the audit trail keeps what it was."""
    entry = session.get(RotaEntry, entry_id)
    if entry is None:
        raise NotFound(f"no rota entry {entry_id}", hint="list them with `hanoinet rota list --desk DESK`")
    session.delete(entry)
    audit.record(session, actor=actor, officer_id=actor_id, action="rota.remove", target=f"rota:{entry_id}",
                 detail={"desk": entry.desk, "officer_id": entry.officer_id, "from": format_instant(entry.starts_at),
                         "to": format_instant(entry.ends_at), "order": entry.call_order})
    return entry


def entries(session: Session, desk: str, *, ending_after: datetime, limit: int = 500) -> list[RotaEntry]:
    """Entries of ``desk`` still running or to come at ``ending_after``, by start and call order."""
    return list(session.scalars(
        select(RotaEntry).where(RotaEntry.desk == desk, RotaEntry.ends_at > ending_after)
        .order_by(RotaEntry.starts_at, RotaEntry.call_order, RotaEntry.id).limit(limit)
    ))
