"""Building blocks for the alert tests: officers, rota entries, pages, a local SMTP server and webhook receiver."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import select

from hanoinet.alerts import service, store
from hanoinet.clock import format_instant, now
from hanoinet.db.models import Alarm, Alert, Page
from hanoinet.ids import uuid7
from hanoinet.node.node import Node
from hanoinet.node.officers import add_officer
from hanoinet.node.settings import DeskPolicy

HEADLINE = "EMERGENCY request FRA-2026-0003 from FRA/247: emergency disclosure (Art. 41)"


def configure(node: Node, **changes: Any) -> None:
    """Change the node's settings in place (as a restart with another hanoinet.toml would)."""
    node.settings = node.settings.model_copy(update=changes)


def policy_for(node: Node, desk: str = "247", **fields: Any) -> None:
    """Give ``desk`` an alerting policy."""
    configure(node, desk_policies={**node.settings.desk_policies, desk: DeskPolicy.model_validate(fields)})


def officer(node: Node, name: str, *, role: str = "duty_officer", desk: str = "247",
            email: str | None = "auto") -> tuple[int, str]:
    """Create an officer (e-mail derived from the name unless given); returns id and token."""
    address = f"{name.lower()}@police.example.org" if email == "auto" else email
    with node.db.transaction() as uow:
        row, token = add_officer(uow.session, name=name, role=role, desk=desk, desks=node.settings.desk_ids,
                                 email=address)
        return row.id, token


def on_duty(node: Node, officer_id: int, *, order: int = 1, desk: str = "247",
            start: timedelta = timedelta(hours=-1), end: timedelta = timedelta(hours=8)) -> int:
    """Put an officer on the rota around now; returns the entry id."""
    t = now()
    with node.db.transaction() as uow:
        entry = store.add_entry(node, uow.session, desk=desk, officer_id=officer_id, starts=format_instant(t + start),
                                ends=format_instant(t + end), order=order, actor="test")
        return entry.id


def page(node: Node, *, ref: str = "FRA-2026-0003", priority: str = "emergency", desk: str = "247") -> str:
    """Page ``desk`` about a new subject; returns the subject id."""
    subject_id = uuid7()
    with node.db.transaction() as uow:
        service.page(node, uow, subject_id=subject_id, subject_ref=ref, desk=desk, priority=priority,
                     headline=HEADLINE)
    return subject_id


def alerts(node: Node) -> list[Alert]:
    """Every alert row, oldest first."""
    with node.db.transaction(readonly=True) as uow:
        return list(uow.session.scalars(select(Alert).order_by(Alert.id)))


def pages(node: Node) -> list[Page]:
    """Every page row."""
    with node.db.transaction(readonly=True) as uow:
        return list(uow.session.scalars(select(Page).order_by(Page.id)))


def alarm_codes(node: Node) -> list[str]:
    """Codes of the alarms raised, oldest first."""
    with node.db.transaction(readonly=True) as uow:
        return list(uow.session.scalars(select(Alarm.code).order_by(Alarm.id)))


def alarm_desks(node: Node) -> list[str | None]:
    """The desk of each alarm raised, oldest first."""
    with node.db.transaction(readonly=True) as uow:
        return list(uow.session.scalars(select(Alarm.desk).order_by(Alarm.id)))


def timeline(node: Node, subject_id: str) -> list[dict[str, Any]]:
    """The subject's alert timeline."""
    with node.db.transaction(readonly=True) as uow:
        return service.timeline(uow.session, subject_id)


def later(seconds: float) -> datetime:
    """An instant ``seconds`` from now: the worker's functions take the time, so tests need not wait."""
    return now() + timedelta(seconds=seconds)


class MailSink:
    """aiosmtpd handler keeping every message received."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


@contextmanager
def smtp_server(port: int, **options: Any) -> Iterator[MailSink]:
    """A real SMTP server on 127.0.0.1:``port`` for the duration of the block."""
    sink = MailSink()
    controller = Controller(sink, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


class WebhookReceiver:
    """A pager gateway on loopback: answers the given statuses in turn (then 200) and keeps what it got."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        # A short poll interval: shutdown() waits for the serving loop to notice it.
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def documents(self) -> list[dict[str, Any]]:
        """The JSON bodies received."""
        return [json.loads(body) for _, body in self.received]
