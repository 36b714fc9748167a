"""Signed receipts: the receiving node's proof that it holds an envelope (docs/protocol.md, "Receipts")."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from hanoinet.clock import Instant, parse_instant
from hanoinet.crypto import jose
from hanoinet.crypto.canonical import canonical_json, parse_json
from hanoinet.crypto.keys import KeyPair
from hanoinet.errors import HanoinetError, TransportError
from hanoinet.network.directory import Directory
from hanoinet.states import StateCode

RECEIPT_TYP = "hanoinet-receipt+jws"


class Receipt(BaseModel):
    """What a receipt states; signed by the receiver's signing key ``receiver_kid``."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    type: Literal["hanoinet-receipt"] = "hanoinet-receipt"
    v: Literal[1] = 1
    message_id: str
    jws_sha256: str
    jwe_sha256: str
    received_at: Instant
    receiver: StateCode
    receiver_kid: str


def sign_receipt(receipt: Receipt, key: KeyPair) -> str:
    """The receipt as a compact JWS."""
    if receipt.receiver_kid != key.kid:
        raise ValueError("receipt names another key than the one signing it")
    return jose.sign(canonical_json(receipt.model_dump(mode="json")), key, typ=RECEIPT_TYP)


def verify_receipt(
    compact: str, *, directory: Directory, receiver: str, message_id: str, jws_sha256: str, jwe_sha256: str
) -> Receipt:
    """Check a receipt returned for our envelope: signed by the receiver, naming exactly what we sent."""
    try:
        header, raw = jose.peek_jws(compact, typ=RECEIPT_TYP)
        receipt = Receipt.model_validate(parse_json(raw, what="receipt"))
        entry = directory.verification_key(receiver, str(header["kid"]), parse_instant(receipt.received_at))
        jose.verify(compact, entry.public_key(), typ=RECEIPT_TYP)
    except (HanoinetError, ValueError) as exc:
        message = exc.message if isinstance(exc, HanoinetError) else str(exc)
        raise TransportError(f"receipt from {receiver} is invalid: {message}", code="bad_receipt") from None
    expected = (receiver, message_id, jws_sha256, jwe_sha256, str(header["kid"]))
    got = (receipt.receiver, receipt.message_id, receipt.jws_sha256, receipt.jwe_sha256, receipt.receiver_kid)
    if got != expected:
        raise TransportError(
            f"receipt from {receiver} does not match the envelope sent: expected {expected}, got {got}",
            code="bad_receipt",
        )
    return receipt
