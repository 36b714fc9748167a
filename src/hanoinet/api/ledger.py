"""``/federation/v1/ledger``: the custody log for witnesses, peers and courts (docs/ledger.md).

Static-style paths, as c2sp.org/tlog-tiles lays them out, so that standard tlog tools can read the log:
``checkpoint``, ``tile/<L>/<N>[.p/<W>]`` and ``tile/entries/<N>[.p/<W>]``; plus JSON proofs for clients
that do not fetch tiles, and the log's verifier key. ``/api/v1/ledger`` gives officers the log's status.
"""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from hanoinet.api.inputs import CheckedRoute
from hanoinet.api.officers import Officer
from hanoinet.api.problems import problem_responses
from hanoinet.clock import format_instant
from hanoinet.db.models import (
    EvidenceCustody,
    EvidenceFile,
    InboxMessage,
    LedgerCosignature,
    LedgerEntry,
    OutboxMessage,
    WitnessState,
)
from hanoinet.errors import NotFound
from hanoinet.ledger import log, witnessing
from hanoinet.ledger.tiles import EntryBundle, Tile, encode_entry_bundle, parse_tile_path
from hanoinet.node.node import Node
from hanoinet.states import split_address

router = APIRouter(route_class=CheckedRoute, tags=["ledger"])
_IMMUTABLE = {"cache-control": "public, max-age=604800, immutable"}


class OctetResponse(Response):
    """Bytes, as the OpenAPI document declares them."""

    media_type = "application/octet-stream"


def _node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@router.get("/federation/v1/ledger/checkpoint", summary="The newest signed checkpoint (C2SP signed note)",
            response_class=PlainTextResponse,
            responses=problem_responses({404: "the log has no checkpoint yet (no_checkpoint)"}))
def checkpoint(request: Request) -> Response:
    """The checkpoint as ``text/plain``; witnesses cosign it after checking consistency."""
    with _node(request).db.transaction(readonly=True) as uow:
        note = witnessing.served_checkpoint(uow.session)
    if note is None:
        raise NotFound("the log has no checkpoint yet", code="no_checkpoint")
    return Response(note, media_type="text/plain; charset=utf-8", headers={"cache-control": "no-store"})


class CosignatureIn(BaseModel):
    """A witness's cosignature of one of our checkpoints."""

    model_config = ConfigDict(extra="forbid")

    witness: str = Field(pattern=r"^[A-Z]{3}$", description="the witnessing State")
    size: int = Field(ge=1, lt=2**63, description="the size of the checkpoint cosigned")
    line: str = Field(max_length=1000, description="the signature line (c2sp.org/tlog-cosignature)")


class ReportIn(BaseModel):
    """Two checkpoints of this log that a witness holds and that contradict each other."""

    model_config = ConfigDict(extra="forbid")

    witness: str = Field(pattern=r"^[A-Z]{3}$")
    verdict: str = Field(max_length=16)
    previous: str = Field(max_length=100_000)
    current: str = Field(max_length=100_000)


@router.post("/federation/v1/ledger/cosignatures", status_code=204, summary="Give a cosignature of a checkpoint")
async def cosignature(body: CosignatureIn, request: Request) -> Response:
    """Verified with the witness State's key from the directory, then served with the checkpoint."""
    await run_in_threadpool(witnessing.accept_cosignature, _node(request), body.witness, body.size, body.line)
    return Response(status_code=204)


@router.post("/federation/v1/ledger/reports", summary="Report two contradicting checkpoints of this log")
async def report(body: ReportIn, request: Request) -> dict[str, str]:
    """Accepted only if both carry this log's signature and show a fork or a shrink; raises an alarm."""
    kind = await run_in_threadpool(witnessing.accept_report, _node(request), body.witness, body.previous,
                                   body.current)
    return {"alarm": kind}


@router.get("/federation/v1/ledger/witnessed/{state}", summary="The last checkpoint of a State's log we verified",
            response_class=PlainTextResponse)
def witnessed(state: Annotated[str, Path(pattern=r"^[A-Z]{3}$")], request: Request) -> Response:
    """As a witness: ``state``'s own signed checkpoint as we last verified it (a restored node asks this)."""
    with _node(request).db.transaction(readonly=True) as uow:
        row = uow.session.get(WitnessState, state)
        if row is None:
            raise NotFound(f"this node has not witnessed the log of {state}", code="not_witnessed")
        return Response(row.note, media_type="text/plain; charset=utf-8", headers={"cache-control": "no-store"})


@router.get("/federation/v1/ledger/key", summary="The verifier key of this log's checkpoints",
            response_class=PlainTextResponse)
def key(request: Request) -> Response:
    """``<name>+<key id>+<key>`` (signed-note verifier key), to pin next to the directory's keys."""
    return Response(log.verifier(_node(request)).vkey + "\n", media_type="text/plain; charset=utf-8")


@router.get("/federation/v1/ledger/tile/{path:path}", summary="A tile or entry bundle (c2sp.org/tlog-tiles)",
            response_class=OctetResponse)
def tile(path: str, request: Request) -> Response:
    """Full tiles never change and are cacheable; partial tiles (``.p/W``) grow into full ones."""
    item = parse_tile_path("tile/" + path)
    node = _node(request)
    with node.db.transaction(readonly=True) as uow:
        if isinstance(item, EntryBundle):
            data = _bundle(uow.session, item)
        else:
            data = log.tile_data(uow.session, Tile(level=item.level, index=item.index, width=item.width))
    return Response(data, media_type="application/octet-stream", headers={} if item.partial else _IMMUTABLE)


