"""One case, everything in it: the requests, evidence files, packages, custody and consents filed under a case.

A case is not owned by any one part of the node: requests (``hanoinet.requests``), evidence and packages
(``hanoinet.evidence``), custody (``hanoinet.ledger``) and consent (``hanoinet.privacy``) each carry a case
reference of their own. This module reads them together, so it sits beside them and none of them imports it.
Like ``hanoinet.requests.views`` it knows nothing of HTTP: the API returns :func:`show` and the command line
prints it.

What belongs to a case reference ``CASE`` (docs/mla.md, "One case, everything in it"):

- **requests** filed under ``CASE`` on this node: ours, and those received, which carry the requesting State's
  case; and the requests **linked** to those, transitively (at most :data:`MAX_LINKED`, :data:`MAX_DEPTH` links
  away): the preservation an MLA request names in ``preservation_ref`` (Art. 42, 44), the requests it lists in
  ``earlier_requests`` (Art. 40), the MLA request a preservation was followed up by (``follow_up``), and, the
  other way, the requests that name one of these;
- **evidence files** filed under ``CASE`` or received from another State for ``CASE``;
- **packages** offered or received under ``CASE``, or carrying its files;
- the **custody** of each file: how many records, and the newest :data:`LATEST_CUSTODY` of them;
- the **consent** requests and answers about its files, or for their use in ``CASE``.

Only what the officer may read is there (docs/authorisation.md): another desk's item is left out, not
replaced by a placeholder, and links are followed only through requests the officer may read. A case of
which the officer may read nothing is answered as if it did not exist.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from hanoinet.clock import format_instant
from hanoinet.db.models import (
    ConsentItem,
    ConsentRequest,
    EvidenceCustody,
    EvidenceFile,
    EvidenceOffer,
    EvidenceOfferFile,
    LedgerEntry,
    LedgerQueued,
    RequestEventRecord,
    RequestRecord,
)
from hanoinet.errors import Forbidden, NotFound
from hanoinet.evidence.service import EvidenceItem, check_case
from hanoinet.node.node import Node
from hanoinet.node.officers import Principal
from hanoinet.requests import views
from hanoinet.requests.machine import Action, Side
from hanoinet.requests.records import our_desk

#: At most this many requests are pulled in through links, however long the chain.
MAX_LINKED = 50
#: ... and none further than this many links from a request filed under the case.
MAX_DEPTH = 4
#: The newest custody records shown per file (all are counted).
LATEST_CUSTODY = 5
#: At most this many requests filed under the case, files, packages and consent requests are shown; ``more``
#: says when there are others.
MAX_ITEMS = 500
#: A request's reference as the node gives it (docs/protocol.md section 10.2), inside free text.
_REF = re.compile(r"\b[A-Z]{3}-[0-9]{4}-[0-9]{4,8}\b")
#: The fields of a request that name other requests of the same matter.
_LINK_FIELDS = ("preservation_ref", "earlier_requests")


def show(node: Node, principal: Principal, case: str) -> dict[str, Any]:
    """Everything of ``case`` the officer may read; ``case_not_found`` if that is nothing."""
    check_case(case)
    if principal.confined:
        raise Forbidden(f"role {principal.role} reads no desk's work",
                        hint="ask the node operator for an account with a desk role")
    with node.db.transaction(readonly=True) as uow:
        session = uow.session
        requests, more_requests = _requests(node, session, principal, case)
        files, more_files = _files(session, principal, case)
        offers, more_offers = _offers(session, principal, case, [f["id"] for f in files])
        consents, more_consents = _consents(session, principal, case, [f["id"] for f in files])
    if not (requests or files or offers or consents):
        # The same answer whether the case is unknown or only another desk's: existence is not disclosed.
        raise NotFound(f"no case {case!r} that your desk can see on this node", code="case_not_found",
                       hint="check the case reference; `hanoinet request list` shows your desk's requests and "
                            "their cases")
    return {"case": case, "requests": requests, "evidence": files, "packages": offers, "consents": consents,
            "more": {"requests": more_requests, "evidence": more_files, "packages": more_offers,
                     "consents": more_consents}}


# -- requests -------------------------------------------------------------------------------------------


def _requests(node: Node, session: Session, principal: Principal,
              case: str) -> tuple[list[dict[str, Any]], bool]:
    """The case's requests, then those linked to them, breadth first, each with how it came in."""
    found: dict[str, tuple[RequestRecord, str]] = {}
    query = select(RequestRecord).where(RequestRecord.case_ref == case)
    if not principal.reads_every_desk:
        # In the query, so that the limit counts only what the officer may see.
        ours = f"{node.state}/{principal.desk}"
        query = query.where(((RequestRecord.side == Side.REQUESTING.value) & (RequestRecord.requesting == ours))
                            | ((RequestRecord.side == Side.REQUESTED.value) & (RequestRecord.requested == ours)))
    filed = list(session.scalars(query.order_by(RequestRecord.created_at, RequestRecord.ref).limit(MAX_ITEMS + 1)))
    frontier = [row for row in filed[:MAX_ITEMS] if _readable(principal, row)]
    for row in frontier:
        found[row.ref] = (row, "filed under the case")
    linked = 0
    for _ in range(MAX_DEPTH):
        following: list[RequestRecord] = []
        for row in frontier:
            for other, how in _links(session, row):
                if other.ref in found or linked >= MAX_LINKED or not _readable(principal, other):
                    continue
                found[other.ref] = (other, how)
                following.append(other)
                linked += 1
        frontier = following
        if not frontier:
            break
    return [_request(node, session, row, how) for row, how in found.values()], len(filed) > MAX_ITEMS


