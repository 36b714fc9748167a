"""What an officer reads of requests: the list, and one request in full with its timeline, clocks and options.

The API returns these views and the console renders the same ones, so nothing here knows of HTTP: the views
take the node, the officer and a session (``list_requests`` and ``show`` open their own transaction) and
return plain data. Every reading of a request is on the audit trail, as the request holds personal data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hanoinet import convention
from hanoinet.alerts import service as alerts
from hanoinet.clock import format_instant, now
from hanoinet.db.models import OutboxMessage, RequestEventRecord, RequestRecord
from hanoinet.node import audit
from hanoinet.node.node import Node
from hanoinet.node.officers import Principal
from hanoinet.node.roles import Role
from hanoinet.requests import clocks
from hanoinet.requests.machine import Action, History, Side, State, available, requires_consultation
from hanoinet.requests.records import (
    ACTING_ROLES,
    PRESERVED_STATES,
    WARNING_DAYS,
    ack_target,
    check_reader,
    events_of,
    history_of,
    kind_of,
    load_request,
    our_desk,
)


def _clocks(node: Node, row: RequestRecord, history: History, t: datetime) -> list[clocks.Clock]:
    return clocks.all_clocks(
        history, t, ack_target=ack_target(node, row),
        warnings=WARNING_DAYS,
        preservation_article=convention.PRESERVATION_CLOCK.article,
        procedure_article=convention.CONSULT_BEFORE_REFUSING.article,
    )


def summary(row: RequestRecord, t: datetime) -> dict[str, Any]:
    """The one-line view of a request used by lists."""
    kind = kind_of(row.kind)
    overdue = (row.ack_due_at is not None and row.acknowledged_at is None and row.ack_due_at < t
               and row.state == State.RECEIVED)
    warning = row.preserve_until is not None and row.state in PRESERVED_STATES and \
        clocks.preservation_warning(row.preserve_until, t, WARNING_DAYS) is not None
    return {
        "id": row.id, "ref": row.ref, "kind": row.kind, "kind_title": kind.title, "article": kind.article,
        "side": row.side, "requesting": row.requesting, "requested": row.requested, "priority": row.priority,
        "state": row.state, "version": row.version, "case": row.case_ref, "confidential": row.confidential,
        "do_not_notify": row.do_not_notify, "created_at": format_instant(row.created_at),
        "updated_at": format_instant(row.updated_at),
        "sent_at": format_instant(row.sent_at) if row.sent_at else None,
        "received_at": format_instant(row.received_at) if row.received_at else None,
        "acknowledged_at": format_instant(row.acknowledged_at) if row.acknowledged_at else None,
        "ack_due_at": format_instant(row.ack_due_at) if row.ack_due_at else None,
        "preserve_until": format_instant(row.preserve_until) if row.preserve_until else None,
        "overdue": overdue, "preservation_warning": warning,
    }


def list_requests(node: Node, principal: Principal, *, state: str | None = None, kind: str | None = None,
                  desk: str | None = None, overdue: bool = False, limit: int = 200) -> list[dict[str, Any]]:
    """Requests visible to the officer, newest first, optionally filtered."""
    t = now()
    with node.db.transaction(readonly=True) as uow:
        query = select(RequestRecord).order_by(RequestRecord.updated_at.desc()).limit(limit)
        if state:
            query = query.where(RequestRecord.state == state)
        if kind:
            query = query.where(RequestRecord.kind == kind)
        if overdue:
            query = query.where(RequestRecord.ack_due_at < t, RequestRecord.acknowledged_at.is_(None),
                                RequestRecord.state == State.RECEIVED)
        # Filter by desk in the query, so the limit counts only what the officer may see.
        visible = desk or (None if principal.reads_every_desk else principal.desk)
        if visible is not None:
            if not principal.can_read_desk(visible):
                return []
            address = f"{node.state}/{visible}"
            query = query.where(((RequestRecord.side == Side.REQUESTING.value) & (RequestRecord.requesting == address))
                                | ((RequestRecord.side == Side.REQUESTED.value) & (RequestRecord.requested == address)))
        rows = list(uow.session.scalars(query))
        return [summary(r, t) for r in rows]


def show(node: Node, principal: Principal, ref: str) -> dict[str, Any]:
    """Everything about one request: fields with their articles, timeline, clocks, what can be done now."""
    with node.db.transaction() as uow:
        row = load_request(uow.session, ref)
        check_reader(principal, row, ref)
        # A request holds personal data: every reading is on the audit trail.
        audit.record(uow.session, actor=principal.actor, officer_id=principal.id, action="request.view",
                     target=row.ref)
        if row.side == Side.REQUESTING and principal.desk == our_desk(row) and \
                principal.role in (*ACTING_ROLES, Role.SUPERVISOR):
            # What woke our desk (a question, a notice, a refusal) has now been read by a person there.
            alerts.resolve(uow, subject_id=row.id, by=principal.name)
        return view(node, uow.session, row, viewer=principal)


def view(node: Node, session: Session, row: RequestRecord, *, viewer: Principal | None = None) -> dict[str, Any]:
    """The full view of ``row``, computed from its events (no access check: callers do it)."""
    t = now()
    kind = kind_of(row.kind)
    events = events_of(session, row.id)
    history = history_of(row, events)
    our_side = Side(row.side)
    values = json.loads(row.fields)
    fields = [{"name": spec.name, "label": spec.label, "article": spec.article, "required": spec.required,
               "value": values.get(spec.name), "text": _readable(spec, values.get(spec.name))}
              for spec in kind.fields if spec.name in values or spec.required]
    result = {**summary(row, t), "kind_summary": kind.summary, "language": row.language, "fields": fields,
              "timeline": _timeline(session, row, history),
              "clocks": [c.to_json(t) for c in _clocks(node, row, history, t)],
              "allowed": _allowed_now(history, our_side, row.kind, viewer, our_desk(row), t=t),
              "result": _last_data(history, Action.EXECUTE, "result") or
              _last_data(history, Action.PARTIALLY_EXECUTE, "result"),
              "refusal": _last_data(history, Action.REFUSE, None),
              "notices": list(history.preservation.notices),
              "held_for": history.preservation.held_for,
              "approval": _approval(row, history),
              "approval_required": row.side == Side.REQUESTING.value
              and row.kind in node.settings.approval_required_kinds}
    if result["approval"] is not None:
        _show_approval(result["timeline"], result["approval"], row)
    return result


def _approval(row: RequestRecord, history: History) -> dict[str, Any] | None:
    """The supervisor's approval (four eyes): the one the ``send`` carried, or the one kept with the draft."""
    signed = history.procedure.approval
    if signed is not None:
        return {"approver": signed.approver, "name": signed.name, "role": signed.role, "author": signed.author,
                "at": format_instant(signed.at), "digest": signed.digest}
    kept: dict[str, Any] | None = json.loads(row.approval) if row.approval else None
    return kept


