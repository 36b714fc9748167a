"""``/api/v1/evidence``: evidence for officers (resumable uploads, offers to other States); and
``/federation/v1/evidence``: the signed, ranged pulls of offered files by the receiving State (docs/evidence.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask

from hanoinet.api.inputs import CheckedRoute, Line
from hanoinet.api.officers import Officer
from hanoinet.api.privacy import Reason, record_reads, require_reason
from hanoinet.api.problems import problem_responses
from hanoinet.clock import format_instant, now, parse_rfc3339
from hanoinet.errors import NotFound, ValidationError
from hanoinet.evidence import transfer
from hanoinet.evidence.package import UseConditions
from hanoinet.evidence.service import EvidenceService
from hanoinet.evidence.uploads import MAX_PIECE, Uploads
from hanoinet.node.officers import Principal
from hanoinet.node.roles import Role
from hanoinet.privacy import consent, retention
from hanoinet.privacy.use import check_use

router = APIRouter(route_class=CheckedRoute, tags=["evidence"])

#: What a pull of an offer is refused with when its capability or signature is not right (docs/evidence.md).
_PULL_REFUSALS = {403: "no capability, or one that is invalid, expired, for another offer or badly signed "
                       "(capability_missing, capability_invalid, capability_expired, capability_mismatch)"}
_ID = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
_PACKAGE = Annotated[str, Path(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]


#: Who may add, change or send evidence; a supervisor sees everything but only reads.
_HANDLERS = (Role.DUTY_OFFICER, Role.CENTRAL_AUTHORITY, Role.EXAMINER, Role.ADMIN)


def _owner(officer: Principal) -> str | None:
    """Whose uploads the officer may act on: their own, or (an administrator) anyone's."""
    return None if officer.role == Role.ADMIN else officer.actor


def _service(request: Request) -> EvidenceService:
    service: EvidenceService = request.app.state.evidence
    return service


class NewUpload(BaseModel):
    """A file to upload in pieces."""

    model_config = ConfigDict(extra="forbid")

    case: Line = Field(max_length=128, description="the case reference; the case is opened on first use")
    name: Line = Field(max_length=255, description="the file's name")
    size: int = Field(ge=0, lt=2**63, description="the file's size in bytes")
    media_type: Line | None = Field(default=None, max_length=100)


class NewOffer(BaseModel):
    """Evidence to seal and offer to another State's desk."""

    model_config = ConfigDict(extra="forbid")

    case: Line = Field(max_length=128)
    to: Line = Field(description="the receiving desk, STATE/DESK")
    purpose: str = Field(min_length=1, max_length=2000, description="what the evidence may be used for (Art. 40)")
    conditions: list[Line] = Field(default_factory=list, max_length=50, description="further use conditions")
    files: list[str] | None = Field(default=None, description="file ids; default: every file of the case")
    retain_until: Line | None = Field(default=None, max_length=40, description=(
        "when the receiving State must have destroyed the data (Art. 36), RFC 3339 with its offset; default: no "
        "period"))
    wait_witnesses: float = Field(default=0.0, ge=0, le=600, description="seconds to wait for cosignatures")
    min_witnesses: int = Field(default=0, ge=0, le=200)


class DomesticRetention(BaseModel):
    """A shorter retention period set by this State on files it holds (docs/privacy.md, "Retention")."""

    model_config = ConfigDict(extra="forbid")

    until: Line = Field(max_length=40, description="when the files are to be shredded, RFC 3339 with its offset; "
                        "never after the sending State's end")
    reason: str = Field(min_length=1, max_length=500, description="why (e.g. the domestic law that requires it)")
    files: list[Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]] | None = Field(
        default=None, min_length=1, max_length=10_000, description="file ids; or give case")
    case: Line | None = Field(default=None, max_length=128, description="every file held in this case")
class Refiling(BaseModel):
    """The case to file evidence under."""

    model_config = ConfigDict(extra="forbid")

    case: Line = Field(max_length=128, description="the case reference")


