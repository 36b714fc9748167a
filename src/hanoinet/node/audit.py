"""The audit trail and the alarm list, both written inside the caller's transaction."""

from __future__ import annotations

import json
from typing import Any

import structlog
from sqlalchemy.orm import Session

from hanoinet.clock import now
from hanoinet.db.models import Alarm, AuditEntry
from hanoinet.logs import redact, redact_text

log = structlog.get_logger("hanoinet")


def record(
    session: Session, *, actor: str, action: str, target: str = "", officer_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Add an audit entry: who (``actor``: ``officer:ID``, ``peer:STATE``, ``system``) did what to what."""
    session.add(AuditEntry(
        at=now(), officer_id=officer_id, actor=actor, action=action, target=target,
        detail=json.dumps(redact(detail or {}), sort_keys=True),
    ))


def alarm(session: Session, *, code: str, message: str, severity: str = "high",
          detail: dict[str, Any] | None = None, desk: str | None = None) -> None:
    """Raise an alarm an operator must see (listed by ``/api/v1/alarms`` and ``hanoinet alarms``).

    ``desk``: the desk whose work it concerns, whose officers then see and may acknowledge it too; none for
    the node's own alarms (directory, ledger, keys, peers), which only supervisors and admins see. Each call
    is a new open alarm (``hanoinet.node.alarms``).
    """
    # Kept and shown to officers, so redacted like a log line (hanoinet.logs).
    message, kept = redact_text(message), redact(detail or {})
    # The detail nested, not spread: a detail key named like an argument (message, code) must not break it.
    log.warning("alarm", code=code, message=message, severity=severity, desk=desk, detail=kept)
    session.add(Alarm(at=now(), code=code, severity=severity, message=message, desk=desk,
                      detail=json.dumps(kept, sort_keys=True)))