def _show_approval(timeline: list[dict[str, Any]], approval: Mapping[str, Any], row: RequestRecord) -> None:
    """The approval on the timeline, just before the ``send`` that carried it (at the end for a draft)."""
    entry = {"at": approval["at"], "what": "approved", "side": Side.REQUESTING.value,
             "by": f"{approval['name']} ({approval['role']})", "party": row.requesting, "applied": True,
             "state": State.DRAFT.value, "reason": "", "data": {"digest": approval["digest"]}}
    index = next((i for i, e in enumerate(timeline) if e["what"] == Action.SEND.value), len(timeline))
    timeline.insert(index, entry)


def _readable(spec: convention.FieldSpec, value: Any) -> str:
    """A field's value as a person reads it: offences with their article and title, booleans as yes/no."""
    if value is None:
        return ""
    if spec.type == "offence" and isinstance(value, Mapping):
        offence = convention.OFFENCES.get(str(value.get("article")))
        if offence is None:
            return json.dumps(value, ensure_ascii=False)
        if offence.code == convention.SERIOUS:
            return (f"{value.get('domestic_offence')} (serious crime, Art. {offence.article}: maximum "
                    f"{value.get('max_penalty_years')} years)")
        named = f" — domestic: {value['domestic_offence']}" if value.get("domestic_offence") else ""
        return f"Art. {offence.article}: {offence.title}{named}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return "\n".join(f"• {item}" for item in value)
    return str(value)


def _allowed_now(history: History, side: Side, kind: str, viewer: Principal | None, desk: str, *,
                 t: datetime) -> list[str]:
    options = available(history, side, preservation=kind_of(kind).preservation_clock,
                        consultation=requires_consultation(kind), at=t)
    if viewer is not None and viewer.role not in ACTING_ROLES:
        supervising = viewer.role is Role.SUPERVISOR and viewer.desk == desk
        return ["acknowledge"] if supervising and Action.ACKNOWLEDGE in options else []
    return [a.value for a in options]


def _last_data(history: History, action: Action, key: str | None) -> Any:
    event = history.last(action)
    if event is None:
        return None
    return event.data.get(key) if key else dict(event.data)


def _timeline(session: Session, row: RequestRecord, history: History) -> list[dict[str, Any]]:
    records = {(r.side, r.seq): r for r in session.scalars(
        select(RequestEventRecord).where(RequestEventRecord.request_id == row.id))}
    deliveries = {o.message_id: o for o in session.scalars(
        select(OutboxMessage).where(OutboxMessage.message_id.in_(
            [r.message_id for r in records.values() if r.message_id])))}
    parties = {Side.REQUESTING.value: row.requesting, Side.REQUESTED.value: row.requested}
    entries: list[dict[str, Any]] = []
    for outcome in history.outcomes:
        event = outcome.event
        record = records[event.key]
        entry: dict[str, Any] = {
            "at": event.at, "what": event.action.value, "side": event.side.value, "by": event.by,
            "party": parties[event.side.value], "seq": event.seq, "applied": outcome.applied,
            "state": outcome.after.value, "reason": outcome.reason, "data": dict(event.data),
        }
        sent = deliveries.get(record.message_id or "")
        if sent is not None:
            entry["delivery"] = {"status": sent.status, "attempts": sent.attempts, "error": sent.last_error,
                                 "delivered_at": format_instant(sent.delivered_at) if sent.delivered_at else None}
        entries.append(entry)
        if event.action is Action.SEND and history.received_at is not None:
            entries.append({"at": history.received_at, "what": "received", "side": Side.REQUESTED.value,
                            "by": "machine receipt", "party": row.requested, "applied": True,
                            "state": State.RECEIVED.value, "reason": "", "data": {}})
    # Events keep the canonical order both States share; alerts (ours only) slot in by time.
    pending_alerts = [{**alert, "side": Side.REQUESTED.value, "party": row.requested, "applied": True, "reason": ""}
                      for alert in sorted(alerts.timeline(session, row.id), key=lambda a: str(a["at"]))]
    merged: list[dict[str, Any]] = []
    for entry in entries:
        while pending_alerts and str(pending_alerts[0]["at"]) <= str(entry["at"]):
            merged.append(pending_alerts.pop(0))
        merged.append(entry)
    return merged + pending_alerts
