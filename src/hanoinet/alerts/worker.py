"""The alert worker: raises due escalation levels, sends due alerts (e-mail, webhook), records the outcomes.

The same shape as the delivery worker (:mod:`hanoinet.network.delivery`): alert rows are claimed with a lease
under ``SELECT ... FOR UPDATE SKIP LOCKED``, so several node processes on one PostgreSQL database never send
the same alert at the same time, and a worker that dies leaves its claims to expire and be taken again. A
failed attempt is retried with exponential backoff and jitter, never dropped; after
:data:`ALARM_AFTER_ATTEMPTS` failures an alarm tells the operator.
"""

from __future__ import annotations

import asyncio
import re
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Protocol

import httpx
import structlog
from sqlalchemy import or_, select, update

from hanoinet.alerts.notice import SIGNATURE_HEADER, Notice, email_message, signature, webhook_body
from hanoinet.alerts.service import (
    DUE_STATUSES,
    EMAIL_DISABLED,
    escalate_due,
    on_alert_commit,
    remove_alert_listener,
)
from hanoinet.clock import now
from hanoinet.db.models import Alert, Page
from hanoinet.network.delivery import backoff
from hanoinet.node import audit
from hanoinet.node.node import Node
from hanoinet.node.settings import NodeSettings

log = structlog.get_logger("hanoinet.alerts")

#: The webhook must answer within this; a pager gateway that takes longer is treated as down and retried.
WEBHOOK_TIMEOUT_SECONDS = 10.0
#: Failed attempts of one alert before an alarm is raised (once); the alert is still retried afterwards.
ALARM_AFTER_ATTEMPTS = 3
#: How often escalations are checked and due alerts looked for when no commit wakes the worker.
POLL_SECONDS = 1.0
BATCH = 50
_ERROR_MAX = 500


class Mailer(Protocol):
    """What the worker needs to send an e-mail (blocking; run in a thread)."""

    def send(self, message: EmailMessage) -> None: ...


class SmtpMailer:
    """Sends through the node's SMTP relay: STARTTLS and login when configured."""

    def __init__(self, settings: NodeSettings) -> None:
        self.settings = settings

    def send(self, message: EmailMessage) -> None:
        """Send ``message``; any failure raises (``smtplib.SMTPException`` or ``OSError``)."""
        s = self.settings
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds) as smtp:
            if s.smtp_starttls:
                smtp.starttls(context=tls_context(s))
            if s.smtp_username:
                password = s.smtp_password.get_secret_value() if s.smtp_password is not None else ""
                smtp.login(s.smtp_username, password)
            smtp.send_message(message)


def tls_context(settings: NodeSettings) -> ssl.SSLContext:
    """Certificates checked against the system CAs plus ``tls_ca_file`` when set (e.g. a national PKI).

    Both: a State's relay may use its own PKI while a pager gateway is a public service.
    """
    context = ssl.create_default_context()
    if settings.tls_ca_file is not None:
        context.load_verify_locations(cafile=str(settings.tls_ca_file))
    return context


@dataclass(frozen=True, slots=True)
class AlertClaim:
    """A claimed alert row with what its message says."""

    id: int
    channel: str
    target: str
    attempts: int
    notice: Notice


