"""``/api/v1``: what officers (through the CLI or the web console) call. Token in ``Authorization: Bearer``."""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from hanoinet.api.inputs import CheckedRoute, Line
from hanoinet.clock import format_instant
from hanoinet.db.models import AuditEntry, InboxMessage, OutboxMessage
from hanoinet.errors import Forbidden, MissingToken, NotFound, ValidationError
from hanoinet.hashbank import platforms
from hanoinet.hashbank.platforms import PlatformPrincipal
from hanoinet.network import directory_sync, kinds, outbox
from hanoinet.node import audit
from hanoinet.node.node import Node
from hanoinet.node.officers import Principal, authenticate
from hanoinet.node.roles import Role

router = APIRouter(route_class=CheckedRoute, prefix="/api/v1", tags=["officers"])
T = TypeVar("T")

#: The only routes advocates and reviewers may call, as (method, route path): ``*`` is any method, and a path
#: ending in ``/*`` covers that route and every route under it. Whatever else they call is refused (403), so a
#: new route is closed to them until it is listed here.
CONFINED_ROUTES: dict[Role, tuple[tuple[str, str], ...]] = {
    Role.ADVOCATE: (("GET", "/api/v1/me"), ("POST", "/api/v1/victims/cases")),
    Role.REVIEWER: (("GET", "/api/v1/me"), ("POST", "/api/v1/match"), ("*", "/api/v1/reviews/*")),
}
#: What each of them does, for the refusal.
_CONFINED_WORK = {
    Role.ADVOCATE: "open cases for victims (POST /api/v1/victims/cases)",
    Role.REVIEWER: "review platforms' matches (/api/v1/reviews) and match uploads against the bank "
                   "(POST /api/v1/match)",
}


def node_of(request: Request) -> Node:
    """The node serving ``request``."""
    node: Node = request.app.state.node
    return node


def _covers(allowed: tuple[str, str], method: str, path: str) -> bool:
    allowed_method, allowed_path = allowed
    if allowed_method not in ("*", method):
        return False
    if allowed_path.endswith("/*"):
        base = allowed_path.removesuffix("/*")
        return path == base or path.startswith(base + "/")
    return path == allowed_path


def _route_path(request: Request) -> str:
    """The path of the route serving the request as declared (``/api/v1/messages/{message_id}``), or ''."""
    path = getattr(request.scope.get("route"), "path", None)
    return path if isinstance(path, str) else ""


def confine(request: Request, caller: T) -> T:
    """``caller``, unless an advocate or a reviewer calls a route that is not theirs (403 ``forbidden``).

    Every route taking an officer's token checks this, through :data:`Officer` or :func:`confining`:
    advocates and reviewers are filed at a desk but may read none of its work, whatever a route checks itself.
    Any other caller (a platform) passes unchanged.
    """
    if not isinstance(caller, Principal) or not caller.confined:
        return caller
    role, method, path = caller.role, request.method, _route_path(request)
    if any(_covers(allowed, method, path) for allowed in CONFINED_ROUTES.get(role, ())):
        return caller
    others = [f"{other.value}s" for other, routes in CONFINED_ROUTES.items()
              if other != role and any(_covers(allowed, method, path) for allowed in routes)]
    raise Forbidden(
        f"role {role} may not use {method} {path or request.url.path}: an officer with this role may only "
        f"{_CONFINED_WORK.get(role, 'use the routes listed for it')} and see their own account (GET /api/v1/me)"
        + (f"; {' and '.join(others)} may use it" if others else ""),
        hint="advocates and reviewers read no desk's messages, requests, rota or evidence; "
             "ask the node operator for an account with the role that does this",
    )


def bearer_token(request: Request) -> str:
    """The token of ``Authorization: Bearer <token>``; ``Unauthenticated`` without one."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise MissingToken("missing API token", hint="send 'Authorization: Bearer <token>'; set HANOINET_TOKEN")
    return token.strip()


class Credential(StrEnum):
    """The token a route takes: an officer's, or an officer's or a registered platform's (``hnp_...``)."""

    OFFICER = "officer"
    OFFICER_OR_PLATFORM = "officer or platform"


#: Where the caller behind a request's token is kept once known, so that it is looked up once per request:
#: by the gate (:mod:`hanoinet.api.gate`), before the body is read, then by the route's dependencies.
CALLER_KEY = "hanoinet.caller"
_CREDENTIAL = "__hanoinet_credential__"


def taking(credential: Credential) -> Callable[[Callable[[Request], T]], Callable[[Request], T]]:
    """Mark a dependency as authenticating the caller with ``credential``; the gate checks it before the body."""

    def mark(dependency: Callable[[Request], T]) -> Callable[[Request], T]:
        setattr(dependency, _CREDENTIAL, credential)
        return dependency

    return mark


def credential_of(dependency: object) -> Credential | None:
    """The credential a dependency marked with :func:`taking` authenticates, else None."""
    found = getattr(dependency, _CREDENTIAL, None)
    return found if isinstance(found, Credential) else None


