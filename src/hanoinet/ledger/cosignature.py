"""C2SP witness cosignatures, Ed25519 ``cosignature/v1`` (c2sp.org/tlog-cosignature).

A witness that has checked a checkpoint is consistent with everything it saw before adds a note signature
line to it. The line's key ID is ``SHA-256(name || 0x0A || 0x04 || public key)[:4]`` (signature type ``0x04``,
"Timestamped Ed25519 witness cosignatures", c2sp.org/signed-note) and its signature bytes are a
``timestamped_signature``: the 8-byte big-endian POSIX timestamp, then the 64-byte Ed25519 signature of::

    cosignature/v1
    time <timestamp in decimal>
    <the whole checkpoint body, extension lines included>

Pure code: the timestamp is always given by the caller, never read from a clock here. The ML-DSA-44
``subtree/v1`` cosignature of the same spec is not implemented.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hanoinet.errors import ValidationError
from hanoinet.ledger.checkpoint import Checkpoint, CheckpointError, parse_checkpoint
from hanoinet.ledger.note import (
    ED25519_PUBLIC_KEY_SIZE,
    ED25519_SIGNATURE_SIZE,
    Note,
    NoteError,
    NoteSignature,
    check_key_name,
    compute_key_id,
    decode_verifier_key,
    encode_verifier_key,
)

#: Signature type byte of Ed25519 cosignature/v1 (c2sp.org/signed-note, "Signature types";
#: c2sp.org/tlog-cosignature, "Format": "The key ID for Ed25519 cosignatures MUST be computed as
#: SHA-256(<name> || "\n" || 0x04 || 32-byte Ed25519 cosigner public key)[:4]").
ALG_COSIGNATURE_V1 = 0x04

#: The header line giving domain separation (c2sp.org/tlog-cosignature, "Ed25519 signed message").
COSIGNATURE_V1_HEADER = "cosignature/v1"

#: "It MUST NOT exceed 2^63 - 1" (c2sp.org/tlog-cosignature, ``timestamped_signature.timestamp``).
MAX_TIMESTAMP = 2**63 - 1

TIMESTAMP_SIZE = 8
#: Bytes after the key ID in an Ed25519 cosignature line: timestamp and signature.
COSIGNATURE_SIZE = TIMESTAMP_SIZE + ED25519_SIGNATURE_SIZE


class CosignatureError(ValidationError):
    """A cosignature, witness key or cosigned message is malformed or does not verify."""

    code = "cosignature_invalid"


def _check_timestamp(timestamp: int) -> None:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or not 0 <= timestamp <= MAX_TIMESTAMP:
        raise CosignatureError(f"timestamp {timestamp!r} is not an integer in 0..2^63-1",
                               hint="give POSIX seconds since the Epoch", code="cosignature_timestamp")


def cosigned_message(body: str | Checkpoint, timestamp: int) -> bytes:
    """The bytes an Ed25519 cosigner signs: ``cosignature/v1\\ntime <t>\\n`` followed by the checkpoint body.

    Preconditions: ``body`` is a checkpoint body in canonical form (it parses and formats back to the same
    text), as torchwood's cosigner requires; ``0 <= timestamp <= 2^63-1``.
    """
    _check_timestamp(timestamp)
    if isinstance(body, Checkpoint):
        text = body.to_text()
    else:
        if parse_checkpoint(body).to_text() != body:  # raises CheckpointError if it is no checkpoint
            raise CheckpointError("the cosigned text is not a checkpoint in canonical form",
                                  code="checkpoint_malformed")
        text = body
    return f"{COSIGNATURE_V1_HEADER}\ntime {timestamp}\n{text}".encode()


@dataclass(frozen=True, slots=True)
class Cosignature:
    """One witness's cosignature: who, when (POSIX seconds) and the 64-byte Ed25519 signature."""

    name: str
    key_id: int
    timestamp: int
    signature: bytes

    def __post_init__(self) -> None:
        check_key_name(self.name)
        _check_timestamp(self.timestamp)
        if not isinstance(self.signature, bytes) or len(self.signature) != ED25519_SIGNATURE_SIZE:
            raise CosignatureError("an Ed25519 cosignature holds a 64-byte signature", code="cosignature_malformed")

    @classmethod
    def from_note_signature(cls, sig: NoteSignature) -> Cosignature:
        """Read timestamp and signature from a note signature line of type ``0x04``.

        Refuses [``cosignature_malformed``] a line whose signature bytes are not 8 + 64 long, and
        [``cosignature_timestamp``] a timestamp above 2^63-1. Does not verify anything.
        """
        if len(sig.signature) != COSIGNATURE_SIZE:
            raise CosignatureError(
                f"the signature line of {sig.name} holds {len(sig.signature)} bytes after the key ID, not "
                f"{COSIGNATURE_SIZE} (timestamp and Ed25519 signature)", code="cosignature_malformed")
        return cls(sig.name, sig.key_id, int.from_bytes(sig.signature[:TIMESTAMP_SIZE], "big"),
                   sig.signature[TIMESTAMP_SIZE:])

    @property
    def note_signature(self) -> NoteSignature:
        """The note signature line carrying this cosignature."""
        return NoteSignature(self.name, self.key_id, self.timestamp.to_bytes(TIMESTAMP_SIZE, "big") + self.signature)


