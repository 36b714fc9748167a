"""Envelopes: a signed payload (JWS) inside an encryption to the recipient node (JWE).

Construction and checks follow docs/protocol.md, section "Envelopes"; each refusal below raises
:class:`EnvelopeRefused` with the code listed there. Pure code: the caller supplies keys, the verified
directory, the clock and the limits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hanoinet import text
from hanoinet.clock import Instant, format_instant, parse_instant
from hanoinet.crypto import jose
from hanoinet.crypto.canonical import canonical_json, parse_json
from hanoinet.crypto.keys import KeyPair
from hanoinet.errors import EnvelopeRefused, HanoinetError
from hanoinet.ids import is_uuid7
from hanoinet.network import kinds
from hanoinet.network.directory import Directory, KeyEntry
from hanoinet.states import Address, split_address

MESSAGE_TYP = "hanoinet-msg+jws"

#: Creation times further in the future than this are refused (clock skew allowance).
MAX_FUTURE_SKEW = timedelta(minutes=5)
#: A case reference is a label, not a document.
MAX_CASE_REF = 128
#: Every payload carries all of these on the wire (protocol.md section 9.1): none has a default there.
PAYLOAD_MEMBERS = frozenset({"v", "id", "kind", "from", "to", "created", "case", "body"})


class EnvelopePayload(BaseModel):
    """The signed content of every message. Field names are the wire names (``from`` via alias)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    v: Literal[1] = 1
    id: str
    kind: str
    sender: Address = Field(alias="from")
    recipient: Address = Field(alias="to")
    created: Instant
    case: str | None = Field(default=None, max_length=MAX_CASE_REF)
    body: dict[str, Any]

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not is_uuid7(value):
            raise ValueError(f"message id {value!r} is not a lowercase UUIDv7")
        return value

    @field_validator("case")
    @classmethod
    def _case(cls, value: str | None) -> str | None:
        return None if value is None else text.check_line(value, "case")

    def to_json(self) -> dict[str, Any]:
        """The payload as wire JSON (``from``/``to`` names)."""
        return self.model_dump(mode="json", by_alias=True)

    @property
    def created_at(self) -> datetime:
        """The creation instant as a datetime."""
        return parse_instant(self.created)


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256, the hash form used in receipts."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class SealedEnvelope:
    """An envelope ready to send: built once, then retried byte for byte."""

    payload: EnvelopePayload
    jws: str
    jwe: bytes

    @property
    def jws_sha256(self) -> str:
        """SHA-256 of the inner JWS (its compact ASCII bytes)."""
        return sha256_hex(self.jws.encode("ascii"))

    @property
    def jwe_sha256(self) -> str:
        """SHA-256 of the JWE bytes as sent."""
        return sha256_hex(self.jwe)


def seal(payload: EnvelopePayload, signing_key: KeyPair, recipient_key: KeyEntry) -> SealedEnvelope:
    """Sign the canonical payload with our key and encrypt the JWS to the recipient's ``enc`` key.

    The body is signed in its normalised form (every member written, defaults filled in), the only form a
    receiver accepts (docs/protocol.md section 9.2 step 4).
    """
    payload = payload.model_copy(update={"body": kinds.validate_body(payload.kind, payload.body)})
    wire = payload.to_json()
    text.check_value(wire, "$", floats=False)  # section 2.1: what a receiver refuses is never sent
    signed = jose.sign(canonical_json(wire), signing_key, typ=MESSAGE_TYP)
    encrypted = jose.encrypt(
        signed.encode("ascii"), recipient_key.public_key(), kid=recipient_key.kid, cty=MESSAGE_TYP
    )
    return SealedEnvelope(payload=payload, jws=signed, jwe=encrypted.encode("ascii"))


