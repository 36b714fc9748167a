"""The alert worker against real channels: an SMTP server (aiosmtpd) and a webhook receiver on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import smtplib
import ssl
import time
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.smtp import AuthResult
from fastapi.testclient import TestClient
from pydantic import SecretStr

from hanoinet.alerts import worker as worker_module
from hanoinet.alerts.worker import AlertWorker
from hanoinet.api.app import create_app
from hanoinet.clock import now, parse_instant
from hanoinet.node.node import Node
from tests.alerts.support import (
    HEADLINE,
    WebhookReceiver,
    alarm_codes,
    alerts,
    configure,
    later,
    officer,
    on_duty,
    page,
    pages,
    policy_for,
    smtp_server,
    timeline,
)
from tests.e2e.test_tls import self_signed


def tick(worker: AlertWorker, seconds: float = 0) -> int:
    return asyncio.run(worker.tick(later(seconds)))


def test_the_email_says_what_by_when_and_what_to_run_and_nothing_else(local_node: Node, smtp_port: int) -> None:
    node = local_node
    policy_for(node, timezone="Europe/Paris", ack_target_seconds={"emergency": 1})
    anh, _ = officer(node, "Anh")
    binh, _ = officer(node, "Binh")
    on_duty(node, anh, order=1)
    on_duty(node, binh, order=2)
    subject = page(node)
    worker = AlertWorker(node, worker_id="w")
    with smtp_server(smtp_port) as sink:
        assert tick(worker) == 1
        assert tick(worker, 1.5) == 1  # nobody acknowledged: level 2

    first, second = sink.messages
    assert sink.recipients == [["anh@police.example.org"], ["binh@police.example.org"]]
    assert first["Subject"] == f"[EMERGENCY] {HEADLINE}"
    assert second["Subject"] == f"[EMERGENCY] {HEADLINE} (escalation, level 2)"
    assert first["From"] == "hanoinet@vnm.example.org" and first["Auto-Submitted"] == "auto-generated"
    due = pages(node)[0].ack_due_at
    paris = due.astimezone(ZoneInfo("Europe/Paris"))
    offset = paris.strftime("%z")
    local = f"{paris.strftime('%Y-%m-%d %H:%M %Z')} ({offset[:3]}:{offset[3:]})"
    # The whole body: the headline, the desk, the deadline in the desk's zone and UTC, the command; no case facts.
    assert first.get_content().replace("\r\n", "\n") == (
        f"{HEADLINE}\n\n"
        "Desk:            VNM/247\n"
        "Priority:        emergency\n"
        f"Acknowledge by:  {local} · {due.strftime('%Y-%m-%d %H:%M')} UTC\n\n"
        "Read and acknowledge it on the node:\n\n"
        "    hanoinet request show FRA-2026-0003 --reason 'duty alert'\n\n"
        "This e-mail deliberately holds no facts of the request and no personal data: e-mail is not\n"
        "end-to-end protected. Everything else is on the node.\n"
    )
    assert "escalation level 2: nobody has acknowledged it yet" in second.get_content()
    assert [(e["what"], e["to"], e["status"]) for e in timeline(node, subject)] == [
        ("alert", "Anh", "sent"), ("escalation", "Binh", "sent")]


def test_starttls_and_login_when_configured(local_node: Node, smtp_port: int, tmp_path: Path) -> None:
    node = local_node
    cert, key = self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server: object, session: object, envelope: object, mechanism: str, data: Any) -> AuthResult:
        logins.append((data.login, data.password))
        return AuthResult(success=True)

    configure(node, smtp_starttls=True, smtp_username="hanoinet", smtp_password=SecretStr("relay-pw"),
              tls_ca_file=cert)
    anh, _ = officer(node, "Anh")
    on_duty(node, anh)
    page(node)
    with smtp_server(smtp_port, tls_context=server_tls, require_starttls=True, authenticator=authenticator,
                     auth_require_tls=True) as sink:
        assert tick(AlertWorker(node, worker_id="w")) == 1
    assert len(sink.messages) == 1
    assert logins == [(b"hanoinet", b"relay-pw")]


def test_the_webhook_gets_signed_json(local_node: Node) -> None:
    node = local_node
    with WebhookReceiver() as receiver:
        policy_for(node, timezone="Asia/Ho_Chi_Minh", webhook_url=receiver.url, webhook_secret="k3y")
        subject = page(node, priority="urgent")  # nobody on the rota and no supervisor: the webhook alone
        assert tick(AlertWorker(node, worker_id="w")) == 1
    [(headers, body)] = receiver.received
    assert headers["content-type"] == "application/json"
    assert headers["x-hanoinet-signature"] == "sha256=" + hmac.new(b"k3y", body, hashlib.sha256).hexdigest()
    document = json.loads(body)
    assert {k: document[k] for k in ("node", "subject_id", "subject_ref", "desk", "priority", "headline", "level",
                                      "command")} == {
        "node": "VNM", "subject_id": subject, "subject_ref": "FRA-2026-0003", "desk": "247", "priority": "urgent",
        "headline": HEADLINE, "level": 1, "command": "hanoinet request show FRA-2026-0003 --reason 'duty alert'"}
    hanoi = parse_instant(document["deadline"]).astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    assert document["deadline_local"].startswith(f"{hanoi.strftime('%Y-%m-%d %H:%M')} (+07:00) · ")
    assert [(e["what"], e["to"], e["status"]) for e in timeline(node, subject)][-1] == ("alert", "desk webhook",
                                                                                        "sent")


def test_a_failing_webhook_is_retried(local_node: Node) -> None:
    node = local_node
    with WebhookReceiver([503]) as receiver:
        policy_for(node, webhook_url=receiver.url)
        subject = page(node)
        worker = AlertWorker(node, worker_id="w")
        # Instants from one base, not from the wall clock at each call: a slow machine must not make the
        # "still backing off" tick late enough to be due.
        t0 = now()
        assert asyncio.run(worker.tick(t0)) == 1
        [failed] = alerts(node)
        assert failed.status == "failed" and "HTTP 503" in (failed.last_error or "")
        assert asyncio.run(worker.tick(t0 + timedelta(seconds=0.1))) == 0  # backing off
        assert asyncio.run(worker.tick(t0 + timedelta(seconds=120))) == 1
    assert len(receiver.received) == 2
    assert [(e["what"], e["status"]) for e in timeline(node, subject)][-2:] == [("alert", "sent"),
                                                                                ("alert_failed", "failed")]


def test_smtp_down_is_retried_shown_alarmed_then_delivered(node: Node, smtp_port: int) -> None:
    anh, _ = officer(node, "Anh")
    on_duty(node, anh)
    subject = page(node)
    worker = AlertWorker(node, worker_id="w")
    for attempt, at in enumerate((0, 100, 200), start=1):  # nothing listens on the relay's port
        assert tick(worker, at) == 1
        [row] = alerts(node)
        assert (row.status, row.attempts) == ("failed", attempt)
    assert alarm_codes(node) == ["alert_failing"]
    failed = timeline(node, subject)
    assert [(e["what"], e["status"]) for e in failed] == [("alert", "failed"), ("alert_failed", "failed")]
    assert "ConnectionRefusedError" in failed[1]["error"] and "(attempt 3)" in failed[1]["error"]

    with smtp_server(smtp_port) as sink:
        assert tick(worker, 300) == 1
    assert len(sink.messages) == 1
    [row] = alerts(node)
    assert row.status == "sent" and row.attempts == 4
    entries = timeline(node, subject)
    assert [(e["what"], e["status"]) for e in entries] == [("alert", "sent"), ("alert_failed", "failed")]
    assert alarm_codes(node) == ["alert_failing"]  # once


def test_the_running_worker_is_woken_by_the_commit(local_node: Node, smtp_port: int,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    node = local_node
    monkeypatch.setattr(worker_module, "POLL_SECONDS", 30.0)  # so only the wake-up can explain a quick e-mail
    anh, _ = officer(node, "Anh")
    on_duty(node, anh)

    async def go() -> int:
        stop = asyncio.Event()
        task = asyncio.create_task(AlertWorker(node, worker_id="w").run(stop))
        await asyncio.sleep(0.1)  # the worker has run its first round and waits
        with smtp_server(smtp_port) as sink:
            await asyncio.to_thread(page, node)
            for _ in range(100):
                if sink.messages:
                    break
                await asyncio.sleep(0.02)
        stop.set()
        await task
        return len(sink.messages)

    assert asyncio.run(go()) == 1


def test_the_served_app_runs_the_alert_worker(local_node: Node, smtp_port: int) -> None:
    node = local_node
    anh, _ = officer(node, "Anh")
    on_duty(node, anh)
    with smtp_server(smtp_port) as sink, TestClient(create_app(node, background=True)):
        page(node)
        for _ in range(150):
            if sink.messages:
                break
            time.sleep(0.02)
    assert len(sink.messages) == 1
    assert [a.status for a in alerts(node)] == ["sent"]


class RefusingMailer:
    """A relay that refuses the recipient, quoting the address as real servers do."""

    def send(self, message: EmailMessage) -> None:
        raise smtplib.SMTPRecipientsRefused({str(message["To"]): (550, b"5.1.1 <anh@police.example.org> unknown")})


def test_a_refused_recipient_never_puts_the_address_on_the_timeline(node: Node) -> None:
    anh, _ = officer(node, "Anh")
    on_duty(node, anh)
    subject = page(node)
    worker = AlertWorker(node, worker_id="w", mailer=RefusingMailer())
    for at in (0, 100, 200):
        tick(worker, at)
    entries = timeline(node, subject)
    assert any("SMTP 550" in (e["error"] or "") for e in entries)
    assert not any("@" in (e["error"] or "") for e in entries)
    [row] = alerts(node)
    assert "@" not in (row.last_error or "")
