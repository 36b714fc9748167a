"""What an alert says: the e-mail and the webhook body. Pure functions, no I/O.

E-mail is not end-to-end protected: it crosses mail relays, and often a provider, in clear. An alert therefore
carries only the headline, the acknowledgement deadline and the command to run, never the request's facts
or personal data (Art. 36 of the Convention protects what a State sends us); the officer reads those on the
node, where every view is logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from hanoinet.clock import format_instant, show_instant, time_zone

SIGNATURE_HEADER = "X-Hanoinet-Signature"
#: Subject ids of the pages raised for a platform's missed takedown deadline (docs/takedown.md).
TAKEDOWN_PREFIX = "takedown-report-"


@dataclass(frozen=True, slots=True)
class Notice:
    """The facts an alert may reveal: what to look at, how urgent, by when; nothing of its content."""

    node: str
    subject_id: str
    subject_ref: str
    desk: str
    priority: str
    headline: str
    level: int
    ack_due_at: datetime
    timezone: str

    def deadline_text(self) -> str:
        """``2026-11-25 04:00 CET (+01:00) · 2026-11-25 03:00 UTC``: the desk's wall clock, then UTC."""
        return show_instant(self.ack_due_at, time_zone(self.timezone))


def command(subject_id: str, subject_ref: str) -> str:
    """The command that shows what a page is about: a request, or a platform's missed takedown deadline."""
    if subject_id.startswith(TAKEDOWN_PREFIX):
        return "hanoinet takedown overdue"
    # Reading a request needs a reason (docs/privacy.md): the page is the reason, and says so in the log.
    return f"hanoinet request show {subject_ref} --reason 'duty alert'"


def email_subject(notice: Notice) -> str:
    """``[EMERGENCY] <headline>``, marked as an escalation from level 2 on."""
    subject = f"[{notice.priority.upper()}] {notice.headline}"
    return subject if notice.level == 1 else f"{subject} (escalation, level {notice.level})"


def email_body(notice: Notice) -> str:
    """The plain-text body: headline, deadline in the desk's time zone and UTC, and the command to run."""
    escalation = "" if notice.level == 1 else (
        f"\nThis is escalation level {notice.level}: nobody has acknowledged it yet.\n")
    return (
        f"{notice.headline}\n"
        f"{escalation}\n"
        f"Desk:            {notice.node}/{notice.desk}\n"
        f"Priority:        {notice.priority}\n"
        f"Acknowledge by:  {notice.deadline_text()}\n\n"
        "Read and acknowledge it on the node:\n\n"
        f"    {command(notice.subject_id, notice.subject_ref)}\n\n"
        "This e-mail deliberately holds no facts of the request and no personal data: e-mail is not\n"
        "end-to-end protected. Everything else is on the node.\n"
    )


def email_message(notice: Notice, *, sender: str, recipient: str, at: datetime) -> EmailMessage:
    """The alert e-mail to ``recipient``."""
    message = EmailMessage()
    message["Subject"] = email_subject(notice)
    message["From"] = sender
    message["To"] = recipient
    message["Date"] = format_datetime(at.astimezone(UTC))
    # Without a domain make_msgid asks DNS for this host's name, which can stall on a badly configured host.
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "hanoinet.invalid")
    # RFC 3834: no out-of-office replies to a machine's alert.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(email_body(notice))
    return message


def webhook_body(notice: Notice, *, alert_id: int, at: datetime) -> bytes:
    """The JSON POSTed to the desk's webhook (docs/alerts.md, "Webhook")."""
    document = {
        "alert_id": alert_id,
        "node": notice.node,
        "subject_id": notice.subject_id,
        "subject_ref": notice.subject_ref,
        "desk": notice.desk,
        "priority": notice.priority,
        "headline": notice.headline,
        "level": notice.level,
        "deadline": format_instant(notice.ack_due_at),
        "deadline_local": notice.deadline_text(),
        "command": command(notice.subject_id, notice.subject_ref),
        "sent_at": format_instant(at),
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def signature(secret: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of the exact body bytes under the desk's webhook secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
