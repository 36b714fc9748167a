"""The bank between nodes: each origin State sends its own changes to every other member, as signed envelopes.

A node keeps, per peer, how far into its change log it has sent its own additions and withdrawals
(:class:`HashBankPeer`); a publisher turns what is left into ``hashbank.changes`` envelopes of at most
:data:`MAX_CHANGES` changes, queued in the outbox in the same transaction that moves the cursor, so nothing is
sent twice or skipped. A member that joins later starts at zero and receives the origin's whole bank, without
the entries withdrawn before it joined. Receivers apply changes in any order (docs/hashbank.md, "Between
nodes").

Queued is not delivered: an envelope a member refused, or could not be given before the outbox gave up on it
(the member was down for days), would leave that member without those changes, a withdrawal among them. So
when such an envelope is found, the member's cursor goes back to zero and the whole of this node's part of the
bank is queued again (receivers ignore what they already hold), at most once every :data:`RESEND_AFTER`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import datetime, timedelta
from typing import Annotated, Literal

import structlog
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hanoinet.clock import Instant, format_instant, now
from hanoinet.db.database import UnitOfWork
from hanoinet.db.models import HashBankPeer, HashChange, HashEntry, OutboxMessage
from hanoinet.hashbank import bank, kinds
from hanoinet.network import inbox, outbox
from hanoinet.network import kinds as message_kinds
from hanoinet.network.envelope import EnvelopePayload
from hanoinet.node import audit
from hanoinet.node.node import Node
from hanoinet.states import split_address

KIND = "hashbank.changes"
#: The desk that sends and receives the bank's envelopes on every node: the 24/7 point of contact, which
#: every node has.
BANK_DESK = "247"
#: Changes per envelope: about 250 bytes each, well within the envelope size limit.
MAX_CHANGES = 500
#: The shortest time between two resends of the whole bank to one member (a member that keeps refusing, e.g.
#: one running an older release, gets it again once an hour, not in a loop).
RESEND_AFTER = timedelta(hours=1)
#: How often the publisher looks for refused or undeliverable envelopes even when nothing else changed.
CHECK_EVERY = 60.0
#: Envelopes of changes waiting for delivery to one member at most: a member that joins a large bank, or
#: comes back after an outage, is sent the rest as these are delivered, not thousands of envelopes at once.
IN_FLIGHT = 4

log = structlog.get_logger("hanoinet.hashbank")

_UUID7 = r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"


class _Change(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    id: str = Field(pattern=_UUID7, description="the entry's id, chosen by the origin")
    kind: str = Field(min_length=1, max_length=16)

    @model_validator(mode="after")
    def _known_kind(self) -> _Change:
        kinds.get(self.kind)
        return self


class AddedEntry(_Change):
    """An entry the origin added."""

    op: Literal["add"]
    hash: str = Field(description="lower-case hexadecimal")
    quality: int
    category: Literal["art14", "art16"]
    submitted_at: Instant

    @model_validator(mode="after")
    def _valid_hash(self) -> AddedEntry:
        kind = kinds.get(self.kind)
        if kind.format(kind.parse(self.hash)) != self.hash:
            raise ValueError("hash must be written in lower-case hexadecimal")
        kind.require_quality(self.quality)
        return self


class WithdrawnEntry(_Change):
    """An entry the origin withdrew: it must never match again."""

    op: Literal["withdraw"]
    withdrawn_at: Instant


class ChangesBody(BaseModel):
    """Body of a ``hashbank.changes`` envelope: some of the sender's own changes, oldest first."""

    model_config = ConfigDict(extra="forbid", strict=True)

    changes: list[Annotated[AddedEntry | WithdrawnEntry, Field(discriminator="op")]] = Field(
        min_length=1, max_length=MAX_CHANGES)


CHANGES = message_kinds.register(message_kinds.MessageKind(
    KIND, ChangesBody, "additions to and withdrawals from the sender's part of the hash bank (Art. 14, 16, 34)",
    direct=False, withheld=True,
))


def _on_changes(node: Node, uow: UnitOfWork, payload: EnvelopePayload, received_at: datetime) -> None:
    origin, _ = split_address(payload.sender)
    added, withdrawn = bank.apply_received(uow.session, origin, payload.body["changes"])
    audit.record(uow.session, actor=f"peer:{origin}", action="hashbank.receive", target=payload.id,
                 detail={"added": added, "withdrawn": withdrawn})


inbox.on_receive(KIND, _on_changes)


# -- sending ----------------------------------------------------------------------------------------------