def caller_of(request: Request, credential: Credential) -> Principal | PlatformPrincipal:
    """The officer (or, when ``credential`` allows, the platform) behind the request's token.

    ``Unauthenticated`` without a token or with an unknown or disabled one. Looked up once per request and
    kept in its scope: the gate asks first, before the body is received, and the route's dependencies find it.
    """
    if credential is Credential.OFFICER:
        return officer_of(request)
    known = request.scope.get(CALLER_KEY)
    if isinstance(known, Principal | PlatformPrincipal):
        return known
    token = bearer_token(request)
    if not platforms.is_platform_token(token):
        return officer_of(request)
    with node_of(request).db.transaction(readonly=True) as uow:
        platform = platforms.authenticate(uow.session, token)
    request.scope[CALLER_KEY] = platform
    return platform


def officer_of(request: Request) -> Principal:
    """The officer behind the request's token, as :func:`caller_of` (a platform's token is refused, 401)."""
    known = request.scope.get(CALLER_KEY)
    if isinstance(known, Principal):
        return known
    token = bearer_token(request)
    with node_of(request).db.transaction(readonly=True) as uow:
        officer = authenticate(uow.session, token)
    request.scope[CALLER_KEY] = officer
    return officer


@taking(Credential.OFFICER)
def _principal(request: Request) -> Principal:
    return confine(request, officer_of(request))


def confining(dependency: Callable[[Request], T]) -> Callable[[Request], T]:
    """``dependency`` (a caller from the request's token), refusing advocates and reviewers as :func:`confine`."""

    def checked(request: Request) -> T:
        return confine(request, dependency(request))

    credential = credential_of(dependency)
    return taking(credential)(checked) if credential is not None else checked


Officer = Annotated[Principal, Depends(_principal)]


class SendMessage(BaseModel):
    """A message to send from the officer's desk."""

    model_config = ConfigDict(extra="forbid")

    to: Line = Field(description="recipient address STATE/DESK, e.g. FRA/247")
    kind: Line = Field(description="message kind, e.g. note.text")
    body: dict[str, Any]
    case: Line | None = Field(default=None, max_length=128)
    desk: Line | None = Field(default=None, description="sending desk; defaults to the officer's desk")


def _outbox_view(row: OutboxMessage, *, full: bool = False) -> dict[str, Any]:
    view: dict[str, Any] = {
        "direction": "out", "message_id": row.message_id, "kind": row.kind, "from": row.sender,
        "to": row.recipient, "case": row.case_ref, "created_at": format_instant(row.created_at),
        "status": row.status, "attempts": row.attempts, "last_error": row.last_error,
        "delivered_at": format_instant(row.delivered_at) if row.delivered_at else None,
    }
    if full:
        view.update(_body(row.kind, row.payload))
        view["receipt"] = row.receipt
        view["jws_sha256"] = row.jws_sha256
        view["jwe_sha256"] = row.jwe_sha256
    return view


def _inbox_view(row: InboxMessage, *, full: bool = False) -> dict[str, Any]:
    view: dict[str, Any] = {
        "direction": "in", "message_id": row.message_id, "kind": row.kind, "from": row.sender,
        "to": row.recipient, "case": row.case_ref, "created": row.created,
        "received_at": format_instant(row.received_at),
    }
    if full:
        view.update(_body(row.kind, row.payload))
        view["receipt"] = row.receipt
        view["jws_sha256"] = row.jws_sha256
    return view


def _body(kind: str, payload: str) -> dict[str, Any]:
    """The message's body, or a note that it is withheld from officers (docs/hashbank.md, "Who sees hashes")."""
    if kinds.withheld(kind):
        return {"body": None, "body_withheld": "only nodes read this kind's body; its delivery is shown here"}
    return {"body": json.loads(payload)["body"]}


def _desk(address: str) -> str:
    return address.partition("/")[2]


@router.get("/me", summary="The officer behind the token")
def me(officer: Officer, request: Request) -> dict[str, Any]:
    """Who am I, at which node, and the time zone of my desk (the one times are shown in)."""
    node = node_of(request)
    return {"id": officer.id, "name": officer.name, "role": officer.role.value, "desk": officer.desk,
            "email": officer.email, "node": node.state, "timezone": node.settings.desk_policy(officer.desk).timezone}


@router.post("/messages", status_code=202, summary="Send a message to another State's desk")
def send_message(command: SendMessage, officer: Officer, request: Request) -> dict[str, Any]:
    """Seal the message and queue it; delivery is asynchronous, follow it with GET /messages/{id}."""
    node = node_of(request)
    desk = command.desk or officer.desk
    if desk not in node.settings.desk_ids:
        raise ValidationError(f"this node has no desk {desk!r}",
                              hint=f"desks: {', '.join(sorted(node.settings.desk_ids))}")
    officer.require_desk(desk)
    officer.require_role(Role.DUTY_OFFICER, Role.CENTRAL_AUTHORITY, Role.EXAMINER, Role.ADMIN)
    if not kinds.get(command.kind).direct:
        raise ValidationError(f"{command.kind} messages are sent by their workflow, not as plain messages",
                              hint="act on requests with /api/v1/requests (`hanoinet request ...`)")
    with node.db.transaction() as uow:
        row = outbox.enqueue(node, uow, sender_desk=desk, recipient=command.to, kind=command.kind,
                             body=command.body, case=command.case, actor=officer.actor, officer_id=officer.id)
    return _outbox_view(row)