@dataclass(frozen=True, slots=True, kw_only=True)
class CosignatureVerifier:
    """A witness's Ed25519 cosignature/v1 key: a name and a 32-byte public key. Implements ``NoteVerifier``."""

    name: str
    public_key: bytes
    key_id: int = field(init=False)
    _key: Ed25519PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if not isinstance(self.public_key, bytes) or len(self.public_key) != ED25519_PUBLIC_KEY_SIZE:
            raise CosignatureError("an Ed25519 witness key is 32 bytes", code="witness_key_malformed")
        object.__setattr__(self, "key_id", compute_key_id(self.name, ALG_COSIGNATURE_V1, self.public_key))
        object.__setattr__(self, "_key", Ed25519PublicKey.from_public_bytes(self.public_key))

    @classmethod
    def from_vkey(cls, vkey: str) -> CosignatureVerifier:
        """Parse a witness verifier key ``<name>+<hex key ID>+<base64(0x04 || public key)>``.

        c2sp.org/tlog-cosignature: "Ed25519 public keys MAY be encoded as vkeys with signature type 0x04".
        A type ``0x01`` key is refused [``witness_key_algorithm``]: it names a log key, whose key ID differs.
        """
        try:
            name, _, signature_type, key = decode_verifier_key(vkey)
        except NoteError as exc:
            raise CosignatureError(exc.message, hint=exc.hint, code="witness_key_malformed") from None
        if signature_type != ALG_COSIGNATURE_V1:
            raise CosignatureError(
                f"witness key {vkey!r} has signature type {signature_type:#04x}, not cosignature/v1 (0x04)",
                hint="ask the witness for its cosignature verifier key (type 0x04)", code="witness_key_algorithm")
        if len(key) != ED25519_PUBLIC_KEY_SIZE:
            raise CosignatureError(f"witness key {vkey!r} does not hold a 32-byte Ed25519 key",
                                   code="witness_key_malformed")
        return cls(name=name, public_key=key)

    @property
    def vkey(self) -> str:
        """The witness verifier key string to publish."""
        return encode_verifier_key(self.name, ALG_COSIGNATURE_V1, self.public_key)

    def verify(self, text: bytes, signature: bytes) -> bool:
        """Whether ``signature`` (timestamp || Ed25519 signature) cosigns the checkpoint body ``text``.

        False for anything malformed: wrong length, timestamp above 2^63-1, text that is not a canonical
        checkpoint body.
        """
        if len(signature) != COSIGNATURE_SIZE:
            return False
        timestamp = int.from_bytes(signature[:TIMESTAMP_SIZE], "big")
        try:
            message = cosigned_message(text.decode("utf-8"), timestamp)
        except (ValidationError, UnicodeDecodeError):
            return False
        try:
            self._key.verify(signature[TIMESTAMP_SIZE:], message)
        except InvalidSignature:
            return False
        return True

    def check(self, checkpoint: Checkpoint, cosignature: Cosignature) -> None:
        """Raise unless ``cosignature`` is this witness's valid cosignature of ``checkpoint``.

        Codes: ``cosignature_wrong_key`` (name or key ID differ), ``cosignature_invalid`` (bad signature).
        """
        if (cosignature.name, cosignature.key_id) != (self.name, self.key_id):
            raise CosignatureError(f"the cosignature is by {cosignature.name}+{cosignature.key_id:08x}, not by "
                                   f"{self.name}+{self.key_id:08x}", code="cosignature_wrong_key")
        if not self.verify(checkpoint.to_text().encode("utf-8"), cosignature.note_signature.signature):
            raise CosignatureError(f"the cosignature by {self.name} does not verify",
                                   hint="the checkpoint or its cosignature was altered", code="cosignature_invalid")