class AlertWorker:
    """Sends the alerts of one node and escalates its pages; one per process (several only on PostgreSQL)."""

    def __init__(self, node: Node, *, worker_id: str, mailer: Mailer | None = None,
                 http: httpx.AsyncClient | None = None) -> None:
        self.node = node
        self.worker_id = worker_id
        self.mailer = mailer or SmtpMailer(node.settings)
        self._own_http = http is None
        self.http = http or httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT_SECONDS, verify=tls_context(node.settings))
        # Longer than any single attempt: an SMTP session is a handful of exchanges, each bounded by the timeout.
        self.lease = timedelta(seconds=max(300.0, 6 * node.settings.smtp_timeout_seconds + WEBHOOK_TIMEOUT_SECONDS))
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inflight: set[asyncio.Task[None]] = set()

    def wake(self) -> None:
        """Called from any thread after a commit that wrote alerts."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self, stop: asyncio.Event) -> None:
        """Escalate and send until ``stop`` is set."""
        self._loop = asyncio.get_running_loop()
        on_alert_commit(self.node, self.wake)
        try:
            while not stop.is_set():
                self._wake.clear()
                try:
                    await self.tick(wait=False)
                except Exception:  # the loop must survive a database hiccup; the next round retries
                    log.exception("alert round failed; retrying in a moment")
                waiter = asyncio.ensure_future(self._wake.wait())
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait({waiter, stopper}, timeout=POLL_SECONDS, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                stopper.cancel()
            if self._inflight:
                await asyncio.wait(self._inflight, timeout=WEBHOOK_TIMEOUT_SECONDS)
        finally:
            remove_alert_listener(self.node, self.wake)
            if self._own_http:
                await self.http.aclose()

    async def tick(self, at: datetime | None = None, *, wait: bool = True) -> int:
        """One round: raise the escalation levels due at ``at`` (default now), then send the alerts due.

        With ``wait`` the round ends when every attempt is recorded; otherwise sends go on in the background
        (their leases keep the next rounds from claiming them again). Returns the number of alerts claimed.
        """
        t = at or now()
        await asyncio.to_thread(self.escalate, t)
        claims = await asyncio.to_thread(self.claim, BATCH, t)
        tasks = [asyncio.create_task(self._attempt(claim, at)) for claim in claims]
        for task in tasks:
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
        if wait and tasks:
            await asyncio.gather(*tasks)
        return len(claims)

    def escalate(self, at: datetime) -> int:
        """Raise the next level of every page due at ``at`` (one transaction)."""
        with self.node.db.transaction() as uow:
            return escalate_due(self.node, uow, at)

    def claim(self, limit: int, at: datetime) -> list[AlertClaim]:
        """Claim up to ``limit`` alerts due at ``at`` whose page is still open."""
        a = Alert
        with self.node.db.transaction() as uow:
            rows = uow.session.execute(
                select(a.id, a.channel, a.target, a.attempts, a.level, Page)
                .join(Page, Page.id == a.page_id)
                .where(a.status.in_(DUE_STATUSES), a.next_attempt_at <= at, Page.resolved_at.is_(None),
                       or_(a.claimed_until.is_(None), a.claimed_until < at))
                .order_by(a.next_attempt_at, a.id).limit(limit)
                .with_for_update(skip_locked=True, of=a)
            ).all()
            if rows:
                uow.session.execute(
                    update(a).where(a.id.in_([r.id for r in rows]))
                    .values(claimed_by=self.worker_id, claimed_until=at + self.lease)
                    .execution_options(synchronize_session=False)
                )
            return [
                AlertClaim(id=r.id, channel=r.channel, target=r.target, attempts=r.attempts, notice=Notice(
                    node=self.node.state, subject_id=r.Page.subject_id, subject_ref=r.Page.subject_ref,
                    desk=r.Page.desk, priority=r.Page.priority, headline=r.Page.headline, level=r.level,
                    ack_due_at=r.Page.ack_due_at, timezone=self.node.settings.desk_policy(r.Page.desk).timezone,
                ))
                for r in rows
            ]

    async def send(self, claim: AlertClaim) -> str | None:
        """Send one alert; returns ``None`` on success, else what went wrong."""
        try:
            if claim.channel == "email":
                settings = self.node.settings
                if not settings.smtp_host:
                    return EMAIL_DISABLED
                message = email_message(claim.notice, sender=settings.smtp_from, recipient=claim.target, at=now())
                await asyncio.to_thread(self.mailer.send, message)
                return None
            return await self._post(claim)
        except smtplib.SMTPResponseException as exc:
            # The server's text may quote the recipient's address; the timeline and alarms never show one.
            return f"{type(exc).__name__}: SMTP {exc.smtp_code}"
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            return f"{type(exc).__name__}: SMTP {', '.join(str(c) for c in codes)}"
        except (smtplib.SMTPException, OSError, httpx.HTTPError) as exc:
            return _without_addresses(f"{type(exc).__name__}: {exc}")[:_ERROR_MAX]
        except Exception as exc:  # any failure is a failed attempt, never a lost alert
            log.exception("alert attempt failed unexpectedly", alert_id=claim.id)
            return _without_addresses(f"{type(exc).__name__}: {exc}")[:_ERROR_MAX]

    async def _post(self, claim: AlertClaim) -> str | None:
        policy = self.node.settings.desk_policy(claim.notice.desk)
        # The URL configured now: an operator who corrects a wrong URL fixes the alerts still being retried.
        url = policy.webhook_url or claim.target
        body = webhook_body(claim.notice, alert_id=claim.id, at=now())
        headers = {"content-type": "application/json"}
        if policy.webhook_secret is not None:
            headers[SIGNATURE_HEADER] = signature(policy.webhook_secret.get_secret_value(), body)
        response = await self.http.post(url, content=body, headers=headers)
        if 200 <= response.status_code < 300:
            return None
        return _without_addresses(f"the webhook answered HTTP {response.status_code}: {response.text[:200]}")

    async def _attempt(self, claim: AlertClaim, at: datetime | None) -> None:
        error = await self.send(claim)
        try:
            await asyncio.to_thread(self.settle, claim, error, at)
        except Exception:  # the lease expires and the alert is sent again: at-least-once
            log.exception("could not record an alert attempt; it will be retried", alert_id=claim.id)

    def settle(self, claim: AlertClaim, error: str | None, at: datetime | None = None) -> None:
        """Record an attempt: sent, or failed with the next try scheduled (and an alarm at the third failure)."""
        t = at or now()
        with self.node.db.transaction() as uow:
            row = uow.session.get(Alert, claim.id)
            if row is None or row.claimed_by != self.worker_id:
                log.warning("alert claim lost before settling", alert_id=claim.id)
                return
            row.claimed_by = None
            row.claimed_until = None
            row.attempts += 1
            if error is None:
                row.status = "sent"
                row.sent_at = t
                log.info("alert sent", alert_id=row.id, channel=row.channel, level=row.level)
                return
            row.last_error = error
            row.last_failed_at = t
            if row.status in DUE_STATUSES:  # not if the page was acknowledged meanwhile (cancelled)
                row.status = "failed"
                row.next_attempt_at = t + backoff(row.attempts - 1, self.node.settings.alert_backoff_max_seconds)
            log.warning("alert failed, will retry", alert_id=row.id, channel=row.channel, error=error)
            if row.attempts == ALARM_AFTER_ATTEMPTS:
                what = "e-mail to an officer" if row.channel == "email" else "the desk webhook"
                audit.alarm(uow.session, code="alert_failing",
                            message=f"{claim.notice.priority} alert for {claim.notice.subject_ref} by {what} failed "
                            f"{row.attempts} times (last: {error}); still retrying: check the SMTP relay or the "
                            "webhook gateway",
                            detail={"alert_id": row.id, "subject_ref": claim.notice.subject_ref,
                                    "channel": row.channel})


def _without_addresses(text: str) -> str:
    """``text`` with anything shaped like an e-mail address masked."""
    return re.sub(r"[^\s'\"<>,;:]+@[^\s'\"<>,;:]+", "<address>", text)
