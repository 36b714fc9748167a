"""The audit trail and the alarm list, both written inside the caller's transaction."""

from __future__ import annotations

import json
from typing import Any

import structlog
from sqlalchemy.orm import Session

from hanoinet.clock import now
from hanoinet.db.models import Alarm, AuditEntry

log = structlog.get_logger("hanoinet")


def record(
    session: Session, *, actor: str, action: str, target: str = "", officer_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Add an audit entry: who (``actor``: ``officer:ID``, ``peer:STATE``, ``system``) did what to what."""
    session.add(AuditEntry(
        at=now(), officer_id=officer_id, actor=actor, action=action, target=target,
        detail=json.dumps(detail or {}, sort_keys=True),
    ))


def alarm(session: Session, *, code: str, message: str, severity: str = "high",
          detail: dict[str, Any] | None = None) -> None:
    """Raise an alarm an operator must see (listed by ``/api/v1/alarms`` and ``hanoinet alarms``)."""
    # The detail nested, not spread: a detail key named like an argument (message, code) must not break it.
    log.warning("alarm", code=code, message=message, severity=severity, detail=detail or {})
    session.add(Alarm(at=now(), code=code, severity=severity, message=message,
                      detail=json.dumps(detail or {}, sort_keys=True)))
