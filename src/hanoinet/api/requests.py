"""``/api/v1/requests``: cooperation requests (Art. 41-43) for officers; ``/api/v1/convention``: the rules."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from hanoinet import convention
from hanoinet.api.inputs import CheckedRoute, Line
from hanoinet.api.officers import Officer
from hanoinet.api.privacy import Reason, record_reads, require_reason
from hanoinet.api.problems import problem_responses
from hanoinet.node.node import Node
from hanoinet.privacy.access import Item, ItemKind
from hanoinet.requests import commands, views
from hanoinet.requests.machine import Action, State

router = APIRouter(route_class=CheckedRoute, prefix="/api/v1", tags=["requests"])

KIND_PATTERN = r"^[a-z][a-z0-9_]{1,47}$"
DESK_PATTERN = r"^[A-Za-z0-9]{2,16}$"
#: A request's reference (VNM-2026-0007) or its id (UUIDv7).
REF_PATTERN = (r"^([A-Z]{3}-[0-9]{4}-[0-9]{4,8}"
               r"|[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})$")
Ref = Annotated[str, Path(pattern=REF_PATTERN)]
_CHANGED = problem_responses({409: "the request changed since the version you read (request_changed), or the "
                                   "action is not allowed in its state (illegal_transition, not_a_draft), "
                                   "naming the state and the actions that are"})


def _node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


class RequestContents(BaseModel):
    """What a request asks: the part of a new request that a draft can change."""

    model_config = ConfigDict(extra="forbid")

    kind: Line = Field(description="request kind, e.g. preservation; GET /api/v1/convention lists them")
    to: Line = Field(description="the requested desk, STATE/DESK, e.g. FRA/247")
    fields: dict[str, Any] = Field(description="the kind's fields; each cites its article")
    language: Line = Field(default="en", description="BCP 47 tag of the language the request is written in")
    priority: Line | None = Field(default=None, description="emergency, urgent or normal; default: the kind's")
    case: Line | None = Field(default=None, max_length=128, description="your case reference")

    def draft(self, desk: str | None = None) -> commands.Draft:
        """The draft of these contents, times typed with any offset made the protocol's UTC instants."""
        return commands.Draft(kind=self.kind, to=self.to, fields=convention.canonical_fields(self.kind, self.fields),
                              language=self.language, priority=self.priority, case=self.case, desk=desk)


class NewRequest(RequestContents):
    """A request to make (and by default send at once)."""

    desk: Line | None = Field(default=None, description="sending desk; default: the officer's desk")
    send: bool = Field(default=True, description="send now; false keeps a draft to send later")


class DraftChange(RequestContents):
    """A draft's new contents, whole: members left out take their defaults, as in a new request."""

    version: int | None = Field(default=None, description="the version you read; refused if it changed")


class ActionBody(BaseModel):
    """What an action carries; which members are needed depends on the action (docs/requests.md)."""

    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(default=None, description="the version you acted on; refused if it changed")
    note: str | None = Field(default=None, max_length=10_000)
    question: str | None = Field(default=None, max_length=20_000, description="clarify")
    answer: str | None = Field(default=None, max_length=20_000, description="answer")
    result: dict[str, Any] | None = Field(default=None, description="execute, partially_execute")
    ground: Line | None = Field(default=None, description="refuse, consult: a ground code from /api/v1/convention")
    reasons: str | None = Field(default=None, max_length=20_000,
                                description="refuse, consult, postpone: the reasons, required")
    considering: Line | None = Field(default=None, description="consult: refusal or postponement")
    reply_by: Line | None = Field(default=None, description="consult: instant by which the requesting State may "
                                                            "reply, with its offset")
    reply: str | None = Field(default=None, max_length=20_000, description="reply: the reply to a consultation")
    until: Line | None = Field(default=None, description="postpone: instant until which execution is postponed")
    reason: str | None = Field(default=None, max_length=20_000, description="withdraw, extend, release")
    notice: Line | None = Field(default=None, description="notice: will_not_secure or threatens_confidentiality")
    text: str | None = Field(default=None, max_length=20_000, description="notice")
    days: int | None = Field(default=None, ge=1, le=365, description="extend: how many days more")
    mla_ref: Line | None = Field(default=None, max_length=200, description="follow_up: the MLA request's reference")


