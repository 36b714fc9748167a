"""Sending: seal an envelope once and write it to the outbox in the caller's transaction."""

from __future__ import annotations

from typing import Any

import pydantic

from hanoinet.clock import format_instant, now
from hanoinet.crypto.canonical import canonical_json
from hanoinet.db.database import UnitOfWork
from hanoinet.db.models import OutboxMessage
from hanoinet.errors import ValidationError
from hanoinet.ids import uuid7
from hanoinet.ledger import log as ledger
from hanoinet.ledger.events import CustodyEvent
from hanoinet.network import kinds
from hanoinet.network.envelope import EnvelopePayload, seal
from hanoinet.node import audit
from hanoinet.node.node import Node
from hanoinet.states import check_address, split_address


def enqueue(
    node: Node,
    uow: UnitOfWork,
    *,
    sender_desk: str,
    recipient: str,
    kind: str,
    body: dict[str, Any],
    case: str | None = None,
    actor: str = "system",
    officer_id: int | None = None,
) -> OutboxMessage:
    """Seal a message and add it to the outbox inside ``uow``; delivery starts once ``uow`` commits.

    The envelope is built here, once: every retry sends these exact bytes, so the receipt's hashes always
    match what was stored.
    """
    check_address(recipient)
    recipient_state, _ = split_address(recipient)
    directory = node.require_directory()
    t = now()
    directory.check_current(t)
    try:
        payload = EnvelopePayload.model_validate({
            "id": uuid7(), "kind": kind, "from": f"{node.state}/{sender_desk}", "to": recipient,
            "created": format_instant(t), "case": case, "body": kinds.validate_body(kind, body),
        })
    except pydantic.ValidationError as exc:
        raise ValidationError(f"the message cannot be sent: {exc}") from None
    sealed = seal(payload, node.signing_key(), directory.encryption_key(recipient_state, t))
    row = OutboxMessage(
        message_id=payload.id, kind=kind, sender=payload.sender, recipient=recipient, case_ref=case,
        payload=canonical_json(payload.to_json()).decode(), jws=sealed.jws, jwe=sealed.jwe,
        jws_sha256=sealed.jws_sha256, jwe_sha256=sealed.jwe_sha256, created_at=t, officer_id=officer_id,
        status="pending", attempts=0, next_attempt_at=t,
    )
    uow.session.add(row)
    audit.record(uow.session, actor=actor, officer_id=officer_id, action="message.send", target=payload.id,
                 detail={"to": recipient, "kind": kind, "case": case})
    ledger.record(uow.session, CustodyEvent(
        action="sent", at=format_instant(t), node=node.state, actor=actor, object_sha256=sealed.jws_sha256,
        case=case, detail={"message_id": payload.id, "kind": kind, "to": recipient},
    ))
    uow.on_commit(node.outbox_committed)
    return row
