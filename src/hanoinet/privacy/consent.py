"""Consent by envelope: asking the originating State to allow another use of evidence it sent, and answering.

``consent.request`` goes from the State holding received evidence to the desk that sent it, naming the items
(content hash and package), the use (another case, or onward transfer to a State or an organisation) and the
reason. ``consent.answer`` comes back granting or refusing, with conditions and a reason. Both are recorded
in the custody log on both nodes (docs/privacy.md, docs/protocol.md section 10). Once a grant is recorded,
:mod:`hanoinet.privacy.grants` lets the use through every interface.

An answer is checked against the request it answers: one for a request never sent, from a State other than
the one asked, for an item not asked about, or answering an item twice is refused, raises an alarm and is
recorded in the custody log, and grants nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import structlog
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from hanoinet import text
from hanoinet.clock import format_instant, now
from hanoinet.db.database import UnitOfWork
from hanoinet.db.models import ConsentItem, ConsentRequest, EvidenceFile, EvidenceOffer, EvidenceOfferFile
from hanoinet.errors import Conflict, EnvelopeRefused, NotFound, ValidationError
from hanoinet.evidence.service import record_custody_many
from hanoinet.ledger import log as ledger
from hanoinet.ledger.events import CustodyEvent, register_action
from hanoinet.network import inbox, kinds, outbox
from hanoinet.network.envelope import EnvelopePayload
from hanoinet.node import audit
from hanoinet.node.node import Node
from hanoinet.privacy.grants import grants, received
from hanoinet.privacy.use import Use, allowed, check_use
from hanoinet.states import check_address, split_address

log = structlog.get_logger("hanoinet.privacy.consent")

REQUEST_KIND = "consent.request"
ANSWER_KIND = "consent.answer"
for _action in ("consent_requested", "consent_granted", "consent_refused", "consent_answer_refused"):
    register_action(_action)
_UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


class ConsentSubject(BaseModel):
    """One item a consent is about: the content's SHA-256 and the package it was sent in."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    package: str = Field(pattern=_UUID)


class ConsentRequestBody(BaseModel):
    """Body of a ``consent.request`` envelope."""

    model_config = ConfigDict(extra="forbid", strict=True)

    request: str = Field(pattern=_UUID)
    items: list[ConsentSubject] = Field(min_length=1, max_length=1000)
    use: Literal["case", "transfer"]
    target: str = Field(min_length=1, max_length=128)
    reason: str = Field(min_length=1, max_length=5000)

    @model_validator(mode="after")
    def _use(self) -> ConsentRequestBody:
        check_use(self.use, self.target)
        if len(set(self.items)) != len(self.items):
            raise ValueError("an item is named twice")
        return self


class ConsentAnswerBody(BaseModel):
    """Body of a ``consent.answer`` envelope."""

    model_config = ConfigDict(extra="forbid", strict=True)

    request: str = Field(pattern=_UUID)
    items: list[ConsentSubject] = Field(min_length=1, max_length=1000)
    granted: bool
    conditions: list[str] = Field(max_length=50)
    reason: str = Field(min_length=1, max_length=5000)

    @model_validator(mode="after")
    def _items(self) -> ConsentAnswerBody:
        if len(set(self.items)) != len(self.items):
            raise ValueError("an item is named twice")
        for condition in self.conditions:
            if not 1 <= len(condition) <= 2000:
                raise ValueError("a condition is 1-2000 characters")
            text.check_line(condition, "condition")
        return self


REQUEST = kinds.register(kinds.MessageKind(
    REQUEST_KIND, ConsentRequestBody, "a request for consent to use received evidence in another case or send it "
    "on (Art. 36, 40)", direct=False))
ANSWER = kinds.register(kinds.MessageKind(
    ANSWER_KIND, ConsentAnswerBody, "the originating State's answer to a consent request", direct=False))


@dataclass(frozen=True, slots=True)
class Asked:
    """A consent request sent: its id, the envelope, where it went and how many items it names."""

    request_id: str
    message_id: str
    to: str
    items: int


# -- asking (the State that holds received evidence) -----------------------------------------------------


