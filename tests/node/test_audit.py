"""Alarms and the audit trail, written in the caller's transaction."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from hanoinet.db.database import Database
from hanoinet.db.models import Alarm
from hanoinet.node import audit


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
