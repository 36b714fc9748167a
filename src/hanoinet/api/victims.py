"""``/victims/v1``: the victims' page opens, follows and withdraws cases; ``/api/v1/victims``: advocates open them.

The public routes take no token: a case's number and secret are its credential, and they travel in the body
only, since a URL reaches access logs. Each client address has two small token buckets, one for opening cases
and one for using a secret (status and withdrawal share it, so spreading guesses over both gains nothing).
Answers carry stable codes, statuses and problem ``code``s, that the page shows in the victim's language
(docs/victims.md, "The API for the page and for advocates").

:func:`install` serves all of it on an application: the routes, their rate limiters, the answer to a locked
case, and the page itself (:mod:`hanoinet.api.victims_page`). Their body limits (:data:`BODY_LIMITS`) join the
application's gate (``api/gate.py``), which checks a token before a body.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hanoinet.api import victims_page
from hanoinet.api.inputs import CheckedRoute
from hanoinet.api.officers import Officer, node_of
from hanoinet.api.problems import PROBLEM_MEDIA_TYPE, problem, problem_responses
from hanoinet.clock import format_instant, now
from hanoinet.db.models import VictimCase
from hanoinet.errors import HanoinetError
from hanoinet.network.ratelimit import RateLimiter, client_key
from hanoinet.node.roles import Role
from hanoinet.victims import cases
from hanoinet.victims.cases import CaseLocked

public = APIRouter(route_class=CheckedRoute, prefix="/victims/v1", tags=["victims"])
advocates = APIRouter(route_class=CheckedRoute, prefix="/api/v1/victims", tags=["victims"])

#: New cases per client address: 10 an hour, 5 at once. A person rarely opens more than a few; an advocate
#: opening many uses the advocates' route with their token.
CREATE_PER_SECOND = 10 / 3600
CREATE_BURST = 5
#: Uses of a secret (status, withdrawal) per client address: one a second, 10 at once. Together with the lock
#: of each case after 5 wrong secrets, this keeps guessing far from a 100-bit secret or a 40-bit number.
ACCESS_PER_SECOND = 1.0
ACCESS_BURST = 10
#: Largest bodies: 100 images of 8 hashes are about 60 KB; a number and a secret are a few dozen bytes.
CREATE_BODY_LIMIT = 256 * 1024
ACCESS_BODY_LIMIT = 16 * 1024
BODY_LIMITS = {
    "POST /victims/v1/cases": CREATE_BODY_LIMIT,
    "POST /api/v1/victims/cases": CREATE_BODY_LIMIT,
    "POST /victims/v1/cases/status": ACCESS_BODY_LIMIT,
    "POST /victims/v1/cases/withdraw": ACCESS_BODY_LIMIT,
}
# Answers that hold a secret or a case's status must not be kept by a browser or a proxy.
_NO_STORE = {"cache-control": "no-store"}
_CREATE_REFUSALS = problem_responses({429: "too many new cases from this address, or from the public page in the "
                                           "last hour (code rate_limited); try again later"})
_ACCESS_REFUSALS = problem_responses({
    404: "no open case with this number and secret (the page says so in the victim's language)",
    429: "too many tries from this address (rate_limited), or the case is locked after wrong secrets "
         "(case_locked, with retry_at and Retry-After)"})


@dataclass(frozen=True, slots=True)
class Limiters:
    """The token buckets of the public routes, per client address."""

    create: RateLimiter
    access: RateLimiter


def install(app: FastAPI) -> None:
    """Serve the victims' routes and page on ``app``, with their rate limiters and locked-case answer."""
    app.state.victim_limiters = Limiters(create=RateLimiter(CREATE_PER_SECOND, CREATE_BURST),
                                         access=RateLimiter(ACCESS_PER_SECOND, ACCESS_BURST))
    app.add_exception_handler(CaseLocked, _locked)
    app.include_router(public)
    app.include_router(advocates)
    victims_page.install(app)


def _locked(_request: Request, exc: Exception) -> Response:
    """429 ``case_locked`` with the instant to retry, in the body (``retry_at``) and as ``Retry-After``."""
    locked = cast(CaseLocked, exc)
    body = json.loads(bytes(problem(429, locked.code, locked.message, locked.hint).body))
    body["retry_at"] = format_instant(locked.retry_at)
    wait = max(1, math.ceil((locked.retry_at - now()).total_seconds()))
    return JSONResponse(body, status_code=429, media_type=PROBLEM_MEDIA_TYPE,
                        headers={"retry-after": str(wait), **_NO_STORE})


def _limiters(request: Request) -> Limiters:
    limiters: Limiters = request.app.state.victim_limiters
    return limiters


def _take(request: Request, limiter: RateLimiter) -> None:
    client = request.client.host if request.client else "unknown"
    if not limiter.allow(client_key(client)):
        raise HanoinetError(f"too many requests from {client}", hint="wait a minute and try again",
                            code="rate_limited")