def publish(node: Node) -> int:
    """Queue envelopes carrying this node's changes that some member has not been sent, at most ``IN_FLIGHT``
    waiting for delivery per member; returns how many."""
    directory = node.directory
    if directory is None or directory.expired(now()):
        return 0
    queued = 0
    for member in directory.members():
        if member.state == node.state:
            continue
        while _publish_batch(node, member.state):
            queued += 1
    return queued


def _publish_batch(node: Node, peer: str) -> bool:
    """Send the next batch of our changes to ``peer``; False once nothing is left to send."""
    try:
        with node.db.transaction() as uow:
            session = uow.session
            cursor = session.scalars(select(HashBankPeer).where(HashBankPeer.state == peer).with_for_update()
                                     ).one_or_none()
            if cursor is None:
                cursor = HashBankPeer(state=peer, sent_seq=0, updated_at=now())
                session.add(cursor)
                session.flush()
            _resend_if_lost(session, peer, cursor)
            if _waiting(session, peer) >= IN_FLIGHT:
                return False  # the rest follows as these are delivered (the publisher watches the count)
            rows = session.execute(
                select(HashChange.seq, HashChange.op, HashEntry)
                .join(HashEntry, HashEntry.id == HashChange.entry_row)
                .where(HashChange.seq > cursor.sent_seq, HashEntry.origin == node.state)
                .order_by(HashChange.seq).limit(MAX_CHANGES)).all()
            if not rows:
                return False
            changes = [_wire(op, entry) for _, op, entry in rows
                       # An addition withdrawn since need not travel: its withdrawal, later in the log, does.
                       if not (op == "add" and entry.status == "withdrawn")]
            if changes:
                outbox.enqueue(node, uow, sender_desk=BANK_DESK, recipient=f"{peer}/{BANK_DESK}", kind=KIND,
                               body={"changes": changes})
            cursor.sent_seq, cursor.updated_at = rows[-1][0], now()
            return True
    except IntegrityError:
        return True  # another process created the cursor first; take the next batch with its row


def _waiting(session: Session, peer: str | None = None) -> int:
    """Envelopes of changes not yet delivered (to ``peer``, or to anyone)."""
    query = select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.status == "pending", OutboxMessage.kind == KIND)
    if peer is not None:
        query = query.where(OutboxMessage.recipient == f"{peer}/{BANK_DESK}")
    return session.scalar(query) or 0


def _resend_if_lost(session: Session, peer: str, cursor: HashBankPeer) -> None:
    """Queue everything again for ``peer`` if an envelope to it was refused or given up since the last resend."""
    failed = session.scalar(select(func.max(OutboxMessage.created_at)).where(
        OutboxMessage.kind == KIND, OutboxMessage.recipient == f"{peer}/{BANK_DESK}",
        OutboxMessage.status.in_(("refused", "undeliverable"))))
    at = now()
    if failed is None or cursor.sent_seq == 0:
        return
    if cursor.resent_at is not None and (failed <= cursor.resent_at or at - cursor.resent_at < RESEND_AFTER):
        return
    cursor.sent_seq, cursor.resent_at = 0, at
    audit.record(session, actor="system", action="hashbank.resend", target=peer,
                 detail={"failed_envelope_created_at": format_instant(failed)})


def _wire(op: str, entry: HashEntry) -> dict[str, object]:
    if op == "add":
        assert entry.hash is not None and entry.submitted_at is not None
        return {"op": "add", "id": entry.entry_id, "kind": entry.kind, "hash": entry.hash,
                "quality": entry.quality, "category": entry.category,
                "submitted_at": format_instant(entry.submitted_at)}
    assert entry.withdrawn_at is not None
    return {"op": "withdraw", "id": entry.entry_id, "kind": entry.kind,
            "withdrawn_at": format_instant(entry.withdrawn_at)}


async def run_publisher(node: Node, stop: asyncio.Event, *, interval: float = 0.5) -> None:
    """Publish whenever the change log or the directory moved, until ``stop`` is set."""
    seen: tuple[int, int | None, int] | None = None
    checked = 0.0
    while not stop.is_set():
        try:
            current = await asyncio.to_thread(_position, node)
            if current != seen or time.monotonic() - checked >= CHECK_EVERY:
                queued = await asyncio.to_thread(publish, node)
                if queued:
                    log.info("hashbank.published", envelopes=queued)
                seen, checked = current, time.monotonic()
        except Exception:  # a failed round is retried at the next tick; the log says why
            log.exception("hashbank.publish_failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


def _position(node: Node) -> tuple[int, int | None, int]:
    """What makes publishing worth another look: the log's head, the directory, and deliveries (pacing)."""
    with node.db.transaction(readonly=True) as uow:
        seq, _ = bank.head(uow.session)
        waiting = _waiting(uow.session)
    directory = node.directory
    return seq, directory.version if directory is not None else None, waiting