class NewConsentRequest(BaseModel):
    """A request to the originating State for consent to another use of evidence it sent (docs/privacy.md)."""

    model_config = ConfigDict(extra="forbid")

    files: list[Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]] = Field(
        min_length=1, max_length=1000, description="ids of received evidence files, all from the same State")
    use: Literal["case", "transfer"] = Field(description="case: use in another case; transfer: send it on")
    target: Line = Field(max_length=128, description="the case reference, or the recipient: a State (ISO 3166-1 "
                         "alpha-3) or org:NAME for an international organisation")
    reason: str = Field(min_length=1, max_length=5000, description="why the evidence is needed for this use")
    to: Line | None = Field(default=None, max_length=40, description="the desk to ask, STATE/DESK (default: the "
                            "desk that sent the files)")


class ConsentAnswer(BaseModel):
    """The answer to a consent request received."""

    model_config = ConfigDict(extra="forbid")

    granted: bool
    reason: str = Field(min_length=1, max_length=5000, description="why (required for a refusal too, Art. 40)")
    conditions: list[Annotated[Line, Field(min_length=1, max_length=2000)]] = Field(
        default_factory=list, max_length=50, description="conditions of the consent")
    items: list[Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]] | None = Field(
        default=None, description="SHA-256 of the items answered; default: every item still asked")


@router.get("/api/v1/evidence", summary="Evidence files held by this node")
def list_evidence(officer: Officer, request: Request,
                  case: Annotated[str | None, Query(max_length=128)] = None) -> list[dict[str, object]]:
    """Oldest first, the officer's desk only (every desk for supervisors and admins); shredded files stay listed
    with the time they were shredded."""
    return [i.as_json() for i in _service(request).list(case, readable=officer.can_read_desk)]


@router.post("/api/v1/evidence/{file_id}/refile", summary="File evidence under another case",
             responses=problem_responses({403: "a received file's originating State has not consented to its use in "
                                               "that case (consent_required)"}))
def refile(file_id: _ID, body: Refiling, officer: Officer, request: Request) -> dict[str, object]:
    """A file received from another State goes to another case only with that State's consent."""
    officer.require_role(*_HANDLERS)
    return _service(request).refile(file_id, case=body.case, actor=officer.actor,
                                    handles=officer.can_act_for_desk).as_json()


@router.post("/api/v1/evidence/consents", status_code=201,
             summary="Ask the originating State to consent to another use of evidence it sent",
             responses=problem_responses({404: "a file named is not held here, or not at your desk "
                                               "(evidence_not_found)"}))
def request_consent(body: NewConsentRequest, officer: Officer, request: Request) -> dict[str, object]:
    """Sends a ``consent.request`` envelope; the answer is listed by ``GET /api/v1/evidence/consents``."""
    officer.require_role(*_HANDLERS)
    asked = consent.request(_service(request).node, file_ids=body.files, use=check_use(body.use, body.target),
                            reason=body.reason, actor=officer.actor, desk=officer.desk, to=body.to,
                            handles=officer.can_act_for_desk)
    return {"request": asked.request_id, "message_id": asked.message_id, "to": asked.to, "items": asked.items}


@router.get("/api/v1/evidence/consents", summary="Consent requests sent and received, newest first")
def list_consents(officer: Officer, request: Request) -> list[dict[str, Any]]:
    """The officer's desk's requests (every desk's for supervisors and admins), each item with its answer."""
    return consent.list_requests(_service(request).node, readable=officer.can_read_desk)


@router.post("/api/v1/evidence/consents/{request_id}/answer",
             summary="Grant or refuse a consent request received from another State",
             responses=problem_responses({409: "the items were already answered (consent_answered)"}))
def answer_consent(request_id: _PACKAGE, body: ConsentAnswer, officer: Officer, request: Request) -> dict[str, object]:
    """Sends a ``consent.answer`` envelope to the requesting desk."""
    officer.require_role(*_HANDLERS)
    message_id = consent.answer(_service(request).node, request_id, granted=body.granted, reason=body.reason,
                                conditions=body.conditions, sha256s=body.items, actor=officer.actor,
                                handles=officer.can_act_for_desk)
    return {"request": request_id, "message_id": message_id, "granted": body.granted}