def _create_limit(request: Request) -> None:
    _take(request, _limiters(request).create)


def _access_limit(request: Request) -> None:
    _take(request, _limiters(request).access)


class ImageHashes(BaseModel):
    """One image, hashed on the victim's device: its PDQ hashes and their quality, never the image."""

    model_config = ConfigDict(extra="forbid")

    hashes: list[str] = Field(description="1 to 8 PDQ hashes (64 hexadecimal characters): the image as given "
                              "first, then its rotations and flips in the order of docs/hashbank.md, 5.2")
    quality: int = Field(description="the PDQ quality, 0-100; below 50 the image is refused (low_quality)")


class NewCase(BaseModel):
    """A case to open: what the images show, the victim's language, and the images' hashes."""

    model_config = ConfigDict(extra="forbid")

    about_a_child: bool | None = Field(default=None, description="does any image show someone under 18? "
                                       "true makes the case art14")
    category: str | None = Field(default=None, description="art14 or art16, instead of or besides about_a_child")
    language: str = Field(description="the status page's language: ar, en, es, fr, ru, vi or zh")
    images: list[ImageHashes] = Field(description="1 to 100 images")


class CaseAccess(BaseModel):
    """A case's number and secret, as the victim was given them (case, spaces and hyphens do not matter)."""

    model_config = ConfigDict(extra="forbid")

    number: str
    secret: str


class CaseWithdrawal(CaseAccess):
    """Which images to withdraw: their positions, or null for all of them."""

    images: list[int] | None = Field(default=None, description="positions (1, 2, ...); null withdraws every image")


def _within_hourly_cap(session: Session, cap: int) -> None:
    """Refuse a public case beyond ``cap`` in the last hour, counted in the database so that every process of
    the node and every client address share it (many addresses must not add to the bank without bound)."""
    since = now() - timedelta(hours=1)
    opened = session.scalar(select(func.count()).where(VictimCase.created_by == cases.VICTIM,
                                                       VictimCase.created_at > since))
    if (opened or 0) >= cap:
        raise HanoinetError(f"this node has opened {cap} cases from its public page in the last hour, its limit",
                            hint="try again in an hour, or ask a victims' advocate or hotline to submit for you",
                            code="rate_limited")


def _open(command: NewCase, request: Request, created_by: str) -> dict[str, Any]:
    node = node_of(request)
    category = cases.category_for(command.category, about_a_child=command.about_a_child)
    images = [cases.SubmittedImage(hashes=image.hashes, quality=image.quality) for image in command.images]
    with node.db.transaction() as uow:
        if created_by == cases.VICTIM:
            _within_hourly_cap(uow.session, node.settings.victims_public_cases_per_hour)
        created = cases.create(uow.session, node.state, category=category, language=command.language,
                               images=images, created_by=created_by)
    return {"number": created.number, "secret": created.secret, "category": created.category,
            "language": created.language, "images": created.images,
            "created_at": format_instant(created.created_at)}


@public.post("/cases", status_code=201, dependencies=[Depends(_create_limit)], responses=_CREATE_REFUSALS,
             summary="Open a case: the images' hashes go to the bank; answers the number and the secret, once")
def create_case(command: NewCase, request: Request, response: Response) -> dict[str, Any]:
    """Open a case for the victim; the secret in the answer is never shown again."""
    response.headers.update(_NO_STORE)
    return _open(command, request, cases.VICTIM)


@public.post("/cases/status", dependencies=[Depends(_access_limit)], responses=_ACCESS_REFUSALS,
             summary="A case's images, with what each platform in each country did")
def case_status(command: CaseAccess, request: Request, response: Response) -> dict[str, Any]:
    """The status of the case with this number and secret, and nothing of any other."""
    response.headers.update(_NO_STORE)
    found = cases.with_open_case(node_of(request).db, command.number, command.secret, cases.status)
    return found.as_json()


@public.post("/cases/withdraw", dependencies=[Depends(_access_limit)], responses=_ACCESS_REFUSALS,
             summary="Withdraw some or all of a case's images from the bank, everywhere")
def withdraw_case(command: CaseWithdrawal, request: Request, response: Response) -> dict[str, Any]:
    """Withdraw the images; withdrawing an image twice changes nothing. Answers the case's status."""
    response.headers.update(_NO_STORE)
    node = node_of(request)
    after = cases.with_open_case(
        node.db, command.number, command.secret,
        lambda session, case: cases.withdraw(session, node.state, case, command.images, actor=cases.VICTIM))
    return after.as_json()


@advocates.post("/cases", status_code=201,
                summary="Open a case for a victim (advocates); answers the number and the secret to hand over")
def advocate_case(command: NewCase, officer: Officer, request: Request, response: Response) -> dict[str, Any]:
    """Open a case on a victim's behalf, recorded as the officer's; hand the number and secret to the victim."""
    officer.require_role(Role.ADVOCATE, Role.ADMIN)
    response.headers.update(_NO_STORE)
    return _open(command, request, officer.actor)