@dataclass(frozen=True, slots=True)
class OpenedEnvelope:
    """An envelope that passed every check of :func:`open_envelope`."""

    payload: EnvelopePayload
    jws: str
    jws_sha256: str
    jwe_sha256: str
    sender_kid: str


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what the inbox accepts."""

    max_bytes: int
    max_age: timedelta


def _refuse(code: str, message: str, hint: str = "") -> EnvelopeRefused:
    return EnvelopeRefused(message, hint=hint, code=code)


def open_envelope(
    jwe_bytes: bytes,
    *,
    own_state: str,
    own_desks: set[str],
    decryption_keys: Callable[[str], KeyPair | None],
    directory: Directory,
    now: datetime,
    limits: Limits,
) -> OpenedEnvelope:
    """Decrypt, verify and check one envelope addressed to this node (docs/protocol.md, "Receiving")."""
    # 1. Size first, before any cryptography (protocol.md step 1).
    if len(jwe_bytes) > limits.max_bytes:
        raise _refuse("too_large", f"envelope is {len(jwe_bytes)} bytes; the limit is {limits.max_bytes}")
    # 2. The directory must be current (or within its grace period).
    directory.check_current(now)
    try:
        compact = jwe_bytes.decode("ascii")
    except UnicodeDecodeError:
        raise _refuse("malformed", "envelope is not an ASCII JWE compact serialization") from None
    # 3. Decrypt with our key named by kid.
    try:
        inner = jose.decrypt(compact, decryption_keys, cty=MESSAGE_TYP).plaintext
        signed = inner.decode("ascii")
        header, raw_payload = jose.peek_jws(signed, typ=MESSAGE_TYP)
    except UnicodeDecodeError:
        raise _refuse("malformed", "decrypted content is not a JWS compact serialization") from None
    except HanoinetError as exc:
        raise _refuse(exc.code, exc.message) from None
    # 4. Parse the payload strictly (no floats, no duplicate names, text as section 2.1 says, exactly the eight
    # members). The model's
    # defaults for v and case serve local construction only: on the wire a missing member is refused here.
    try:
        parsed = parse_json(raw_payload, what="envelope payload")
        text.check_value(parsed, "$", floats=False)
        if isinstance(parsed, dict) and (missing := PAYLOAD_MEMBERS - set(parsed)):
            raise ValueError(f"member(s) {', '.join(sorted(missing))} missing; all eight must be present")
        payload = EnvelopePayload.model_validate(parsed)
    except (ValueError, HanoinetError) as exc:
        message = exc.message if isinstance(exc, HanoinetError) else str(exc).replace("\n", "; ")
        raise _refuse("malformed_payload", f"envelope payload is invalid: {message}") from None
    sender_state, _ = split_address(payload.sender)
    # 5. The sender's key must be in the directory, valid at creation time, not compromised; then verify.
    entry = directory.verification_key(sender_state, str(header["kid"]), payload.created_at)
    try:
        jose.verify(signed, entry.public_key(), typ=MESSAGE_TYP)
    except HanoinetError as exc:
        raise _refuse("bad_signature", exc.message, "the envelope was altered or signed by another key") from None
    # 6. The signed bytes must be the canonical form, so every party hashes the same bytes.
    if canonical_json(payload.to_json()) != raw_payload:
        raise _refuse("not_canonical", "signed payload is not RFC 8785 canonical JSON")
    # 7. Addressing: the sending desk is one the sender lists; the message is for us (a message signed for
    # another State cannot be re-targeted here) and for one of our desks.
    sender_desk = split_address(payload.sender)[1]
    if directory.member(sender_state).desk(sender_desk) is None:
        raise _refuse("unknown_sender_desk", f"{sender_state} lists no desk {sender_desk!r} in the directory",
                      hint="the sender must write from one of the desks on its member card")
    recipient_state, recipient_desk = split_address(payload.recipient)
    if recipient_state != own_state:
        raise _refuse("wrong_recipient", f"envelope is addressed to {payload.recipient}, this node is {own_state}")
    if recipient_desk not in own_desks:
        raise _refuse("unknown_desk", f"this node has no desk {recipient_desk!r}",
                      hint=f"desks here: {', '.join(sorted(own_desks))}")
    # 8. Freshness: not from the future (beyond skew), not older than the maximum message age.
    if payload.created_at > now + MAX_FUTURE_SKEW:
        raise _refuse("from_future", f"envelope created at {payload.created}, more than "
                      f"{MAX_FUTURE_SKEW} ahead of this node's clock ({format_instant(now)})",
                      hint="the sender's clock is wrong; it must use NTP")
    if payload.created_at < now - limits.max_age:
        raise _refuse("too_old", f"envelope created at {payload.created} is older than the maximum message "
                      f"age of {limits.max_age}", hint="the sender must send a new message")
    # 9. The body must match its kind's schema, every member written (no schema default fills a gap).
    kinds.validate_body(payload.kind, payload.body, complete=True)
    return OpenedEnvelope(
        payload=payload,
        jws=signed,
        jws_sha256=sha256_hex(signed.encode("ascii")),
        jwe_sha256=sha256_hex(jwe_bytes),
        sender_kid=str(header["kid"]),
    )