@router.post("/api/v1/evidence/uploads", status_code=201, summary="Start a resumable upload")
def start_upload(body: NewUpload, officer: Officer, request: Request) -> dict[str, object]:
    """Send the file in pieces with ``PUT .../uploads/{id}`` and ``Upload-Offset``, then ``POST .../complete``."""
    officer.require_role(*_HANDLERS)
    return Uploads(_service(request)).start(case=body.case, name=body.name, size=body.size, actor=officer.actor,
                                            media_type=body.media_type, desk=officer.desk).as_json()


@router.get("/api/v1/evidence/uploads/{upload_id}", summary="Where an upload stands: resume from `received`")
def upload_status(upload_id: _ID, officer: Officer, request: Request) -> dict[str, object]:
    """The bytes the node holds durably."""
    return Uploads(_service(request)).status(upload_id, actor=_owner(officer)).as_json()


@router.put("/api/v1/evidence/uploads/{upload_id}", summary="Send the next piece of an upload",
            responses=problem_responses({409: "Upload-Offset is not where the upload stands (offset_mismatch): "
                                              "ask GET .../uploads/{id} and resume from received"}))
async def upload_piece(upload_id: _ID, officer: Officer, request: Request,
                       upload_offset: Annotated[int, Header(ge=0, lt=2**63)]) -> dict[str, object]:
    """The piece (``application/octet-stream``, at most 16 MiB) must start at ``Upload-Offset`` = ``received``."""
    officer.require_role(*_HANDLERS)
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_PIECE:
            raise ValidationError(f"a piece is at most {MAX_PIECE} bytes", code="piece_too_large")
    state = await run_in_threadpool(partial(Uploads(_service(request)).append, upload_id, upload_offset, bytes(data),
                                            actor=_owner(officer)))
    return state.as_json()


@router.post("/api/v1/evidence/uploads/{upload_id}/complete", status_code=201, summary="Finish an upload",
             responses=problem_responses({409: "the node does not hold every byte yet (upload_incomplete)"}))
async def complete_upload(upload_id: _ID, officer: Officer, request: Request) -> dict[str, object]:
    """Ingests the uploaded file: hashes, encryption at rest, custody record. Returns the evidence file."""
    officer.require_role(*_HANDLERS)
    item = await run_in_threadpool(Uploads(_service(request)).complete, upload_id, actor=officer.actor,
                                   owner_only=_owner(officer) is not None)
    return item.as_json()


@router.delete("/api/v1/evidence/uploads/{upload_id}", status_code=204, summary="Cancel an upload")
def cancel_upload(upload_id: _ID, officer: Officer, request: Request) -> None:
    """Drops the staged pieces."""
    officer.require_role(*_HANDLERS)
    Uploads(_service(request)).cancel(upload_id, actor=_owner(officer))


@router.post("/api/v1/evidence/offers", status_code=201, summary="Seal a case's evidence and offer it to a State")
async def create_offer(body: NewOffer, officer: Officer, request: Request) -> dict[str, object]:
    """The receiving node pulls the files itself; the offer carries the package's metadata and proofs."""
    officer.require_role(*_HANDLERS)
    offered = await run_in_threadpool(
        transfer.offer, _service(request), case=body.case, to=body.to, desk=officer.desk, actor=officer.actor,
        conditions=UseConditions(purpose=body.purpose, conditions=tuple(body.conditions),
                                 retain_until=_sender_end(body.retain_until)), file_ids=body.files,
        witness_wait=body.wait_witnesses, min_witnesses=body.min_witnesses, handles=officer.can_act_for_desk)
    return {"package": offered.package_id, "message_id": offered.message_id, "files": offered.files,
            "expires_at": format_instant(offered.expires_at)}


@router.get("/api/v1/evidence/offers", summary="Evidence offers sent and received, newest first")
def list_offers(officer: Officer, request: Request) -> list[dict[str, Any]]:
    """The officer's desk's offers (every desk's for supervisors and admins); incoming offers show how far the
    pull is."""
    return transfer.list_offers(_service(request).node, readable=officer.can_read_desk)


@router.get("/api/v1/evidence/offers/{package_id}/package", summary="The package of a received offer, as sealed",
            response_class=FileResponse)
