"""``/api/v1/match`` and ``/api/v1/hashbank``: matching for platforms and officers, the delta feed for platforms.

Platforms authenticate with their own token (``hnp_...``); officers with theirs. Hash lists (the feed) go to
platforms only (docs/hashbank.md, "Who sees hashes").
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from hanoinet.api.inputs import CheckedRoute
from hanoinet.api.officers import Credential, caller_of, confining, node_of, taking
from hanoinet.api.problems import problem_responses
from hanoinet.errors import Conflict, Forbidden, ValidationError
from hanoinet.hashbank import bank
from hanoinet.hashbank import match as matching
from hanoinet.hashbank.matcher import Matcher
from hanoinet.hashbank.platforms import PlatformPrincipal
from hanoinet.node.officers import Principal
from hanoinet.node.roles import Role

router = APIRouter(route_class=CheckedRoute, prefix="/api/v1", tags=["hash bank"])

#: Largest body of a match request: 16 images of about 750 kB, base64-encoded, or 1,000 items of 8 hashes
#: (600 kB). Larger images: send their hashes.
MATCH_BODY_LIMIT = 16 * 1024 * 1024
#: Changes per feed page at most.
MAX_PAGE = 10_000


@taking(Credential.OFFICER_OR_PLATFORM)
def _caller(request: Request) -> Principal | PlatformPrincipal:
    return caller_of(request, Credential.OFFICER_OR_PLATFORM)


@taking(Credential.OFFICER_OR_PLATFORM)
def _platform(request: Request) -> PlatformPrincipal:
    caller = _caller(request)
    if not isinstance(caller, PlatformPrincipal):
        raise Forbidden("the hash list is served to registered platforms only",
                        hint="perceptual hashes can be partly inverted; officers match with POST /api/v1/match",
                        code="platforms_only")
    return caller


Caller = Annotated[Principal | PlatformPrincipal, Depends(confining(_caller))]
PlatformCaller = Annotated[PlatformPrincipal, Depends(_platform)]


def _matcher(request: Request) -> Matcher:
    matcher: Matcher = request.app.state.matcher
    return matcher


class MatchItem(BaseModel):
    """One upload: its PDQ hashes (up to the eight rotations and flips), or the image file in base64."""

    model_config = ConfigDict(extra="forbid")

    ref: str | None = Field(default=None, max_length=200, description="your reference, echoed in the answer")
    # Bounds on length only: their content is checked, item by item, with messages that say where.
    hashes: list[Annotated[str, Field(max_length=256)]] | None = Field(
        default=None, max_length=64, description="1 to 8 PDQ hashes, 64 hexadecimal characters each")
    image: str | None = Field(default=None, description="the image file, base64 (the node hashes it and drops it)")


class MatchRequest(BaseModel):
    """Items to check against the bank."""

    model_config = ConfigDict(extra="forbid")

    #: Counted again by the service, which names the limit (``too_many_items``); this bound only stops a list
    #: of millions being built.
    items: list[MatchItem] = Field(min_length=1, max_length=10 * matching.MAX_ITEMS)


def _decode(item: MatchItem, position: int) -> matching.Item:
    image = None
    if item.image is not None:
        try:
            image = base64.b64decode(item.image, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError(f"item {position}: image is not valid base64",
                                  hint="send the file's bytes in standard base64", code="bad_match") from None
    return matching.Item(ref=item.ref, hashes=item.hashes, image=image)


@router.post("/match", summary="Check uploads against the hash bank (exact, PDQ distance <= 31)")
def match(command: MatchRequest, caller: Caller, request: Request) -> dict[str, Any]:
    """Every active bank entry within the match distance of each item, closest first, with whether the entry is
    quarantined and its trust (docs/takedown.md)."""
    if isinstance(caller, Principal) and caller.role is Role.ADVOCATE:
        # Distances from many lookups would let a caller walk towards a bank hash; advocates submit, not search.
        raise Forbidden("advocates submit hashes for victims; they do not search the bank",
                        hint="matching is for platforms and for investigating officers", code="forbidden")
    node = node_of(request)
    items = [_decode(item, position) for position, item in enumerate(command.items, start=1)]
    results = matching.match(node.db, _matcher(request), items)
    return {"items": [{
        "ref": r.ref, "hashes": r.hashes, "quality": r.quality,
        "matches": [{"entry": h.entry.entry_id, "kind": h.entry.kind, "category": h.entry.category,
                     "origin": h.entry.origin, "distance": h.distance, "variant": h.variant,
                     "quarantined": h.quarantined, "trust": h.trust} for h in r.hits],
    } for r in results]}


def _feed_change(change: bank.Change) -> dict[str, Any] | None:
    entry = change.entry
    if change.op == "add":
        if entry.status != "active":
            return None  # withdrawn since: its withdrawal follows, and its hash is no longer shared
        return {"seq": change.seq, **entry.as_json(with_hash=True), "op": "add"}
    return {"seq": change.seq, "op": "withdraw", "id": entry.entry_id, "kind": entry.kind, "origin": entry.origin,
            "withdrawn_at": entry.as_json(with_hash=False)["withdrawn_at"]}


@router.get("/hashbank/feed", summary="The bank's additions and withdrawals after a checkpoint (platforms only)",
            responses=problem_responses({409: "the checkpoint does not match this node's feed (feed_diverged): "
                                              "read the feed again from after=0"}))
def feed(
    platform: PlatformCaller, request: Request,
    after: Annotated[int, Query(ge=0, lt=2**63, description="your checkpoint's seq (0 at first)")] = 0,
    chain: Annotated[str | None, Query(pattern="^[0-9a-f]{64}$", description="the checkpoint's chain")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1000,
) -> dict[str, Any]:
    """One page of changes in the node's order; apply them, keep ``checkpoint``, and ask again with it."""
    node = node_of(request)
    with node.db.transaction(readonly=True) as uow:
        last, _ = bank.head(uow.session)
        held = bank.chain_at(uow.session, after)
        if after > last or held is None or (chain is not None and chain != held):
            raise Conflict(
                f"checkpoint {after} does not match this node's feed (it is at {last})",
                hint="the node's bank was restored or replaced: drop your copy and read the feed again from after=0",
                code="feed_diverged")
        changes = bank.changes_after(uow.session, after, limit)
    shown = [view for view in map(_feed_change, changes) if view is not None]
    seq, chain_value = (changes[-1].seq, changes[-1].chain) if changes else (after, held)
    return {"changes": shown, "checkpoint": {"seq": seq, "chain": chain_value}, "more": seq < last,
            "platform": platform.name}


@router.get("/hashbank/stats", summary="Counts of the bank's entries by status, origin and category")
def stats(caller: Caller, request: Request) -> dict[str, Any]:
    """What the bank holds, without any hash."""
    node = node_of(request)
    with node.db.transaction(readonly=True) as uow:
        counts = bank.statistics(uow.session)
    matcher = _matcher(request).stats()
    counts["index"] = {"kind": matcher.kind, "seq": matcher.seq, "saved_seq": matcher.saved_seq,
                       "merging": matcher.merging, "entries": matcher.index.entries,
                       "delta_entries": matcher.index.delta_entries, "memory_bytes": matcher.index.memory_bytes}
    return counts
