"""Proof bundles: one custody record with everything needed to check it offline (pure).

A bundle names the log (origin and verifier key), carries its signed checkpoint, the record (unless
redacted), the record's entry hash, its index and the inclusion proof. :func:`verify_bundle` checks, with no
network and no database, that the checkpoint is signed by a trusted key of that log, that the record hashes
to the entry, and that the entry is in the tree the checkpoint commits to.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hanoinet.errors import ValidationError
from hanoinet.ledger import merkle
from hanoinet.ledger.checkpoint import Checkpoint, open_checkpoint
from hanoinet.ledger.events import CustodyEvent, parse_record
from hanoinet.ledger.note import Verifier


@dataclass(frozen=True, slots=True)
class VerifiedEntry:
    """What a verified bundle proves."""

    checkpoint: Checkpoint
    index: int
    entry: bytes
    event: CustodyEvent | None
    #: Whether the checkpoint's key was one the caller trusts, not merely the one the bundle names.
    pinned: bool


def _bytes(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise ValidationError(f"proof bundle: {what} must be base64 text", code="bad_bundle")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(f"proof bundle: {what} is not base64", code="bad_bundle") from None


def verify_bundle(bundle: Mapping[str, Any], trusted_keys: Sequence[str] = ()) -> VerifiedEntry:
    """Check a bundle; raises :class:`ValidationError` or a proof error naming what does not hold.

    With ``trusted_keys`` (verifier key strings of the log, e.g. from the directory or a witness), the
    checkpoint must be signed by one of them; without, only by the key the bundle names (``pinned`` is then
    false: the bundle is consistent, but nothing says the key is the log's).
    """
    try:
        origin, key, note = str(bundle["origin"]), str(bundle["verifier_key"]), str(bundle["checkpoint"])
        index, size = bundle["index"], bundle["size"]
        proof = [_bytes(h, "a proof hash") for h in bundle["proof"]]
    except (KeyError, TypeError):
        raise ValidationError("proof bundle: origin, verifier_key, checkpoint, index, size, entry and proof are "
                              "required", code="bad_bundle") from None
    if not (isinstance(index, int) and isinstance(size, int)) or isinstance(index, bool) or isinstance(size, bool):
        raise ValidationError("proof bundle: index and size must be integers", code="bad_bundle")
    keys = list(trusted_keys) or [key]
    checkpoint, _ = open_checkpoint(note.encode("utf-8"), [Verifier.from_vkey(k) for k in keys], origin=origin)
    if checkpoint.size != size:
        raise ValidationError(f"proof bundle: the proof is for size {size}, the checkpoint for {checkpoint.size}",
                              code="bad_bundle")
    entry = _bytes(bundle.get("entry"), "entry")
    event = None
    record = bundle.get("record")
    if record is not None:
        data = str(record).encode("utf-8")
        if hashlib.sha256(data).digest() != entry:
            raise ValidationError("proof bundle: the record does not hash to its entry (altered record)",
                                  code="record_mismatch")
        event = parse_record(data)
    merkle.verify_inclusion(merkle.leaf_hash(entry), index, size, proof, checkpoint.root_hash)
    return VerifiedEntry(checkpoint, index, entry, event, pinned=bool(trusted_keys))