async def received_package(package_id: _PACKAGE, officer: Officer, request: Request,
                           reason: Reason = None) -> FileResponse:
    """Rebuilt byte for byte from the offer's metadata and the pulled files; verify it with `hanoinet verify`.
    Its files hold personal data: a reason is required, and the read of each is recorded in the access log."""
    why = require_reason(reason)
    service = _service(request)
    out = transfer.export_path(service.node.settings.data_dir, package_id)
    await run_in_threadpool(partial(transfer.rebuild_package, service, package_id, out, actor=officer.actor,
                                    readable=officer.can_read_desk))
    try:
        await run_in_threadpool(partial(record_reads, request, officer, why, received_package=package_id))
    except BaseException:
        out.unlink(missing_ok=True)  # not sent unrecorded
        raise
    return FileResponse(out, media_type="application/zip", filename=f"{package_id}.zip",
                        background=BackgroundTask(out.unlink, missing_ok=True))


def _sender_end(given: str | None) -> datetime | None:
    return retention.check_sender(parse_rfc3339(given, field="retain_until") if given is not None else None,
                                  at=now())


@router.post("/api/v1/evidence/retention", summary="Set a shorter domestic retention period on files",
             responses=problem_responses({422: "the end is past, or after the sending State's end "
                                                "(retention_in_past, retention_longer_than_sender)"}))
def set_retention(body: DomesticRetention, officer: Officer, request: Request) -> list[dict[str, object]]:
    """A supervisor of the desk that holds the files; each change is a ``retention_set`` custody record, and the
    files are shredded when the period ends."""
    officer.require_role(Role.SUPERVISOR)
    items = retention.set_domestic(_service(request), until=parse_rfc3339(body.until, field="until"),
                                   actor=officer.actor, reason=body.reason, file_ids=body.files, case=body.case,
                                   may_act_for=lambda desk: desk == officer.desk)
    return [i.as_json() for i in items]


@router.get("/api/v1/evidence/{file_id}", summary="One evidence file held by this node, with its retention")
def show_evidence(file_id: _ID, officer: Officer, request: Request) -> dict[str, object]:
    """The officer's desk's files only (every desk's for supervisors and admins)."""
    item = _service(request).get(file_id)
    if not officer.can_read_desk(item.desk):
        raise NotFound(f"no evidence file {file_id} on this node", code="evidence_not_found")
    return item.as_json()


def _target(request: Request) -> str:
    # The target URI as the puller signed it: our published endpoint, whatever proxy stands in front.
    query = f"?{request.url.query}" if request.url.query else ""
    return _service(request).node.settings.endpoint.rstrip("/") + request.url.path + query


@router.get("/federation/v1/evidence/offers/{package_id}/keys",
            summary="The data keys of an offer's files, as JWEs to the recipient (signed, with the capability)",
            responses=problem_responses(_PULL_REFUSALS))
def offer_keys(package_id: _PACKAGE, request: Request) -> dict[str, Any]:
    """``Authorization: Capability <JWS>``, signed per RFC 9421 over method, target URI and authorization."""
    return transfer.offered_keys(_service(request), package_id, method=request.method, url=_target(request),
                                 headers=request.headers)


@router.get("/federation/v1/evidence/offers/{package_id}/files/{position}",
            summary="Pull a byte range of an offered file's encrypted blob (signed, with the offer's capability)",
            status_code=206, responses=problem_responses({
                **_PULL_REFUSALS, 416: "the range is not within the file (range_not_satisfiable)"}))
def pull(package_id: _PACKAGE, position: Annotated[int, Path(ge=1, le=10_000)], request: Request) -> StreamingResponse:
    """``Authorization: Capability <JWS>``, ``Range: bytes=START-[END]``, signed per RFC 9421 (docs/evidence.md)."""
    service = _service(request)
    serving = transfer.authorize_pull(service, package_id, position, method=request.method, url=_target(request),
                                      headers=request.headers)

    def body() -> Iterator[bytes]:
        yield from service.store.read(serving.blob_id, serving.start, serving.end)

    return StreamingResponse(body(), status_code=206, media_type="application/octet-stream", headers={
        "content-range": f"bytes {serving.start}-{serving.end - 1}/{serving.total}",
        "content-length": str(serving.end - serving.start), "cache-control": "no-store"})