def request(node: Node, *, file_ids: Sequence[str], use: Use, reason: str, actor: str, desk: str,
            to: str | None = None, handles: Callable[[str | None], bool] | None = None) -> Asked:
    """Ask the originating State of received files to consent to ``use``; sent from our ``desk``.

    The request goes to the desk that sent the files (``to`` overrides it). Every file must have been received
    from the same State, and the use must be one that needs consent. With ``handles``, a file of a desk it
    refuses is answered as if it did not exist.
    """
    if not reason.strip():
        raise ValidationError("a consent request needs a reason (why the evidence is needed for this use)",
                              code="reason_required")
    if not file_ids:
        raise ValidationError("name at least one evidence file", code="files_required")
    t = now()
    request_id = str(uuid.uuid4())
    with node.db.transaction() as uow:
        rows = []
        for file_id in dict.fromkeys(file_ids):
            row = uow.session.get(EvidenceFile, file_id)
            if row is None or (handles is not None and not handles(row.desk)):
                raise NotFound(f"no evidence file {file_id} on this node", code="evidence_not_found")
            rows.append(row)
        items = []
        for row in rows:
            item = received(row, node.state)
            if item is None:
                raise ValidationError(f"evidence file {row.id} ({row.name}) is this State's own: its use needs no "
                                      "consent", code="consent_not_needed")
            if item.package is None:
                raise ValidationError(f"evidence file {row.id} does not record the package it came in, which the "
                                      f"originating State needs to identify it", code="consent_not_possible",
                                      hint="ask the originating State outside hanoinet, giving the file's SHA-256")
            items.append(item)
        origins = sorted({item.origin for item in items})
        if len(origins) > 1:
            raise ValidationError(f"the files come from several States ({', '.join(origins)}); each consents for "
                                  "its own", hint="send one request per State", code="several_origins")
        held = grants(uow.session, [item.sha256 for item in items])
        if all(allowed(item, use, held) for item in items):
            raise ValidationError(f"{use.describe()} of these files is already allowed (their original case, or a "
                                  "consent recorded)", code="consent_not_needed")
        origin = origins[0]
        address = to or _sender_address(rows, origin)
        check_address(address)
        if split_address(address)[0] != origin:
            raise ValidationError(f"the files came from {origin}: only {origin} can consent, not "
                                  f"{split_address(address)[0]}", code="consent_wrong_state")
        uow.session.add(ConsentRequest(id=request_id, direction="out", peer=origin, peer_address=address, desk=desk,
                                       use=use.kind, target=use.target, reason=reason, requested_at=t,
                                       requested_by=actor))
        for item in items:
            uow.session.add(ConsentItem(request_id=request_id, direction="out", sha256=item.sha256,
                                        package=item.package or "", file_id=item.file_id, status="asked"))
        cases = {row.id: row.case_ref for row in rows}
        record_custody_many(uow.session, [(item.file_id, CustodyEvent(
            action="consent_requested", at=format_instant(t), node=node.state, actor=actor, object_sha256=item.sha256,
            case=cases[item.file_id], detail={"file": item.file_id, "request": request_id, "to": origin,
                                              "use": use.kind, "target": use.target})) for item in items])
        body = ConsentRequestBody(request=request_id, use=use.kind, target=use.target, reason=reason,
                                  items=[ConsentSubject(sha256=i.sha256, package=i.package or "") for i in items])
        message = outbox.enqueue(node, uow, sender_desk=desk, recipient=address, kind=REQUEST_KIND,
                                 body=body.model_dump(mode="json"), case=rows[0].case_ref, actor=actor)
        message_id = message.message_id
    node.outbox_committed()
    log.info("consent requested", request=request_id, to=address, items=len(items))
    return Asked(request_id, message_id, address, len(items))


def _sender_address(rows: Sequence[EvidenceFile], origin: str) -> str:
    senders = sorted({row.origin_sender for row in rows if row.origin_sender and "/" in row.origin_sender})
    if not senders:
        raise ValidationError(f"this node does not record which desk of {origin} sent the files",
                              hint=f"name the desk to ask: --ask {origin}/DESK (API: \"to\")",
                              code="consent_address_required")
    return senders[0]


