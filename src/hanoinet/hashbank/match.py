"""Matching uploads against the bank: per item, up to eight PDQ hashes (its rotations and flips) or an image.

PDQ is not rotation-invariant, and the hashes of a rotated or flipped image can only be computed from its
pixels, so a platform sends the eight dihedral hashes of each upload (:data:`hanoinet.hashbank.pdq.DIHEDRAL_ORDER`)
or the image itself, which is hashed here and dropped. The answer lists every active entry within the kind's
match distance (31 bits for PDQ) of any of the item's hashes, with the smallest distance and the hash that
gave it. Entries are checked against the database after the index answers, so an entry withdrawn a moment
ago is never reported even before the index has caught up. Each hit says whether its entry is quarantined and
its trust at this node (docs/takedown.md): a quarantined entry's matches wait for a closer review.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hanoinet.db.database import Database
from hanoinet.errors import ValidationError
from hanoinet.hashbank import bank, kinds, pdq, takedown
from hanoinet.hashbank.bank import Entry
from hanoinet.hashbank.matcher import Matcher

#: Items per request: bounds the work of one call (a batch of 1,000 items of 8 hashes is about 1 s here).
MAX_ITEMS = 1_000
#: Images per request: each is decoded and hashed on the node (about 10 ms for 512x512, 1 s at 50 megapixels).
MAX_IMAGES = 16
MAX_VARIANTS = len(pdq.DIHEDRAL_ORDER)


@dataclass(frozen=True, slots=True)
class Item:
    """One upload to check: ``hashes`` (1 to 8, hexadecimal) or the ``image`` file's bytes; ``ref`` is echoed."""

    ref: str | None = None
    hashes: Sequence[str] | None = None
    image: bytes | None = None


@dataclass(frozen=True, slots=True)
class Hit:
    """An entry within the match distance of one of the item's hashes (``variant``, 0-based, the closest), with
    whether the entry is quarantined and its trust at this node."""

    entry: Entry
    distance: int
    variant: int
    quarantined: bool
    trust: float


@dataclass(frozen=True, slots=True)
class Result:
    """The answer for one item: the hashes it was checked with (computed ones for an image) and its hits."""

    ref: str | None
    hashes: list[str]
    quality: int | None
    hits: list[Hit]


def prepare(items: Sequence[Item], *, kind: str = "pdq") -> list[tuple[list[bytes], int | None]]:
    """The query codes of each item (and the image's quality), checked; errors name the item and the field."""
    hash_kind = kinds.get(kind)
    if not items:
        raise ValidationError("no items to match", hint="send at least one item", code="bad_match")
    if len(items) > MAX_ITEMS:
        raise ValidationError(f"{len(items)} items in one request; at most {MAX_ITEMS}",
                              hint="split the batch into several requests", code="too_many_items")
    images = sum(item.image is not None for item in items)
    if images > MAX_IMAGES:
        raise ValidationError(f"{images} images in one request; at most {MAX_IMAGES}",
                              hint="send the images' hashes instead, or fewer images per request",
                              code="too_many_items")
    prepared: list[tuple[list[bytes], int | None]] = []
    for position, item in enumerate(items, start=1):
        where = f"item {position}" + (f" ({item.ref})" if item.ref else "")
        if (item.hashes is None) == (item.image is None):
            raise ValidationError(f"{where}: give either its hashes or its image, not both or neither",
                                  hint=f"'hashes': 1 to {MAX_VARIANTS} {kind} hashes, or 'image': the file",
                                  code="bad_match")
        if item.image is not None:
            try:
                results = pdq.dihedral_hashes(item.image)
            except ValidationError as exc:
                raise ValidationError(f"{where}: {exc.message}", hint=exc.hint, code=exc.code) from None
            prepared.append(([r.code for r in results], results[0].quality))
            continue
        assert item.hashes is not None
        if not 1 <= len(item.hashes) <= MAX_VARIANTS:
            raise ValidationError(f"{where}: {len(item.hashes)} hashes; give 1 to {MAX_VARIANTS}",
                                  hint="the eight hashes of the image's rotations and flips find rotated copies",
                                  code="bad_match")
        codes = []
        for variant, text in enumerate(item.hashes, start=1):
            try:
                codes.append(hash_kind.parse(text))
            except ValidationError as exc:
                raise ValidationError(f"{where}, hash {variant}: {exc.message}", hint=exc.hint,
                                      code=exc.code) from None
        prepared.append((codes, None))
    return prepared


def match(db: Database, matcher: Matcher, items: Sequence[Item]) -> list[Result]:
    """Every active entry within the match distance of each item (see the module docstring)."""
    hash_kind = kinds.get(matcher.kind)
    prepared = prepare(items, kind=matcher.kind)
    owner: list[int] = []
    variant_of: list[int] = []
    codes: list[bytes] = []
    for position, (item_codes, _) in enumerate(prepared):
        owner.extend([position] * len(item_codes))
        variant_of.extend(range(len(item_codes)))
        codes.extend(item_codes)
    # Read what committed before this request: a caller who just added or withdrew an entry sees it.
    matcher.refresh()
    queries = np.frombuffer(b"".join(codes), dtype=np.uint8).reshape(len(codes), hash_kind.bits // 8)
    found = matcher.search(queries, radius=hash_kind.max_distance)
    with db.transaction(readonly=True) as uow:
        held = bank.by_rows(uow.session, (int(i) for i in found.ids))
        standing = takedown.standing(uow.session, list(held))
    best: list[dict[int, tuple[int, int]]] = [{} for _ in prepared]
    for query, row, distance in zip(found.query.tolist(), found.ids.tolist(), found.distance.tolist(), strict=True):
        entry = held.get(row)
        if entry is None or entry.status != "active":
            continue
        seen = best[owner[query]].get(row)
        if seen is None or distance < seen[0]:
            best[owner[query]][row] = (distance, variant_of[query])
    results = []
    for position, (item, (item_codes, quality)) in enumerate(zip(items, prepared, strict=True)):
        hits = sorted((Hit(held[row], distance, variant, *_standing(standing.get(row)))
                       for row, (distance, variant) in best[position].items()),
                      key=lambda h: (h.distance, h.entry.entry_id))
        results.append(Result(ref=item.ref, hashes=[hash_kind.format(c) for c in item_codes], quality=quality,
                              hits=hits))
    return results


def _standing(held: takedown.Standing | None) -> tuple[bool, float]:
    """``(quarantined, trust)`` of an entry; one with no review history has the starting trust."""
    standing = held or takedown.Standing()
    return standing.quarantined, standing.trust