def _readable(principal: Principal, row: RequestRecord) -> bool:
    return principal.can_read_desk(our_desk(row))


def _named(row: RequestRecord) -> set[str]:
    """The references ``row``'s linking fields name."""
    values = json.loads(row.fields)
    named: set[str] = set()
    for name in _LINK_FIELDS:
        value = values.get(name)
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str):
                named.update(_REF.findall(text))
    named.discard(row.ref)
    return named


def _links(session: Session, row: RequestRecord) -> Iterable[tuple[RequestRecord, str]]:
    """The requests ``row`` names and that name ``row``, with how each is linked."""
    named = _named(row)
    if named:
        for other in session.scalars(select(RequestRecord).where(RequestRecord.ref.in_(sorted(named)))
                                     .order_by(RequestRecord.ref)):
            yield other, f"named by {row.ref}"
    # The other way: a text search narrows the candidates, the same parsing as above decides.
    for other in session.scalars(select(RequestRecord).where(RequestRecord.fields.contains(row.ref),
                                                             RequestRecord.id != row.id)
                                 .order_by(RequestRecord.ref).limit(MAX_LINKED)):
        if row.ref in _named(other):
            yield other, f"names {row.ref}"
    # A preservation followed up by an MLA request (Art. 42): the follow_up names it, in either direction.
    follow_ups = session.scalars(select(RequestEventRecord).where(
        RequestEventRecord.action == Action.FOLLOW_UP.value,
        or_(RequestEventRecord.request_id == row.id, RequestEventRecord.data.contains(row.ref)))
        .order_by(RequestEventRecord.id).limit(MAX_LINKED))
    for event in follow_ups:
        mla_ref = json.loads(event.data).get("mla_ref")
        if event.request_id == row.id and isinstance(mla_ref, str):
            follow = session.scalar(select(RequestRecord).where(RequestRecord.ref == mla_ref))
            if follow is not None:
                yield follow, f"follows up {row.ref}"
        elif mla_ref == row.ref and (preserved := session.get(RequestRecord, event.request_id)) is not None:
            yield preserved, f"followed up by {row.ref}"


def _request(node: Node, session: Session, row: RequestRecord, how: str) -> dict[str, Any]:
    """A request's line in the case: kind and article, state, the other State, its clocks."""
    full = views.view(node, session, row)
    other = row.requested if row.side == Side.REQUESTING else row.requesting
    return {key: full[key] for key in ("ref", "kind", "kind_title", "article", "side", "requesting", "requested",
                                        "priority", "state", "case", "confidential", "do_not_notify", "sent_at",
                                        "received_at", "updated_at")} | {
        "other": other, "linked": how,
        "clocks": [{k: c[k] for k in ("name", "label", "status", "due", "remaining_seconds")} for c in full["clocks"]]}


# -- evidence files and their custody -------------------------------------------------------------------


def _desk_filter(principal: Principal, column: Any) -> Any:
    """The SQL condition of the rows of desks the officer reads (every desk for supervisors and admins)."""
    return None if principal.reads_every_desk else column == principal.desk


def _files(session: Session, principal: Principal, case: str) -> tuple[list[dict[str, Any]], bool]:
    query = select(EvidenceFile).where(or_(EvidenceFile.case_ref == case, EvidenceFile.origin_case == case))
    if (mine := _desk_filter(principal, EvidenceFile.desk)) is not None:
        query = query.where(mine)
    rows = list(session.scalars(query.order_by(EvidenceFile.ingested_at, EvidenceFile.id).limit(MAX_ITEMS + 1)))
    custody = _custody(session, [row.id for row in rows[:MAX_ITEMS]])
    shown = []
    for row in rows[:MAX_ITEMS]:
        item = EvidenceItem.of(row).as_json()
        shown.append({**item, "shredded": row.shredded_at is not None, "custody": custody[row.id]})
    return shown, len(rows) > MAX_ITEMS