@dataclass(frozen=True, slots=True, kw_only=True)
class Cosigner:
    """A witness's Ed25519 cosigning key. Keep it secret.

    The Ed25519 cosigned message does not name the cosigner, so one key must serve one cosigner name only
    (c2sp.org/tlog-cosignature, "Ed25519 signed message").
    """

    name: str
    private_key: Ed25519PrivateKey = field(repr=False)
    key_id: int = field(init=False)

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if not isinstance(self.private_key, Ed25519PrivateKey):
            raise CosignatureError("a cosigner needs an Ed25519 private key", code="witness_key_malformed")
        object.__setattr__(self, "key_id", compute_key_id(self.name, ALG_COSIGNATURE_V1, self.public_key))

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte public key."""
        return self.private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def verifier(self) -> CosignatureVerifier:
        """The matching verifier (publish ``verifier.vkey``)."""
        return CosignatureVerifier(name=self.name, public_key=self.public_key)

    def cosign(self, checkpoint: Checkpoint | str, *, timestamp: int) -> Cosignature:
        """Cosign a checkpoint (object or canonical body) as of ``timestamp`` (POSIX seconds, 0..2^63-1).

        Only call this after checking the checkpoint is consistent with the latest one cosigned for the log:
        a cosignature states that, as of ``timestamp``, this is the largest consistent tree head seen.
        """
        message = cosigned_message(checkpoint, timestamp)
        return Cosignature(self.name, self.key_id, timestamp, self.private_key.sign(message))

    def at(self, timestamp: int) -> TimestampedCosigner:
        """A ``NoteSigner`` that cosigns with this fixed timestamp, for ``sign_note(..., keep=...)``."""
        _check_timestamp(timestamp)
        return TimestampedCosigner(cosigner=self, timestamp=timestamp)


@dataclass(frozen=True, slots=True, kw_only=True)
class TimestampedCosigner:
    """A :class:`Cosigner` bound to one timestamp, usable wherever a ``NoteSigner`` is expected."""

    cosigner: Cosigner
    timestamp: int

    @property
    def name(self) -> str:
        """The witness name."""
        return self.cosigner.name

    @property
    def key_id(self) -> int:
        """The type 0x04 key ID."""
        return self.cosigner.key_id

    def sign(self, text: bytes) -> bytes:
        """``timestamp || Ed25519(cosigned message)`` over the checkpoint body ``text``."""
        cosig = self.cosigner.cosign(text.decode("utf-8"), timestamp=self.timestamp)
        return cosig.note_signature.signature


def cosignature_timestamp(sig: NoteSignature) -> int:
    """The timestamp of a cosignature line, unverified (``CosignatureTimestamp`` in torchwood)."""
    return Cosignature.from_note_signature(sig).timestamp


def witness_cosignatures(note: Note, witnesses: Iterable[CosignatureVerifier]) -> tuple[Cosignature, ...]:
    """The verified cosignatures in an opened note that were made by the given witnesses, in note order.

    Precondition: ``note`` was returned by ``open_note`` with these witnesses among its verifiers, so that
    every signature listed in ``note.signatures`` has been verified.
    """
    wanted = {(w.name, w.key_id) for w in witnesses}
    return tuple(Cosignature.from_note_signature(s) for s in note.signatures if (s.name, s.key_id) in wanted)
