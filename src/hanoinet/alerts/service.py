"""Pages and their escalation: the interface the request workflow calls when an urgent item arrives.

A page is written in the caller's transaction, with the rows of the alerts to send; the alert worker
(:mod:`hanoinet.alerts.worker`) sends them after the commit and raises the next level when nobody has
acknowledged in time. Nothing here does network I/O, so a slow mail relay never holds up a request.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hanoinet.alerts.notice import command
from hanoinet.alerts.rota import Contact
from hanoinet.alerts.store import chain_at, check_node_desk
from hanoinet.clock import format_instant, now
from hanoinet.db.database import UnitOfWork
from hanoinet.db.models import Alert, Officer, Page
from hanoinet.node import audit
from hanoinet.node.node import Node

log = structlog.get_logger("hanoinet.alerts")

#: Alerts the worker still has to send; ``failed`` ones are retried, never dropped.
DUE_STATUSES = ("pending", "failed")
WEBHOOK_NAME = "desk webhook"
EMAIL_DISABLED = "e-mail alerts are disabled on this node (smtp_host is not set)"
HEADLINE_MAX = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")

_listeners: weakref.WeakKeyDictionary[Node, list[Callable[[], None]]] = weakref.WeakKeyDictionary()


def on_alert_commit(node: Node, listener: Callable[[], None]) -> None:
    """Register a callback run after a transaction that wrote alerts commits (the worker's wake-up)."""
    _listeners.setdefault(node, []).append(listener)


def remove_alert_listener(node: Node, listener: Callable[[], None]) -> None:
    """Stop calling ``listener`` (a worker that stops)."""
    if listener in _listeners.get(node, []):
        _listeners[node].remove(listener)


def alerts_committed(node: Node) -> None:
    """Tell the alert workers of this process that alerts are waiting."""
    for listener in list(_listeners.get(node, [])):
        listener()


def page(node: Node, uow: UnitOfWork, *, subject_id: str, subject_ref: str, desk: str, priority: str,
         headline: str, supersede: bool = False) -> None:
    """An urgent item arrived for `desk`: alert the first officer of the chain now (e-mail to the officer and
    the desk webhook), escalate later if nobody acknowledges.

    Runs in the caller's transaction, so the page exists exactly when the item does. While a page of
    ``subject_id`` is open, another call changes nothing, unless ``supersede``: the open page is then closed
    as superseded and this one starts the chain again (for an item more pressing than the one paged before).
    Nobody reachable on duty: the supervisors are alerted at once and a ``no_one_on_duty`` alarm is raised.
    """
    check_node_desk(node, desk)
    target = node.settings.ack_target(desk, priority)  # refuses an unknown priority
    session = uow.session
    open_page = session.scalar(select(Page.id).where(Page.subject_id == subject_id, Page.resolved_at.is_(None)))
    if open_page is not None and supersede:
        resolve(uow, subject_id=subject_id, by=f"superseded: {_one_line(headline)}")
    elif open_page is not None:
        # Already being escalated (e.g. a follow-up on the same request): do not restart the chain.
        log.info("page already open", subject_ref=subject_ref, page_id=open_page)
        return
    at = now()
    row = Page(subject_id=subject_id, subject_ref=subject_ref[:40], desk=desk, priority=priority,
               headline=_one_line(headline), opened_at=at, ack_due_at=at + target, level=0, no_one_on_duty=False)
    session.add(row)
    session.flush()
    chain = chain_at(session, desk, at)
    if not chain.staffed:
        row.no_one_on_duty = True
        audit.alarm(session, code="no_one_on_duty",
                    message=f"nobody reachable is on duty at desk {desk} for {priority} {subject_ref}; "
                    f"{len(chain.supervisors)} supervisor(s) alerted instead: fill the rota (`hanoinet rota add`)",
                    detail={"desk": desk, "subject_ref": subject_ref}, desk=desk)
    _raise_level(node, session, row, chain.next_level(set()), at)
    uow.on_commit(lambda: alerts_committed(node))


def resolve(uow: UnitOfWork, *, subject_id: str, by: str) -> None:
    """Somebody acknowledged `subject_id`: stop escalating (no effect if there is no open page)."""
    at = now()
    session = uow.session
    pages = list(session.scalars(select(Page).where(Page.subject_id == subject_id, Page.resolved_at.is_(None))))
    for row in pages:
        row.resolved_at = at
        row.resolved_by = by[:200]
        row.next_escalation_at = None
    if pages:
        # Alerts not sent yet would wake someone for something already in hand.
        session.execute(
            update(Alert).where(Alert.page_id.in_([p.id for p in pages]), Alert.status.in_(DUE_STATUSES))
            .values(status="cancelled").execution_options(synchronize_session=False)
        )


def timeline(session: Session, subject_id: str) -> list[dict[str, Any]]:
    """Alert and escalation entries for a subject's timeline, oldest first.

    Each is ``{"at": RFC 3339 str, "what": "alert"|"escalation"|"alert_failed"|"no_one_on_duty"|
    "chain_exhausted", "level": int, "to": officer name or "desk webhook" (None for the page's own entries),
    "channel": "email"|"webhook"|None, "status": "pending"|"sent"|"failed"|"skipped"|"cancelled"|None,
    "error": str|None}``. Officers are named, never their addresses; the webhook URL is not shown either (it
    often carries the gateway's credential).
    """
    pages = list(session.scalars(select(Page).where(Page.subject_id == subject_id).order_by(Page.id)))
    if not pages:
        return []
    rows = session.execute(
        select(Alert, Officer.name).outerjoin(Officer, Officer.id == Alert.officer_id)
        .where(Alert.page_id.in_([p.id for p in pages])).order_by(Alert.id)
    ).all()
    entries: list[tuple[datetime, int, dict[str, Any]]] = []

    def add(at: datetime, what: str, level: int, *, to: str | None = None, channel: str | None = None,
            status: str | None = None, error: str | None = None) -> None:
        entries.append((at, len(entries), {"at": format_instant(at), "what": what, "level": level, "to": to,
                                           "channel": channel, "status": status, "error": error}))

    for p in pages:
        if p.no_one_on_duty:
            add(p.opened_at, "no_one_on_duty", 1)
    for alert, name in rows:
        to = WEBHOOK_NAME if alert.channel == "webhook" else name
        add(alert.created_at, "alert" if alert.level == 1 else "escalation", alert.level, to=to,
            channel=alert.channel, status=alert.status, error=alert.last_error)
        if alert.last_failed_at is not None:
            add(alert.last_failed_at, "alert_failed", alert.level, to=to, channel=alert.channel, status="failed",
                error=f"{alert.last_error} (attempt {alert.attempts})")
    for p in pages:
        if p.exhausted_at is not None:
            add(p.exhausted_at, "chain_exhausted", p.level)
    return [entry for _, _, entry in sorted(entries, key=lambda e: (e[0], e[1]))]


def escalate_due(node: Node, uow: UnitOfWork, at: datetime, *, limit: int = 100) -> int:
    """Raise the next level of every open page whose escalation is due at ``at``; returns how many.

    Pages are locked with SKIP LOCKED, so two workers on one PostgreSQL database never raise the same level.
    """
    session = uow.session
    due = list(session.scalars(
        select(Page).where(Page.resolved_at.is_(None), Page.next_escalation_at <= at)
        .order_by(Page.next_escalation_at, Page.id).limit(limit).with_for_update(skip_locked=True)
    ))
    for row in due:
        alerted = {i for i in session.scalars(select(Alert.officer_id).where(Alert.page_id == row.id)) if i is not None}
        _raise_level(node, session, row, chain_at(session, row.desk, at).next_level(alerted), at)
    if due:
        uow.on_commit(lambda: alerts_committed(node))
    return len(due)


def open_pages(session: Session, desks: set[str] | None) -> list[Page]:
    """Pages nobody has acknowledged yet, oldest first; only those of ``desks`` unless it is ``None``."""
    query = select(Page).where(Page.resolved_at.is_(None)).order_by(Page.opened_at, Page.id)
    if desks is not None:
        query = query.where(Page.desk.in_(desks))
    return list(session.scalars(query))


def _raise_level(node: Node, session: Session, row: Page, contacts: tuple[Contact, ...], at: datetime) -> None:
    """Alert ``contacts`` and the desk's webhook as the page's next level; close the chain if nobody is left."""
    policy = node.settings.desk_policy(row.desk)
    first = row.level == 0
    # The webhook is posted at every level, but on its own it opens only the first: a gateway that pages
    # people itself must hear of the page even when nobody here can be e-mailed.
    if not contacts and not (first and policy.webhook_url):
        row.exhausted_at = at
        row.next_escalation_at = None
        if first:
            message = (f"nobody can be alerted for {row.priority} {row.subject_ref} at desk {row.desk}: no officer "
                       "on duty or supervisor with an e-mail address, and no desk webhook")
            hint = "fill the rota, give officers e-mail addresses, or set the desk's webhook_url"
        else:
            message = (f"nobody acknowledged {row.priority} {row.subject_ref} at desk {row.desk} after "
                       f"{row.level} alert level(s); the page stays open")
            hint = f"acknowledge it: {command(row.subject_id, row.subject_ref)}"
        audit.alarm(session, code="no_one_to_alert" if first else "page_unacknowledged", severity="critical",
                    message=f"{message} ({hint})", detail={"page_id": row.id, "subject_ref": row.subject_ref},
                    desk=row.desk)
        return
    row.level += 1
    email = bool(node.settings.smtp_host)
    for c in contacts:
        assert c.email is not None  # the chain holds reachable contacts only
        session.add(Alert(page_id=row.id, level=row.level, channel="email", target=c.email, officer_id=c.officer_id,
                          created_at=at, status="pending" if email else "skipped", attempts=0, next_attempt_at=at,
                          last_error=None if email else EMAIL_DISABLED))
    if policy.webhook_url:
        session.add(Alert(page_id=row.id, level=row.level, channel="webhook", target=policy.webhook_url,
                          created_at=at, status="pending", attempts=0, next_attempt_at=at))
    if contacts and not email:
        audit.alarm(session, code="email_disabled", severity="warning",
                    message=f"{len(contacts)} officer(s) could not be e-mailed about {row.subject_ref} (level "
                    f"{row.level}): {EMAIL_DISABLED}; set smtp_host and smtp_from (docs/alerts.md)",
                    detail={"page_id": row.id, "officers": [c.officer_id for c in contacts]})
    row.next_escalation_at = at + node.settings.escalation_step(row.desk, row.priority)
    log.info("page level raised", subject_ref=row.subject_ref, desk=row.desk, level=row.level,
             officers=[c.officer_id for c in contacts])


def _one_line(headline: str) -> str:
    """The headline as one line of bounded length: it becomes an e-mail Subject header."""
    text = " ".join(_CONTROL.sub(" ", headline).split())
    return text if len(text) <= HEADLINE_MAX else text[:HEADLINE_MAX - 1] + "…"