@router.get("/messages", summary="Messages of the officer's desk, newest first")
def list_messages(
    officer: Officer, request: Request,
    direction: Annotated[str, Query(pattern="^(in|out|all)$")] = "all",
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Inbox and/or outbox entries visible to the officer."""
    node = node_of(request)
    if not officer.can_read_desk(officer.desk):
        return []
    # Filter by desk in the query, so the limit counts only what the officer may see.
    own_address = None if officer.reads_every_desk else f"{node.state}/{officer.desk}"
    views: list[dict[str, Any]] = []
    with node.db.transaction(readonly=True) as uow:
        if direction in ("out", "all"):
            query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
            if status:
                query = query.where(OutboxMessage.status == status)
            if own_address:
                query = query.where(OutboxMessage.sender == own_address)
            views += [_outbox_view(r) for r in uow.session.scalars(query)]
        if direction in ("in", "all") and not status:
            query_in = select(InboxMessage).order_by(InboxMessage.received_at.desc()).limit(limit)
            if own_address:
                query_in = query_in.where(InboxMessage.recipient == own_address)
            views += [_inbox_view(r) for r in uow.session.scalars(query_in)]
    return views[:limit]


@router.get("/messages/{message_id}", summary="One message with its body and receipt")
def get_message(message_id: str, officer: Officer, request: Request) -> dict[str, Any]:
    """A message sent or received by the officer's desk."""
    with node_of(request).db.transaction() as uow:
        out = uow.session.scalar(select(OutboxMessage).where(OutboxMessage.message_id == message_id))
        inc = uow.session.get(InboxMessage, message_id)
        view = None
        if out is not None and officer.can_read_desk(_desk(out.sender)):
            view = _outbox_view(out, full=True)
        elif inc is not None and officer.can_read_desk(_desk(inc.recipient)):
            view = _inbox_view(inc, full=True)
        if view is not None:
            # Message bodies may hold personal data: every reading is on the audit trail.
            audit.record(uow.session, actor=officer.actor, officer_id=officer.id, action="message.view",
                         target=message_id)
            return view
    raise NotFound(f"no message {message_id} visible to desk {officer.desk}")


@router.get("/kinds", summary="Message kinds this node knows")
def list_kinds(officer: Officer) -> list[dict[str, str]]:
    """Registered kinds and what they are for."""
    return [{"name": n, "summary": kinds.get(n).summary} for n in kinds.names()]


@router.get("/directory", summary="The current directory: States, desks, endpoints, key fingerprints")
def directory(officer: Officer, request: Request) -> dict[str, Any]:
    """A readable view of the directory this node trusts; each key by its fingerprint (RFC 7638 thumbprint)."""
    d = node_of(request).require_directory()
    return {
        "version": d.version, "issued_at": d.document.issued_at, "expires_at": d.document.expires_at,
        "members": [
            {"state": m.state, "name": m.name, "endpoint": m.endpoint,
             "desks": [desk.model_dump() for desk in m.desks],
             "keys": [key.model_dump(exclude={"jwk"}) for key in m.keys],
             "declarations": [decl.model_dump() for decl in m.declarations],
             "signed_on": m.signed_on, "ratified_on": m.ratified_on}
            for m in d.members()
        ],
    }


@router.post("/directory", summary="Import a signed directory version (admins)")
async def import_directory(officer: Officer, request: Request) -> dict[str, Any]:
    """Verify a directory JWS against the pinned authority key and switch to it if it is newer."""
    officer.require_role(Role.ADMIN)
    compact = (await request.body()).decode("ascii", errors="replace")
    directory, new = await run_in_threadpool(
        directory_sync.import_directory, node_of(request), compact, source=f"upload by {officer.actor}",
        actor=officer.actor,
    )
    return {"version": directory.version, "new": new, "members": [m.state for m in directory.members()]}


@router.get("/audit", summary="The audit trail, newest first")
def audit_log(
    officer: Officer, request: Request, limit: Annotated[int, Query(ge=1, le=10_000)] = 200
) -> list[dict[str, Any]]:
    """Who did what, when (admins only)."""
    officer.require_role(Role.ADMIN)
    with node_of(request).db.transaction(readonly=True) as uow:
        rows = uow.session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit))
        return [{"id": e.id, "at": format_instant(e.at), "actor": e.actor, "action": e.action, "target": e.target,
                 "detail": json.loads(e.detail)} for e in rows]


