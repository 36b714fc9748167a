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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hanoinet.errors import ValidationError
from hanoinet.ledger import merkle
from hanoinet.ledger.checkpoint import Checkpoint, open_checkpoint
from hanoinet.ledger.cosignature import Cosignature, CosignatureVerifier, witness_cosignatures
from hanoinet.ledger.events import CustodyEvent, parse_record
from hanoinet.ledger.note import Verifier
from hanoinet.ledger.tiles import TILE_HEIGHT, Tile, decode_tile, tile_node_source, tiles_for_size


@dataclass(frozen=True, slots=True)
class VerifiedEntry:
    """What a verified bundle proves."""

    checkpoint: Checkpoint
    index: int
    entry: bytes
    event: CustodyEvent | None
    #: Whether the checkpoint's key was one the caller trusts, not merely the one the bundle names.
    pinned: bool
    #: The verified cosignatures of the witnesses the caller named.
    cosignatures: tuple[Cosignature, ...] = ()

    @property
    def witnessed_before(self) -> int | None:
        """The earliest cosignature time (POSIX seconds): the record was in the log no later than this."""
        return min((c.timestamp for c in self.cosignatures), default=None)


def _bytes(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise ValidationError(f"proof bundle: {what} must be base64 text", code="bad_bundle")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(f"proof bundle: {what} is not base64", code="bad_bundle") from None


def verify_bundle(bundle: Mapping[str, Any], trusted_keys: Sequence[str] = (), *,
                  witnesses: Sequence[str] = (), min_witnesses: int = 0) -> VerifiedEntry:
    """Check a bundle; raises :class:`ValidationError` or a proof error naming what does not hold.

    With ``trusted_keys`` (verifier key strings of the log, e.g. from the directory or a witness), the
    checkpoint must be signed by one of them; without, only by the key the bundle names (``pinned`` is then
    false: the bundle is consistent, but nothing says the key is the log's). ``witnesses`` are witness
    verifier keys (type 0x04); at least ``min_witnesses`` of them must have cosigned the checkpoint.
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
    known = [CosignatureVerifier.from_vkey(w) for w in witnesses]
    checkpoint, opened = open_checkpoint(note.encode("utf-8"), [*(Verifier.from_vkey(k) for k in keys), *known],
                                         origin=origin)
    cosignatures = witness_cosignatures(opened, known)
    if len(cosignatures) < min_witnesses:
        raise ValidationError(
            f"proof bundle: {len(cosignatures)} of the named witnesses cosigned the checkpoint; "
            f"{min_witnesses} required", code="too_few_witnesses",
            hint="ask the log for a newer bundle once its witnesses have cosigned, or check the witness keys",
        )
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
    return VerifiedEntry(checkpoint, index, entry, event, pinned=bool(trusted_keys), cosignatures=cosignatures)


def verify_tiles(checkpoint: Checkpoint, read_tile: Callable[[Tile], bytes]) -> None:
    """Check every tile a log serves for ``checkpoint`` against it; raises :class:`merkle.RootMismatch`.

    ``read_tile`` returns a tile's bytes as served (e.g. ``GET /federation/v1/ledger/<tile.path>``). The
    tiles on the tree's right edge must give the checkpoint's root, and every full tile must hash to the
    node its parent tile holds, so a tile altered in storage or in transit anywhere is caught.
    """
    read: dict[tuple[int, int], tuple[bytes, ...]] = {}

    def hashes_of(tile: Tile) -> tuple[bytes, ...]:
        if (tile.level, tile.index) not in read:
            read[(tile.level, tile.index)] = decode_tile(read_tile(tile), tile)
        return read[(tile.level, tile.index)]

    get_node = tile_node_source(checkpoint.size, hashes_of)
    calculated = merkle.root_from_nodes(checkpoint.size, get_node)
    if calculated != checkpoint.root_hash:
        raise merkle.RootMismatch("the tiles do not give the checkpoint's root: a tile was altered",
                                  expected=checkpoint.root_hash, calculated=calculated)
    for tile in tiles_for_size(checkpoint.size):
        if tile.partial:
            continue  # its hashes are on the right edge, which the root above covers
        parent = get_node(TILE_HEIGHT * (tile.level + 1), tile.index)
        below = merkle.root(hashes_of(tile))
        if below != parent:
            raise merkle.RootMismatch(f"tile {tile.path} does not hash to the node above it: it was altered",
                                      expected=parent, calculated=below)
