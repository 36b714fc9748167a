"""Receiving: check an envelope, store it once, and answer with a signed receipt."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from hanoinet.clock import format_instant, now
from hanoinet.crypto.keys import KeyPair
from hanoinet.db.database import UnitOfWork
from hanoinet.db.models import InboxMessage
from hanoinet.errors import Conflict, EnvelopeRefused
from hanoinet.ledger import log as ledger
from hanoinet.ledger.events import CustodyEvent
from hanoinet.network.envelope import EnvelopePayload, Limits, OpenedEnvelope, open_envelope
from hanoinet.network.receipt import Receipt, sign_receipt
from hanoinet.node import audit
from hanoinet.node.node import Node
from hanoinet.states import split_address

#: What a capability does with an accepted envelope of its kind, inside the transaction that stores it.
Handler = Callable[[Node, UnitOfWork, EnvelopePayload, datetime], None]

_HANDLERS: dict[str, Handler] = {}


def on_receive(kind: str, handler: Handler) -> None:
    """Have ``handler`` process every new envelope of ``kind`` (registered once, at import).

    The handler runs in the transaction that stores the envelope: if it raises, nothing is stored, the
    sender gets the error (a :class:`HanoinetError` keeps its code and status) and may retry.
    """
    if _HANDLERS.get(kind, handler) is not handler:
        raise ValueError(f"a handler for {kind!r} is already registered")
    _HANDLERS[kind] = handler


@dataclass(frozen=True, slots=True)
class Received:
    """The receipt to return, and whether the envelope had been received before."""

    receipt: str
    message_id: str
    duplicate: bool


def receive(node: Node, jwe: bytes) -> Received:
    """Accept one envelope (docs/protocol.md, "Receiving").

    Idempotent on the message id: the same signed content again gets the receipt already issued (so a
    sender whose receipt was lost can finish) and is not processed twice; the same id with other content is
    refused with ``id_conflict`` and raises an alarm.
    """
    t = now()
    asked: list[str] = []

    def decryption_key(kid: str) -> KeyPair | None:
        asked.append(kid)
        return node.decryption_key(kid)

    try:
        opened = open_envelope(
            jwe,
            own_state=node.state,
            own_desks=node.settings.desk_ids,
            decryption_keys=decryption_key,
            directory=node.require_directory(),
            now=t,
            limits=Limits(max_bytes=node.settings.max_envelope_bytes, max_age=node.settings.max_message_age),
        )
    except EnvelopeRefused as exc:
        if exc.code == "unknown_recipient_key" and asked:
            node.report_missing_key(asked[-1])
        raise
    try:
        return _store(node, opened, jwe)
    except IntegrityError:
        # A concurrent delivery of the same id won the insert; answer as for a duplicate.
        return _store(node, opened, jwe)


def _store(node: Node, opened: OpenedEnvelope, jwe: bytes) -> Received:
    payload = opened.payload
    # Sign before taking the write lock; if the envelope turns out to be a duplicate the receipt is dropped.
    key = node.signing_key()
    received_at = now()
    receipt = sign_receipt(Receipt(
        message_id=payload.id, jws_sha256=opened.jws_sha256, jwe_sha256=opened.jwe_sha256,
        received_at=format_instant(received_at), receiver=node.state, receiver_kid=key.kid,
    ), key)
    with node.db.transaction() as uow:
        existing = uow.session.get(InboxMessage, payload.id)
        if existing is not None:
            if existing.jws_sha256 == opened.jws_sha256:
                return Received(receipt=existing.receipt, message_id=payload.id, duplicate=True)
            conflicting = existing.jws_sha256
        else:
            uow.session.add(InboxMessage(
                message_id=payload.id, kind=payload.kind, sender=payload.sender, recipient=payload.recipient,
                case_ref=payload.case, created=payload.created, received_at=received_at,
                payload=json.dumps(payload.to_json(), sort_keys=True), jws=opened.jws,
                jws_sha256=opened.jws_sha256, jwe_sha256=opened.jwe_sha256, sender_kid=opened.sender_kid,
                receipt=receipt,
            ))
            audit.record(uow.session, actor=f"peer:{payload.sender}", action="message.receive", target=payload.id,
                         detail={"kind": payload.kind, "to": payload.recipient})
            ledger.record(uow.session, CustodyEvent(
                action="received", at=format_instant(received_at), node=node.state,
                actor=f"peer:{split_address(payload.sender)[0]}", object_sha256=opened.jws_sha256, case=payload.case,
                detail={"message_id": payload.id, "kind": payload.kind, "from": payload.sender},
            ))
            handler = _HANDLERS.get(payload.kind)
            if handler is not None:
                handler(node, uow, payload, received_at)
            return Received(receipt=receipt, message_id=payload.id, duplicate=False)
    with node.db.transaction() as uow:
        audit.alarm(uow.session, code="id_conflict",
                    message=f"{payload.sender} sent message id {payload.id} again with different content",
                    detail={"message_id": payload.id, "held_jws_sha256": conflicting,
                            "new_jws_sha256": opened.jws_sha256})
    raise Conflict(
        f"message id {payload.id} was already received with different content",
        hint="a message id is used once; a sender that needs to say something else must send a new message",
        code="id_conflict",
    )