def _custody(session: Session, file_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Per file: how many custody records, and the newest :data:`LATEST_CUSTODY` (action, actor, time)."""
    counts = dict(session.execute(select(EvidenceCustody.file_id, func.count()).where(
        EvidenceCustody.file_id.in_(file_ids)).group_by(EvidenceCustody.file_id)).all())
    latest = {file_id: list(session.scalars(select(EvidenceCustody).where(EvidenceCustody.file_id == file_id)
                                            .order_by(EvidenceCustody.id.desc()).limit(LATEST_CUSTODY)))
              for file_id in file_ids}
    entries = [e.entry for events in latest.values() for e in events]
    records = dict(session.execute(select(LedgerEntry.entry, LedgerEntry.record)
                                   .where(LedgerEntry.entry.in_(entries))).all())
    records |= dict(session.execute(select(LedgerQueued.entry, LedgerQueued.record)
                                    .where(LedgerQueued.entry.in_([e for e in entries if e not in records])))
                    .all())
    return {file_id: {"count": counts.get(file_id, 0), "latest": [
        {"action": e.action, "actor": _actor(records.get(e.entry)), "at": format_instant(e.at)} for e in events]}
        for file_id, events in latest.items()}


def _actor(record: str | None) -> str | None:
    """Who a custody record names; None once it was redacted (docs/ledger.md)."""
    if record is None:
        return None
    actor = json.loads(record).get("actor")
    return actor if isinstance(actor, str) else None


# -- packages -------------------------------------------------------------------------------------------


def _offers(session: Session, principal: Principal, case: str,
            file_ids: list[str]) -> tuple[list[dict[str, Any]], bool]:
    carrying = select(EvidenceOfferFile.offer_id).where(EvidenceOfferFile.file_id.in_(file_ids))
    query = select(EvidenceOffer).where(or_(EvidenceOffer.case_ref == case, EvidenceOffer.id.in_(carrying)))
    if (mine := _desk_filter(principal, EvidenceOffer.desk)) is not None:
        query = query.where(mine)
    rows = list(session.scalars(query.order_by(EvidenceOffer.created_at, EvidenceOffer.id).limit(MAX_ITEMS + 1)))
    shown = []
    for o in rows[:MAX_ITEMS]:
        files = session.scalars(select(EvidenceOfferFile).where(
            EvidenceOfferFile.offer_id == o.id, EvidenceOfferFile.direction == o.direction)).all()
        purpose = _purpose(o)
        shown.append({
            "package": o.id, "direction": "sent" if o.direction == "out" else "received", "peer": o.peer,
            "case": o.case_ref, "status": o.status, "created_at": format_instant(o.created_at),
            "completed_at": format_instant(o.completed_at) if o.completed_at else None, "purpose": purpose,
            "files": len(files), "here": sum(1 for f in files if f.file_id is not None),
            # Received: every file pulled, each authenticated chunk by chunk and its SHA-256 matching the package.
            "verified": o.status == "complete" if o.direction == "in" else None, "error": o.error})
    return shown, len(rows) > MAX_ITEMS


def _purpose(offer: EvidenceOffer) -> str | None:
    """The purpose the package's use conditions state (``package.json``)."""
    try:
        described = json.loads(base64.b64decode(json.loads(offer.head)["package.json"]))
        return str(described["use_conditions"]["purpose"])
    except (ValueError, KeyError, TypeError):
        return None


# -- consents -------------------------------------------------------------------------------------------


def _consents(session: Session, principal: Principal, case: str,
              file_ids: list[str]) -> tuple[list[dict[str, Any]], bool]:
    about = select(ConsentItem.request_id).where(ConsentItem.file_id.in_(file_ids))
    query = select(ConsentRequest).where(or_(ConsentRequest.id.in_(about),
                                             (ConsentRequest.use == "case") & (ConsentRequest.target == case)))
    if (mine := _desk_filter(principal, ConsentRequest.desk)) is not None:
        query = query.where(mine)
    rows = list(session.scalars(query.order_by(ConsentRequest.requested_at, ConsentRequest.id)
                                .limit(MAX_ITEMS + 1)))
    shown = []
    for row in rows[:MAX_ITEMS]:
        items = session.scalars(select(ConsentItem).where(ConsentItem.request_id == row.id,
                                                          ConsentItem.direction == row.direction)
                                .order_by(ConsentItem.sha256)).all()
        statuses = {i.status for i in items}
        shown.append({
            "request": row.id, "direction": "sent" if row.direction == "out" else "received", "peer": row.peer,
            "use": row.use, "target": row.target, "requested_at": format_instant(row.requested_at),
            "status": statuses.pop() if len(statuses) == 1 else "partly answered",
            "items": [{"sha256": i.sha256, "file": i.file_id, "status": i.status,
                       "answered_at": format_instant(i.answered_at) if i.answered_at else None} for i in items]})
    return shown, len(rows) > MAX_ITEMS
