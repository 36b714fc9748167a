"""The delivery worker: claims due outbox rows, sends them, stores the signed receipts.

At-least-once: a row stays ``pending`` until a valid receipt is stored, and every attempt sends the bytes
built at send time. Rows are claimed with a lease (``claimed_until``) under ``SELECT ... FOR UPDATE SKIP
LOCKED`` so several node processes on one PostgreSQL database never send the same message at the same
time; on SQLite one worker runs. A worker that dies leaves its claims to expire and be taken again.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import httpx
import structlog
from sqlalchemy import or_, select, update

from hanoinet.clock import now
from hanoinet.db.database import UnitOfWork
from hanoinet.db.models import OutboxMessage
from hanoinet.errors import HanoinetError
from hanoinet.network.receipt import Receipt, verify_receipt
from hanoinet.network.transport import PeerAnswer
from hanoinet.node import audit
from hanoinet.node.node import Node
from hanoinet.states import split_address

log = structlog.get_logger("hanoinet.delivery")

#: How long a claim protects a row from other workers; longer than any single HTTP attempt.
LEASE = timedelta(seconds=60)
BACKOFF_BASE_SECONDS = 0.5
#: Refusals that can clear up by themselves (the peer's directory or clock catches up, load drops).
RETRYABLE_CODES = frozenset({
    "no_directory", "directory_expired", "unknown_state", "unknown_key", "key_not_valid", "from_future",
    "unknown_recipient_key", "rate_limited", "out_of_order",
})

#: What a capability does when an envelope of its kind is settled, in the transaction recording it: with the
#: verified receipt once delivered, or with ``None`` and the error once refused or undeliverable.
Settled = Callable[[Node, UnitOfWork, str, Receipt | None, str | None], None]

_SETTLED: dict[str, Settled] = {}


def on_settled(kind: str, hook: Settled) -> None:
    """Have ``hook`` called when a message of ``kind`` is delivered, refused or given up (once, at import)."""
    if _SETTLED.get(kind, hook) is not hook:
        raise ValueError(f"a settlement hook for {kind!r} is already registered")
    _SETTLED[kind] = hook


class Transport(Protocol):
    """What the worker needs from a transport."""

    async def post_envelope(self, endpoint: str, jwe: bytes) -> PeerAnswer: ...


@dataclass(frozen=True, slots=True)
class Claim:
    """A claimed outbox row: what is needed to send it and check the receipt."""

    id: int
    message_id: str
    kind: str
    recipient: str
    jwe: bytes
    jws_sha256: str
    jwe_sha256: str
    created_at: datetime
    attempts: int
    sender: str


def backoff(attempts: int, cap_seconds: int) -> timedelta:
    """Exponential backoff with full jitter in [50%, 100%] of min(cap, base * 2**attempts)."""
    ceiling = min(float(cap_seconds), BACKOFF_BASE_SECONDS * 2 ** min(attempts, 30))
    return timedelta(seconds=ceiling * random.uniform(0.5, 1.0))  # noqa: S311 - jitter, not secrecy


class DeliveryWorker:
    """Sends the outbox of one node; run one per process (several processes only on PostgreSQL)."""

    def __init__(self, node: Node, transport: Transport, *, worker_id: str) -> None:
        self.node = node
        self.transport = transport
        self.worker_id = worker_id
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots = asyncio.Semaphore(node.settings.delivery_concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._outcomes: asyncio.Queue[tuple[Claim, PeerAnswer]] = asyncio.Queue()

    def wake(self) -> None:
        """Called from any thread after an outbox commit."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set."""
        self._loop = asyncio.get_running_loop()
        self.node.on_outbox_commit(self.wake)
        settler = asyncio.create_task(self._settle_loop())
        while not stop.is_set():
            self._wake.clear()
            free = self.node.settings.delivery_concurrency - len(self._tasks)
            claims = await asyncio.to_thread(self.claim, free) if free > 0 else []
            for claim in claims:
                task = asyncio.create_task(self._deliver(claim))
                self._tasks.add(task)
                task.add_done_callback(self._finished)
            if claims and len(claims) == free:
                await asyncio.sleep(0)
                continue
            waiter = asyncio.ensure_future(self._wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiter, stopper}, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            stopper.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=10)
        settler.cancel()
        remaining = []
        while not self._outcomes.empty():
            remaining.append(self._outcomes.get_nowait())
        if remaining:
            await asyncio.to_thread(self.settle, remaining)

    def _finished(self, task: asyncio.Task[None]) -> None:
        full = len(self._tasks) >= self.node.settings.delivery_concurrency
        self._tasks.discard(task)
        if full:  # rows may be waiting for a free slot; otherwise the next commit or poll wakes us
            self._wake.set()

    def claim(self, limit: int) -> list[Claim]:
        """Claim up to ``limit`` due rows for this worker (one short transaction).

        Plain column queries and a Core UPDATE: this runs for every message, and loading ORM objects only to
        set two columns tripled its cost.
        """
        t = now()
        o = OutboxMessage
        with self.node.db.transaction() as uow:
            rows = uow.session.execute(
                select(o.id, o.message_id, o.kind, o.recipient, o.jwe, o.jws_sha256, o.jwe_sha256, o.created_at,
                       o.attempts, o.sender)
                .where(o.status == "pending", o.next_attempt_at <= t,
                       or_(o.claimed_until.is_(None), o.claimed_until < t))
                .order_by(o.next_attempt_at, o.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            if rows:
                uow.session.execute(
                    update(o).where(o.id.in_([r.id for r in rows]))
                    .values(claimed_by=self.worker_id, claimed_until=t + LEASE)
                    .execution_options(synchronize_session=False)
                )
            return [Claim(**row._asdict()) for row in rows]

    async def _deliver(self, claim: Claim) -> None:
        async with self._slots:
            state, _ = split_address(claim.recipient)
            try:
                directory = self.node.require_directory()
                endpoint = directory.member(state).endpoint
                answer = await self.transport.post_envelope(endpoint, claim.jwe)
            except HanoinetError as exc:
                answer = PeerAnswer(status=0, code=exc.code, detail=exc.message)
            except httpx.HTTPError as exc:
                answer = PeerAnswer(status=0, code="unreachable", detail=f"{type(exc).__name__}: {exc}")
            except Exception as exc:  # any failure is a failed attempt, never a lost claim
                log.exception("delivery attempt failed unexpectedly", message_id=claim.message_id)
                answer = PeerAnswer(status=0, code="internal", detail=f"{type(exc).__name__}: {exc}")
            self._outcomes.put_nowait((claim, answer))

    async def _settle_loop(self) -> None:
        # Outcomes that arrive together are written in one transaction: one commit (one fsync) for many
        # receipts instead of one each.
        while True:
            batch = [await self._outcomes.get()]
            while not self._outcomes.empty():
                batch.append(self._outcomes.get_nowait())
            try:
                await asyncio.to_thread(self.settle, batch)
            except Exception:  # the loop must survive: the leases expire and the rows are retried
                log.exception("could not record delivery outcomes; the messages will be sent again",
                              message_ids=[claim.message_id for claim, _ in batch])

    def settle(self, outcomes: list[tuple[Claim, PeerAnswer]]) -> None:
        """Record the outcomes of attempts: receipt stored, retry scheduled, or refusal surfaced."""
        updates = [self._decide(claim, answer) for claim, answer in outcomes]
        with self.node.db.transaction() as uow:
            for claim, values, alarm, receipt in updates:
                result = uow.session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == claim.id, OutboxMessage.claimed_by == self.worker_id)
                    .values(claimed_by=None, claimed_until=None, **values)
                    .execution_options(synchronize_session=False)
                )
                if result.rowcount == 0:  # type: ignore[attr-defined]
                    log.warning("claim lost before settling", message_id=claim.message_id)
                    continue
                if alarm is not None:
                    audit.alarm(uow.session, code=f"message_{values['status']}", message=alarm,
                                detail={"message_id": claim.message_id}, desk=split_address(claim.sender)[1])
                hook = _SETTLED.get(claim.kind)
                if hook is not None and values.get("status") in ("delivered", "refused", "undeliverable"):
                    hook(self.node, uow, claim.message_id, receipt, None if receipt else str(values["last_error"]))

    def _decide(
        self, claim: Claim, answer: PeerAnswer
    ) -> tuple[Claim, dict[str, object], str | None, Receipt | None]:
        t = now()
        state, _ = split_address(claim.recipient)
        attempts = claim.attempts + 1
        if answer.status == 200 and answer.receipt is not None:
            try:
                receipt = verify_receipt(answer.receipt, directory=self.node.require_directory(), receiver=state,
                               message_id=claim.message_id, jws_sha256=claim.jws_sha256,
                               jwe_sha256=claim.jwe_sha256)
            except HanoinetError as exc:
                answer = PeerAnswer(status=0, code=exc.code, detail=exc.message)
            else:
                self.node.metrics.deliveries.labels("delivered").inc()
                self.node.metrics.delivery_latency.observe((t - claim.created_at).total_seconds())
                return claim, {"status": "delivered", "delivered_at": t, "receipt": answer.receipt,
                               "attempts": attempts, "last_error": None, "last_error_code": None}, None, receipt
        code = answer.code or f"http_{answer.status}"
        error = f"{code}: {answer.detail}".strip()
        permanent = 400 <= answer.status < 500 and answer.status not in (408, 429) and code not in RETRYABLE_CODES
        overdue = t - claim.created_at >= timedelta(seconds=self.node.settings.undeliverable_after_seconds)
        if permanent or overdue:
            status = "refused" if permanent else "undeliverable"
            self.node.metrics.deliveries.labels(status).inc()
            return claim, {"status": status, "attempts": attempts, "last_error": error, "last_error_code": code}, \
                f"message {claim.message_id} to {claim.recipient} is {status}: {error}", None
        self.node.metrics.deliveries.labels("retry").inc()
        delay = backoff(claim.attempts, self.node.settings.delivery_backoff_max_seconds)
        log.info("delivery failed, will retry", message_id=claim.message_id, error=error, retry_in=str(delay))
        return claim, {"attempts": attempts, "next_attempt_at": t + delay, "last_error": error,
                       "last_error_code": code}, None, None
