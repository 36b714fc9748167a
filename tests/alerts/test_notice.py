"""What alert e-mails and webhooks tell the officer to run: the command that shows the page's subject."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hanoinet.alerts.notice import TAKEDOWN_PREFIX, Notice, command, email_body, webhook_body


def _notice(subject_id: str, subject_ref: str) -> Notice:
    return Notice(node="FRA", desk="247", subject_id=subject_id, subject_ref=subject_ref, priority="urgent",
                  headline="a headline", level=1, ack_due_at=datetime(2026, 11, 25, 3, tzinfo=UTC), timezone="UTC")


def test_a_request_page_names_the_request_and_a_takedown_page_the_overdue_list() -> None:
    shown = command("0193a1b2-0000-7000-8000-000000000000", "VNM-2026-0007")
    assert shown == "hanoinet request show VNM-2026-0007 --reason 'duty alert'"
    assert command(f"{TAKEDOWN_PREFIX}12", "takedown report 12") == "hanoinet takedown overdue"
    takedown = _notice(f"{TAKEDOWN_PREFIX}12", "takedown report 12")
    assert "hanoinet takedown overdue" in email_body(takedown) and "request show" not in email_body(takedown)
    assert json.loads(webhook_body(takedown, alert_id=1, at=datetime(2026, 11, 25, tzinfo=UTC)))["command"] == \
        "hanoinet takedown overdue"
