"""Alarms and the audit trail, written in the caller's transaction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from hanoinet.db.database import Database
from hanoinet.db.models import Alarm, AuditEntry
from hanoinet.node import audit
from hanoinet.node.officers import TOKEN_PREFIX, issue_token
from hanoinet.victims.cases import new_secret


def test_an_alarm_detail_may_use_any_key(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'a.db'}")
    database.migrate()
    detail = {"message": "the platform's own words", "code": "x", "severity": "y", "entry": "0193"}
    with database.transaction() as uow:
        audit.alarm(uow.session, code="hashbank_flood", message="a flood of matches", detail=detail)
    with database.transaction(readonly=True) as uow:
        [row] = uow.session.scalars(select(Alarm))
    database.dispose()
    assert row.code == "hashbank_flood" and json.loads(row.detail) == detail


def test_secrets_never_reach_an_alarm_or_an_audit_entry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    database = Database(f"sqlite:///{tmp_path / 'a.db'}")
    database.migrate()
    token = issue_token(TOKEN_PREFIX)[0]
    secret = new_secret()
    with database.transaction() as uow:
        audit.alarm(uow.session, code="alert_failing", message=f"the gateway refused Bearer {token}",
                    detail={"url": "https://hooks:pw@pager.example.org/x", "webhook_secret": "s", "peer": "FRA"})
        audit.record(uow.session, actor="system", action="victims.case", target="case:1",
                     detail={"said": f"my secret is {secret}", "body": {"images": 3}, "images": 3})
    with database.transaction(readonly=True) as uow:
        [alarm] = uow.session.scalars(select(Alarm))
        [entry] = uow.session.scalars(select(AuditEntry))
    database.dispose()
    assert alarm.message == "the gateway refused Bearer [redacted]"
    assert json.loads(alarm.detail) == {"url": "https://hooks:[redacted]@pager.example.org/x",
                                        "webhook_secret": "[redacted]", "peer": "FRA"}
    assert json.loads(entry.detail) == {"said": "my secret is [redacted]", "body": "[redacted]", "images": 3}
    logged = capsys.readouterr()
    assert token not in logged.out + logged.err and "pw@" not in logged.out + logged.err