@router.get("/convention", summary="The Convention as data: offences, request kinds and fields, grounds, clocks")
def get_convention(officer: Officer) -> dict[str, Any]:
    """Everything a form or a lawyer needs, each item with its article."""
    return convention.catalogue()


def _shown(request: Request, officer: Officer, view: dict[str, Any], why: str) -> dict[str, Any]:
    """The request as an act or an edit answers it: its fields name persons, so the read is recorded in the
    access log (docs/privacy.md), the act itself being the reason."""
    record_reads(request, officer, why, [Item(ItemKind.REQUEST, view["ref"], view["case"])])
    return view


@router.post("/requests", status_code=201, summary="Make a request to another State's desk (and send it)")
def create_request(command: NewRequest, officer: Officer, request: Request) -> dict[str, Any]:
    """Checked first: every problem is listed at once (``problems``), and nothing is sent unless all is well."""
    return commands.create(_node(request), officer, command.draft(command.desk), send=command.send)


@router.get("/requests", summary="Requests of the officer's desk, most recently changed first")
def list_requests(
    *, officer: Officer, request: Request,
    state: State | None = None,
    kind: Annotated[str | None, Query(pattern=KIND_PATTERN)] = None,
    desk: Annotated[str | None, Query(pattern=DESK_PATTERN)] = None,
    overdue: Annotated[bool, Query(description="only those past their acknowledgement target")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    """One line per request, with the marks a duty officer scans for: priority, overdue, preservation warning."""
    return views.list_requests(_node(request), officer, state=state.value if state else None, kind=kind,
                               desk=desk, overdue=overdue, limit=limit)


@router.get("/requests/{ref}", summary="One request: fields with their articles, timeline, clocks, next actions")
def get_request(ref: Ref, officer: Officer, request: Request, reason: Reason = None) -> dict[str, Any]:
    """Its fields name persons: a reason is required, and the read is recorded in the access log (docs/privacy.md)
    and on the audit trail."""
    why = require_reason(reason)
    shown = views.show(_node(request), officer, ref)
    record_reads(request, officer, why, [Item(ItemKind.REQUEST, shown["ref"], shown["case"])])
    return shown


@router.put("/requests/{ref}", summary="Change a draft: its whole contents, checked as a new request is",
            responses=_CHANGED)
def edit_draft(ref: Ref, change: DraftChange, officer: Officer, request: Request) -> dict[str, Any]:
    """Only a draft (``not_a_draft`` otherwise); it keeps its reference, kind and sending desk."""
    return _shown(request, officer, commands.edit(_node(request), officer, ref, change.draft(),
                                                  version=change.version), "to edit the draft")


class ApprovalBody(BaseModel):
    """A supervisor's approval of a draft as it stands (four eyes)."""

    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(default=None, description="the version you read; refused if it changed")


@router.post("/requests/{ref}/approve", summary="Approve an outgoing draft before it is sent (four eyes)",
             responses={**_CHANGED, **problem_responses({403: "not a supervisor of the draft's desk, or its author "
                                                              "(approval_required)"})})
def approve_draft(ref: Ref, body: ApprovalBody, officer: Officer, request: Request) -> dict[str, Any]:
    """By a supervisor of the draft's desk other than its author; editing the draft voids the approval."""
    return _shown(request, officer, commands.approve_draft(_node(request), officer, ref, version=body.version),
                  "to approve the draft")


@router.post("/requests/{ref}/{action}", summary="Act on a request (acknowledge, execute, refuse, withdraw, ...)",
             responses=_CHANGED)
def act_on_request(ref: Ref, action: Action, body: ActionBody, officer: Officer, request: Request) -> dict[str, Any]:
    """Refused with ``illegal_transition`` (naming the state and the allowed actions) or ``request_changed``."""
    data = body.model_dump(exclude_none=True, exclude={"version"})
    return _shown(request, officer, commands.act(_node(request), officer, ref, action, data, version=body.version),
                  f"to {action.value.replace('_', ' ')} the request")