def _on_answer(node: Node, uow: UnitOfWork, payload: EnvelopePayload, received_at: datetime) -> None:
    body = ConsentAnswerBody.model_validate(payload.body)
    sender, _ = split_address(payload.sender)
    session = uow.session
    # Locked: two answers to one request, received at once, must not both find its items still asked.
    asked = session.get(ConsentRequest, (body.request, "out"), with_for_update=True)
    items = {} if asked is None else {(i.sha256, i.package): i for i in session.scalars(select(ConsentItem).where(
        ConsentItem.request_id == body.request, ConsentItem.direction == "out"))}
    named = [(i.sha256, i.package) for i in body.items]
    problem: tuple[str, str] | None = None
    if asked is None:
        problem = ("consent_unknown_request", f"{payload.sender} answered consent request {body.request}, which "
                   "this node never sent")
    elif sender != asked.peer:
        problem = ("consent_wrong_state", f"{payload.sender} answered consent request {body.request}, which asked "
                   f"{asked.peer}: only the State that sent the evidence can consent")
    elif payload.sender != asked.peer_address:
        # The desk asked answers, not another desk of the same State (which would not hold the files).
        problem = ("consent_wrong_desk", f"{payload.sender} answered consent request {body.request}, which asked "
                   f"{asked.peer_address}: only the desk asked can answer")
    elif unknown := [sha for sha, package in named if (sha, package) not in items]:
        problem = ("consent_unknown_item", f"{payload.sender}'s answer to consent request {body.request} names "
                   f"{len(unknown)} item(s) the request did not ask about (SHA-256 {', '.join(unknown[:3])})")
    elif answered := [sha for sha, package in named if items[(sha, package)].status != "asked"]:
        problem = ("consent_answered", f"{payload.sender} answered again for {len(answered)} item(s) of consent "
                   f"request {body.request} already answered")
    t = format_instant(received_at)
    if problem is not None:
        code, message = problem
        # The envelope is kept (it is evidence of what the peer sent) but grants nothing.
        audit.alarm(session, code=code, message=f"consent answer refused: {message}",
                    desk=asked.desk if asked is not None else None,
                    detail={"message_id": payload.id, "request": body.request, "from": payload.sender})
        ledger.record(session, CustodyEvent(
            action="consent_answer_refused", at=t, node=node.state, actor=f"peer:{sender}", case=payload.case,
            detail={"request": body.request, "message_id": payload.id, "from": sender, "code": code}))
        log.warning("consent answer refused", code=code, request=body.request, sender=payload.sender)
        return
    assert asked is not None
    status = "granted" if body.granted else "refused"
    events = []
    for key in named:
        item = items[key]
        item.status, item.conditions, item.answer_reason = status, json.dumps(body.conditions), body.reason
        item.answered_at, item.answered_by = received_at, f"peer:{sender}"
        if (event := _answer_event(session, node, item, asked, at=t, actor=f"peer:{sender}")) is not None:
            events.append(event)
    record_custody_many(session, events)


def _answer_event(session: Session, node: Node, item: ConsentItem, asked: ConsentRequest, *, at: str,
                  actor: str) -> tuple[str, CustodyEvent] | None:
    """The ``consent_granted`` or ``consent_refused`` record of the local file an answered item names."""
    row = session.get(EvidenceFile, item.file_id) if item.file_id is not None else None
    if row is None:
        return None
    detail: dict[str, str | int | bool] = {"file": row.id, "request": asked.id, "use": asked.use,
                                           "target": asked.target}
    if item.status == "granted":
        event = CustodyEvent(action="consent_granted", at=at, node=node.state, actor=actor,
                             object_sha256=item.sha256, case=row.case_ref, detail=detail)
    else:
        event = CustodyEvent(action="consent_refused", at=at, node=node.state, actor=actor,
                             object_sha256=item.sha256, case=row.case_ref, detail=detail)
    return row.id, event


# -- answering (the originating State) ------------------------------------------------------------------


def _on_request(node: Node, uow: UnitOfWork, payload: EnvelopePayload, received_at: datetime) -> None:
    body = ConsentRequestBody.model_validate(payload.body)
    sender, _ = split_address(payload.sender)
    _, desk = split_address(payload.recipient)
    session = uow.session
    if session.get(ConsentRequest, (body.request, "in")) is not None:
        raise Conflict(f"consent request {body.request} was already received", code="consent_request_exists")
    originals: list[tuple[ConsentSubject, EvidenceFile]] = []
    for item in body.items:
        file_id = session.scalar(select(EvidenceOfferFile.file_id).join(
            EvidenceOffer, (EvidenceOffer.id == EvidenceOfferFile.offer_id)
            & (EvidenceOffer.direction == EvidenceOfferFile.direction)).where(
            EvidenceOfferFile.offer_id == item.package, EvidenceOfferFile.direction == "out",
            EvidenceOfferFile.sha256 == item.sha256, EvidenceOffer.peer == sender))
        original = session.get(EvidenceFile, file_id) if file_id is not None else None
        if original is None:
            raise EnvelopeRefused(f"consent request {body.request} names an item this State never sent to {sender} "
                                  f"(SHA-256 {item.sha256} in package {item.package})", code="consent_unknown_item")
        originals.append((item, original))
    session.add(ConsentRequest(id=body.request, direction="in", peer=sender, peer_address=payload.sender, desk=desk,
                               use=body.use, target=body.target, reason=body.reason, requested_at=received_at,
                               requested_by=f"peer:{sender}"))
    for item, original in originals:
        session.add(ConsentItem(request_id=body.request, direction="in", sha256=item.sha256, package=item.package,
                                file_id=original.id, status="asked"))
    t = format_instant(received_at)
    record_custody_many(session, [(original.id, CustodyEvent(
        action="consent_requested", at=t, node=node.state, actor=f"peer:{sender}", object_sha256=item.sha256,
        case=original.case_ref, detail={"file": original.id, "request": body.request, "from": sender,
                                        "use": body.use, "target": body.target}))
        for item, original in originals])


