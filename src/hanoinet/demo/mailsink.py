"""A local SMTP server that keeps what it receives: the demo's stand-in for the duty officers' mailboxes."""

from __future__ import annotations

import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from hanoinet.demo.network import free_port


class MailSink:
    """aiosmtpd on 127.0.0.1; ``messages`` holds every e-mail received, in order."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd hook
        """Keep the message (aiosmtpd calls this for every e-mail)."""
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        with self._lock:
            self.messages.append(parsed)
        return "250 OK"

    def start(self) -> None:
        """Start listening."""
        self._controller.start()

    def stop(self) -> None:
        """Stop listening."""
        self._controller.stop()

    def to(self, address: str) -> list[EmailMessage]:
        """Messages addressed to ``address``."""
        with self._lock:
            return [m for m in self.messages if address in str(m["To"])]
