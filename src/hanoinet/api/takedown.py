"""Takedown: platforms report matches and read their notices; reviewers decide and lift quarantines.

Platform routes take a platform's token (``hnp_...``); reviewer routes an officer's, with the ``reviewer`` role
(an ``admin`` may read the queues). A reviewer sees the report, the platform, the entry's category and
origin, the distance and the entry's trust, never anything of a victim's case (docs/takedown.md).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from hanoinet.api.hashbank import _caller
from hanoinet.api.inputs import CheckedRoute
from hanoinet.api.officers import Credential, Officer, node_of, taking
from hanoinet.clock import now
from hanoinet.errors import Forbidden
from hanoinet.hashbank import takedown
from hanoinet.hashbank import takedown_rules as rules
from hanoinet.hashbank.platforms import PlatformPrincipal
from hanoinet.node.officers import Principal
from hanoinet.node.roles import Role

router = APIRouter(route_class=CheckedRoute, prefix="/api/v1", tags=["takedown"])


@taking(Credential.OFFICER_OR_PLATFORM)
def _platform(request: Request) -> PlatformPrincipal:
    caller = _caller(request)
    if not isinstance(caller, PlatformPrincipal):
        raise Forbidden("match reports and notices are for registered platforms",
                        hint="reviewers use /api/v1/reviews", code="platforms_only")
    return caller


PlatformCaller = Annotated[PlatformPrincipal, Depends(_platform)]


def _reader(officer: Officer) -> Principal:
    officer.require_role(Role.REVIEWER, Role.ADMIN)
    return officer


def _reviewer(officer: Officer) -> Principal:
    officer.require_role(Role.REVIEWER)
    return officer


Reader = Annotated[Principal, Depends(_reader)]
Reviewer = Annotated[Principal, Depends(_reviewer)]


class ReportCommand(BaseModel):
    """A platform's match and what it did about it."""

    model_config = ConfigDict(extra="forbid")

    entry: str = Field(description="the bank entry's id")
    content_ref: str = Field(max_length=takedown.MAX_CONTENT_REF,
                             description="your own reference to the content (never the content or a link to it), "
                             "without control characters")
    distance: int = Field(ge=0, le=256, description="the Hamming distance of the match")
    action: Literal["removed", "not_removed", "under_review"]
    reason: str | None = Field(default=None, max_length=rules.MAX_REASON,
                               description="why not removed (required with not_removed); no control characters "
                               "but tab and line feed")


class FalsePositiveCommand(BaseModel):
    """Why the platform's match was a false positive (optional)."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=rules.MAX_REASON)


class ReviewCommand(BaseModel):
    """A reviewer's decision on a report."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["confirm", "reject"]
    note: str | None = Field(default=None, max_length=rules.MAX_REASON, description="kept in the audit trail")


class ReleaseCommand(BaseModel):
    """Why the quarantine is lifted (optional, kept in the audit trail)."""

    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=rules.MAX_REASON)


ReportId = Annotated[int, Path(ge=1, lt=2**63, description="the report's id")]
After = Annotated[int, Query(ge=0, lt=2**63, description="page on: the last id shown")]
Limit = Annotated[int, Query(ge=1, le=takedown.MAX_LIST)]


@router.post("/hashbank/reports", summary="Report a match and what you did about it (platforms)")
def report(command: ReportCommand, platform: PlatformCaller, request: Request, response: Response) -> dict[str, Any]:
    """One report per (entry, content_ref): reporting it again updates the action. 201 when new, 200 after."""
    node = node_of(request)
    with node.db.transaction() as uow:
        made, created = takedown.report(node, uow, platform, entry_id=command.entry, content_ref=command.content_ref,
                                        distance=command.distance, action=command.action, reason=command.reason)
    response.status_code = 201 if created else 200
    return made.as_json(now(), reviewer=False)


@router.get("/hashbank/notices", summary="Your confirmed matches still to act on, each with its deadline")
def notices(platform: PlatformCaller, request: Request, after: After = 0, limit: Limit = 100) -> dict[str, Any]:
    """Answer each by reporting it again with action removed or not_removed before its ``due_at``."""
    with node_of(request).db.transaction(readonly=True) as uow:
        found = takedown.notices(uow.session, platform.id, after=after, limit=limit)
    at = now()
    return {"notices": [r.as_json(at, reviewer=False) for r in found], "platform": platform.name}


@router.post("/hashbank/reports/{report_id}/false-positive", summary="Record that your match was a false positive")
def false_positive(report_id: ReportId, platform: PlatformCaller, request: Request,
                   command: FalsePositiveCommand | None = None) -> dict[str, Any]:
    """Before a reviewer confirmed it: the report is rejected and the entry's trust falls."""
    node = node_of(request)
    with node.db.transaction() as uow:
        made = takedown.false_positive(node, uow, platform, report_id,
                                       reason=command.reason if command is not None else None)
    return made.as_json(now(), reviewer=False)


@router.get("/reviews", summary="Match reports waiting for review, quarantined, or overdue (reviewers)")
def reviews(officer: Reader, request: Request,
            status: Annotated[Literal["pending", "quarantined", "overdue"], Query()] = "pending",
            after: After = 0, limit: Limit = 100) -> dict[str, Any]:
    """A review queue, oldest report first: pending, quarantined, or confirmed and past its deadline."""
    at = now()
    with node_of(request).db.transaction(readonly=True) as uow:
        found = takedown.queue(uow.session, status, at, after=after, limit=limit)
    return {"status": status, "reports": [r.as_json(at, reviewer=True) for r in found]}


@router.post("/reviews/{report_id}", summary="Confirm a match (a notice with a deadline) or reject it")
def decide(report_id: ReportId, command: ReviewCommand, officer: Reviewer, request: Request) -> dict[str, Any]:
    """Confirm: the platform must act by the deadline. Reject: a false positive, which lowers the entry's trust."""
    node = node_of(request)
    with node.db.transaction() as uow:
        made = takedown.review(node, uow, report_id, decision=command.decision, actor=officer.actor,
                               note=command.note)
    return made.as_json(now(), reviewer=True)


@router.post("/reviews/entries/{entry}/release", summary="Lift an entry's quarantine")
def release(entry: str, officer: Reviewer, request: Request,
            command: ReleaseCommand | None = None) -> dict[str, Any]:
    """The entry's quarantined reports go back to pending review."""
    with node_of(request).db.transaction() as uow:
        standing, moved = takedown.release(uow, entry, actor=officer.actor,
                                           note=command.note if command is not None else None)
    return {"entry": entry, "trust": standing.as_json(), "reports_pending_again": moved}