def answer(node: Node, request_id: str, *, granted: bool, reason: str, actor: str,
           conditions: Sequence[str] = (), sha256s: Sequence[str] | None = None,
           handles: Callable[[str | None], bool] | None = None) -> str:
    """Grant or refuse a consent request received, for all its items or those named; returns the envelope id.

    The answer leaves from the desk the request was addressed to. With ``handles``, a request of a desk it
    refuses is answered as if it did not exist.
    """
    if not reason.strip():
        raise ValidationError("an answer needs a reason (a refusal must say why, Art. 40)", code="reason_required")
    t = now()
    with node.db.transaction() as uow:
        asked = uow.session.get(ConsentRequest, (request_id, "in"), with_for_update=True)
        if asked is None or (handles is not None and not handles(asked.desk)):
            raise NotFound(f"no consent request {request_id} was received" + (
                "" if handles is None else " for your desk"), code="consent_request_not_found")
        items = list(uow.session.scalars(select(ConsentItem).where(
            ConsentItem.request_id == request_id, ConsentItem.direction == "in").order_by(ConsentItem.sha256)))
        if sha256s is not None:
            unknown = sorted(set(sha256s) - {i.sha256 for i in items})
            if unknown:
                raise ValidationError(f"consent request {request_id} does not ask about {', '.join(unknown)}",
                                      code="consent_unknown_item", hint="answer only the items the request names "
                                      "(`hanoinet evidence consent list`)")
            items = [i for i in items if i.sha256 in set(sha256s)]
        done = [i.sha256 for i in items if i.status != "asked"]
        if done:
            raise Conflict(f"consent request {request_id} was already answered for {', '.join(done)}",
                           code="consent_answered")
        if not items:
            raise ValidationError(f"consent request {request_id} names no item to answer", code="consent_unknown_item")
        status = "granted" if granted else "refused"
        for item in items:
            item.status, item.conditions, item.answer_reason = status, json.dumps(list(conditions)), reason
            item.answered_at, item.answered_by = t, actor
        record_custody_many(uow.session, [event for item in items if (event := _answer_event(
            uow.session, node, item, asked, at=format_instant(t), actor=actor)) is not None])
        body = ConsentAnswerBody(request=request_id, granted=granted, conditions=list(conditions), reason=reason,
                                 items=[ConsentSubject(sha256=i.sha256, package=i.package) for i in items])
        message = outbox.enqueue(node, uow, sender_desk=asked.desk or node.settings.desks[0].id,
                                 recipient=asked.peer_address, kind=ANSWER_KIND, body=body.model_dump(mode="json"),
                                 actor=actor)
        message_id = message.message_id
    node.outbox_committed()
    log.info("consent answered", request=request_id, granted=granted, items=len(items))
    return message_id


# -- listing ----------------------------------------------------------------------------------------------


def list_requests(node: Node, *, readable: Callable[[str | None], bool] | None = None,
                  limit: int = 500) -> list[dict[str, Any]]:
    """Consent requests sent (``out``) and received (``in``), newest first, each with its items' answers."""
    with node.db.transaction(readonly=True) as uow:
        rows = uow.session.scalars(select(ConsentRequest).order_by(ConsentRequest.requested_at.desc(),
                                                                   ConsentRequest.id).limit(limit))
        return [_as_json(uow.session, row) for row in rows if readable is None or readable(row.desk)]


def _as_json(session: Session, row: ConsentRequest) -> dict[str, Any]:
    items = session.scalars(select(ConsentItem).where(ConsentItem.request_id == row.id,
                                                      ConsentItem.direction == row.direction)
                            .order_by(ConsentItem.sha256)).all()
    statuses = {i.status for i in items}
    return {
        "request": row.id, "direction": row.direction, "peer": row.peer, "peer_address": row.peer_address,
        "desk": row.desk, "use": row.use, "target": row.target, "reason": row.reason,
        "requested_at": format_instant(row.requested_at), "requested_by": row.requested_by,
        "status": statuses.pop() if len(statuses) == 1 else "partly answered",
        "items": [{"sha256": i.sha256, "package": i.package, "file": i.file_id, "status": i.status,
                   "conditions": json.loads(i.conditions) if i.conditions else [], "reason": i.answer_reason,
                   "answered_at": format_instant(i.answered_at) if i.answered_at else None,
                   "answered_by": i.answered_by} for i in items]}


inbox.on_receive(REQUEST_KIND, _on_request)
inbox.on_receive(ANSWER_KIND, _on_answer)