def _bundle(session: Session, bundle: EntryBundle) -> bytes:
    rows = session.scalars(select(LedgerEntry.entry).where(
        LedgerEntry.idx >= bundle.start_index, LedgerEntry.idx < bundle.start_index + bundle.width,
    ).order_by(LedgerEntry.idx)).all()
    if len(rows) != bundle.width:
        raise NotFound(f"entry bundle {bundle.path} does not exist (yet)", code="tile_missing")
    return encode_entry_bundle(list(rows))


@router.get("/federation/v1/ledger/proof/inclusion", summary="Inclusion proof of one entry",
            responses=problem_responses({404: "the log has no such entry, or has not reached the size "
                                              "(entry_missing, size_missing)"}))
def inclusion(
    request: Request,
    index: Annotated[int, Query(ge=0, lt=2**63)],
    size: Annotated[int, Query(ge=1, lt=2**63)],
) -> dict[str, Any]:
    """The entry (base64 of its 32 bytes) and the proof hashes (base64), RFC 9162 section 2.1.3."""
    with _node(request).db.transaction(readonly=True) as uow:
        entry, proof = log.inclusion(uow.session, index, size)
    return {"index": index, "size": size, "entry": _b64(entry), "proof": [_b64(h) for h in proof]}


@router.get("/federation/v1/ledger/proof/consistency", summary="Consistency proof between two sizes",
            responses=problem_responses({404: "the log has not reached one of the sizes (size_missing)"}))
def consistency(
    request: Request,
    old: Annotated[int, Query(ge=1, lt=2**63)],
    new: Annotated[int, Query(ge=1, lt=2**63)],
) -> dict[str, Any]:
    """The proof hashes (base64), RFC 9162 section 2.1.4."""
    with _node(request).db.transaction(readonly=True) as uow:
        proof = log.consistency(uow.session, old, new)
    return {"old": old, "new": new, "proof": [_b64(h) for h in proof]}


@router.get("/api/v1/ledger", tags=["officers"], summary="The custody log's status")
async def status(officer: Officer, request: Request) -> dict[str, Any]:
    """Size, the newest checkpoint and the log's verifier key."""
    return await run_in_threadpool(_status, _node(request))


def _status(node: Node) -> dict[str, Any]:
    with node.db.transaction(readonly=True) as uow:
        latest = log.latest_checkpoint(uow.session)
        queued = log.queued(uow.session)
        witnesses = [] if latest is None else list(uow.session.scalars(
            select(LedgerCosignature.witness).where(LedgerCosignature.size == latest.size)
            .order_by(LedgerCosignature.witness)))
        watched = [{"peer": w.peer, "size": w.size, "root": _b64(w.root),
                    "checked_at": format_instant(w.updated_at)}
                   for w in uow.session.scalars(select(WitnessState).order_by(WitnessState.peer))]
        return {
            "origin": log.origin(node), "size": log.size(uow.session), "queued": queued,
            "cosigned_by": witnesses, "witnessing": watched,
            "verifier_key": log.verifier(node).vkey,
            "checkpoint": None if latest is None else {
                "size": latest.size, "root": _b64(latest.root), "signed_at": format_instant(latest.signed_at),
                "note": latest.note,
            },
        }


@router.get("/api/v1/ledger/entries/{index}", tags=["officers"], summary="One custody record and its proof")
def entry(index: Annotated[int, Path(ge=0, lt=2**63)], officer: Officer, request: Request) -> dict[str, Any]:
    """The record (unless redacted, or withheld: another desk's), its entry hash, and its inclusion proof in the
    newest checkpoint."""
    node = _node(request)
    with node.db.transaction(readonly=True) as uow:
        latest = log.latest_checkpoint(uow.session)
        row = uow.session.get(LedgerEntry, index)
        if row is None or latest is None or index >= latest.size:
            raise NotFound(f"no custody entry {index} under a checkpoint yet", code="entry_missing")
        _, proof = log.inclusion(uow.session, index, latest.size)
        record = row.record
        shown: dict[str, Any] = {}
        owned, desk = (False, None) if record is None else record_desk(uow.session, row.entry, record)
        if owned and not officer.can_read_desk(desk):
            # The leaf and its proof stay: the log is public to verification; what the record says is the desk's.
            record = None
            shown["withheld"] = "the record belongs to another desk; its entry and proof are shown"
        return {"index": index, "record": record, "entry": _b64(row.entry), "size": latest.size,
                "proof": [_b64(h) for h in proof], "checkpoint": latest.note, "origin": log.origin(node),
                "verifier_key": log.verifier(node).vkey, **shown}


def record_desk(session: Session, entry: bytes, record: str) -> tuple[bool, str | None]:
    """Whether a custody record belongs to a desk, and which (docs/authorisation.md): the desk of the evidence file
    it is about (None for a file held before desks were recorded), or of the envelope (the sending desk of one we
    sent, the addressed desk of one we received). ``(False, None)``: a record of no desk's work."""
    held = session.execute(select(EvidenceFile.desk).join(EvidenceCustody, EvidenceCustody.file_id == EvidenceFile.id)
                           .where(EvidenceCustody.entry == entry)).first()
    if held is not None:
        return True, held[0]
    try:
        parsed = json.loads(record)
        action, message_id = parsed["action"], parsed["detail"]["message_id"]
    except (ValueError, KeyError, TypeError):
        return False, None
    address = (session.scalar(select(OutboxMessage.sender).where(OutboxMessage.message_id == message_id))
               if action == "sent" else
               session.scalar(select(InboxMessage.recipient).where(InboxMessage.message_id == message_id))
               if action == "received" else None)
    return (False, None) if address is None else (True, split_address(address)[1])
