"""Pages: written with the caller's transaction, escalated level by level, stopped by an acknowledgement.

Storage tests: each runs on SQLite and on PostgreSQL. The worker's functions take the time as an argument,
so escalation is driven without waiting.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from hanoinet.alerts import service
from hanoinet.alerts.worker import AlertWorker
from hanoinet.errors import ValidationError
from hanoinet.ids import uuid7
from hanoinet.node.node import Node
from tests.alerts.support import (
    HEADLINE,
    alarm_codes,
    alarm_desks,
    alerts,
    configure,
    later,
    officer,
    on_duty,
    page,
    pages,
    policy_for,
    timeline,
)


def test_the_chain_is_escalated_level_by_level_then_kept_open_with_one_alarm(node: Node) -> None:
    policy_for(node, timezone="Europe/Paris", webhook_url="https://pager.example.org/247",
               ack_target_seconds={"emergency": 1})
    first, _ = officer(node, "Anh")
    second, _ = officer(node, "Binh")
    chief, _ = officer(node, "Chief", role="supervisor")
    other_chief, _ = officer(node, "Other", role="supervisor", desk="CA")
    on_duty(node, second, order=2)
    on_duty(node, first, order=1)
    subject = page(node)

    [opened] = pages(node)
    assert (opened.level, opened.headline, opened.ack_due_at - opened.opened_at) == (1, HEADLINE, timedelta(seconds=1))
    assert [(a.level, a.channel, a.officer_id) for a in alerts(node)] == [(1, "email", first), (1, "webhook", None)]

    worker = AlertWorker(node, worker_id="w")

    def after(seconds: float) -> datetime:
        # From the page's opening, not from now: on a loaded machine half a second may already have passed.
        return opened.opened_at + timedelta(seconds=seconds)

    assert worker.escalate(after(0.5)) == 0  # not due yet
    assert worker.escalate(after(1.5)) == 1
    assert worker.escalate(after(3)) == 1
    assert worker.escalate(after(4.5)) == 1  # nobody left: the chain is exhausted
    assert worker.escalate(after(10)) == 0  # and the page is not escalated any more

    levels = [(a.level, a.channel, a.officer_id) for a in alerts(node)]
    assert levels[2:] == [(2, "email", second), (2, "webhook", None),
                          (3, "email", chief), (3, "email", other_chief), (3, "webhook", None)]
    [exhausted] = pages(node)
    assert exhausted.level == 3 and exhausted.exhausted_at is not None and exhausted.resolved_at is None
    assert alarm_codes(node) == ["page_unacknowledged"]
    entries = timeline(node, subject)
    assert [(e["what"], e["level"], e["to"], e["channel"], e["status"]) for e in entries] == [
        ("alert", 1, "Anh", "email", "pending"), ("alert", 1, "desk webhook", "webhook", "pending"),
        ("escalation", 2, "Binh", "email", "pending"), ("escalation", 2, "desk webhook", "webhook", "pending"),
        ("escalation", 3, "Chief", "email", "pending"), ("escalation", 3, "Other", "email", "pending"),
        ("escalation", 3, "desk webhook", "webhook", "pending"), ("chain_exhausted", 3, None, None, None),
    ]
    assert all(e["at"].endswith("Z") for e in entries)
    assert "pager.example.org" not in str(entries) and "@" not in str(entries)  # no addresses on show


def test_an_acknowledgement_stops_escalation_and_cancels_what_is_not_sent(node: Node) -> None:
    policy_for(node, ack_target_seconds={"urgent": 1})
    anh, _ = officer(node, "Anh")
    binh, _ = officer(node, "Binh")
    on_duty(node, anh, order=1)
    on_duty(node, binh, order=2)
    subject = page(node, priority="urgent")
    with node.db.transaction() as uow:
        service.resolve(uow, subject_id=subject, by="Anh (officer:1)")
        service.resolve(uow, subject_id=uuid7(), by="nobody")  # no page: no effect
    assert AlertWorker(node, worker_id="w").escalate(later(5)) == 0
    [resolved] = pages(node)
    assert resolved.resolved_by == "Anh (officer:1)" and resolved.next_escalation_at is None
    assert [a.status for a in alerts(node)] == ["cancelled"]
    assert AlertWorker(node, worker_id="w").claim(10, later(5)) == []


def test_nobody_on_duty_alerts_every_supervisor_at_once_and_raises_an_alarm(node: Node) -> None:
    officer(node, "Anh")  # not on the rota
    chief, _ = officer(node, "Chief", role="supervisor")
    ca_chief, _ = officer(node, "Other", role="supervisor", desk="CA")
    officer(node, "Mute", role="supervisor", email=None)  # cannot be reached: skipped
    subject = page(node)
    assert [(a.level, a.officer_id) for a in alerts(node)] == [(1, chief), (1, ca_chief)]
    assert alarm_codes(node) == ["no_one_on_duty"]
    assert timeline(node, subject)[0] == {"at": timeline(node, subject)[0]["at"], "what": "no_one_on_duty",
                                          "level": 1, "to": None, "channel": None, "status": None, "error": None}


def test_nobody_to_alert_at_all_is_a_critical_alarm(node: Node) -> None:
    subject = page(node)
    assert alerts(node) == []
    assert alarm_codes(node) == ["no_one_on_duty", "no_one_to_alert"]
    assert alarm_desks(node) == ["247", "247"], "the paged desk's officers see them"
    assert [e["what"] for e in timeline(node, subject)] == ["no_one_on_duty", "chain_exhausted"]


def test_the_page_belongs_to_the_callers_transaction(node: Node) -> None:
    anh, _ = officer(node, "Anh")
    on_duty(node, anh)
    subject = uuid7()
    with pytest.raises(RuntimeError), node.db.transaction() as uow:
        service.page(node, uow, subject_id=subject, subject_ref="FRA-1", desk="247", priority="emergency",
                     headline=HEADLINE)
        raise RuntimeError("the incoming request could not be stored")
    assert pages(node) == [] and alerts(node) == []
    for _ in range(2):  # a second page for the same subject while the first is open changes nothing
        with node.db.transaction() as uow:
            service.page(node, uow, subject_id=subject, subject_ref="FRA-1", desk="247", priority="emergency",
                         headline=HEADLINE)
    assert len(pages(node)) == 1 and len(alerts(node)) == 1


def test_with_email_disabled_the_webhook_still_goes_and_a_warning_alarm_says_why(node: Node) -> None:
    configure(node, smtp_host="")
    policy_for(node, webhook_url="https://pager.example.org/247")
    anh, _ = officer(node, "Anh")
    on_duty(node, anh)
    subject = page(node)
    assert [(a.channel, a.status) for a in alerts(node)] == [("email", "skipped"), ("webhook", "pending")]
    assert alarm_codes(node) == ["email_disabled"]
    email = timeline(node, subject)[0]
    assert email["status"] == "skipped" and "smtp_host" in email["error"]


def test_headlines_are_one_bounded_line(node: Node) -> None:
    with node.db.transaction() as uow:
        service.page(node, uow, subject_id=uuid7(), subject_ref="FRA-1", desk="247", priority="normal",
                     headline="two\r\nlines\x00" + "x" * 500)
    [row] = pages(node)
    assert row.headline.startswith("two lines x") and len(row.headline) == 200


@pytest.mark.parametrize(("desk", "priority", "message"), [
    ("ZZ", "emergency", "no desk 'ZZ'"), ("247", "routine", "unknown priority 'routine'"),
])
def test_a_page_for_an_unknown_desk_or_priority_is_refused(node: Node, desk: str, priority: str,
                                                           message: str) -> None:
    with pytest.raises(ValidationError, match=message), node.db.transaction() as uow:
        service.page(node, uow, subject_id=uuid7(), subject_ref="FRA-1", desk=desk, priority=priority,
                     headline=HEADLINE)


def test_a_claimed_alert_is_not_claimed_again_until_its_lease_ends(node: Node) -> None:
    anh, _ = officer(node, "Anh")
    on_duty(node, anh)
    page(node)
    first, second = AlertWorker(node, worker_id="one"), AlertWorker(node, worker_id="two")
    assert len(first.claim(10, later(0))) == 1
    assert second.claim(10, later(1)) == []
    assert len(second.claim(10, later(first.lease.total_seconds() + 1))) == 1
