"""``/api/v1/access-log``: the access log for auditors; and the reason that every read of personal data takes.

A route that shows personal data takes the officer's reason as the query parameter ``reason`` (:data:`Reason`),
refuses a read without one (422 ``reason_required``) before it reads anything, and records the read
(:func:`record_reads`) before it answers (docs/privacy.md, "Access log").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from hanoinet.api.inputs import CheckedRoute
from hanoinet.api.officers import Officer, node_of
from hanoinet.clock import parse_rfc3339
from hanoinet.node.officers import Principal
from hanoinet.node.roles import Role
from hanoinet.privacy import access
from hanoinet.privacy.access import Item, ItemKind, Read, Reader
from hanoinet.privacy.reasons import MAX_REASON, check_reason

router = APIRouter(route_class=CheckedRoute, prefix="/api/v1", tags=["privacy"])

#: Who may read the access log: admins, who read the audit trail, and supervisors, who oversee every desk.
AUDITORS = (Role.ADMIN, Role.SUPERVISOR)

#: The reason of a read of personal data, as every route that shows some takes it.
Reason = Annotated[str | None, Query(description=(
    "why you read this (required): the request you answer, the case you work on; one line, at most "
    f"{MAX_REASON} characters, kept in the access log with your name (docs/privacy.md)"))]
_ADD = "the query parameter reason (e.g. ?reason=answering%20FRA-2026-0012)"
_ITEM = 200  # the longest item reference the log keeps (hanoinet.db.models.AccessRecord)


def require_reason(reason: str | None) -> str:
    """The reason given to an API route, checked (:func:`hanoinet.privacy.access.check_reason`)."""
    return check_reason(reason, add=_ADD)


def via(request: Request) -> str:
    """The route of ``request`` as declared and documented: ``GET /api/v1/requests/{ref}`` (a parameter's
    converter left out: ``/api/v1/cases/{case}``, not ``{case:path}``)."""
    return f"{request.method} {getattr(request.scope.get('route'), 'path_format', request.url.path)}"


def record_reads(request: Request, officer: Principal, reason: str, items: Iterable[Item] = (), *,
                 received_package: str | None = None) -> None:
    """Record the reads of ``items``, and of the files of ``received_package``, in a transaction of their own.

    For routes whose reading service opens its own transaction: the read is recorded once it succeeded and
    before anything of it is sent, so that nothing is shown unrecorded; if recording fails, the route fails.
    """
    reader = Reader.of(officer)
    with node_of(request).db.transaction() as uow:
        read = [*items, *(access.received_files(uow.session, received_package) if received_package else ())]
        access.record_many(uow.session, [Read(reader=reader, kind=i.kind, item=i.ref, case=i.case, reason=reason,
                                              via=via(request)) for i in read])


@router.get("/access-log", summary="Reads of personal data by officers, newest first (admins, supervisors)")
def access_log(
    *, officer: Officer, request: Request, reason: Reason = None,
    by: Annotated[str | None, Query(alias="officer", max_length=100, description=(
        "only this officer's reads: their id (3), or an actor (officer:3, operator:LOGIN)"))] = None,
    kind: Annotated[ItemKind | None, Query(description="only reads of this kind of item")] = None,
    item: Annotated[str | None, Query(max_length=_ITEM, description=(
        "only reads of this item: a request's reference, an evidence file's id"))] = None,
    case: Annotated[str | None, Query(max_length=128, description="only reads of this case's items")] = None,
    since: Annotated[str | None, Query(description="only reads at or after this RFC 3339 time")] = None,
    until: Annotated[str | None, Query(description="only reads before this RFC 3339 time")] = None,
    before: Annotated[int | None, Query(ge=1, le=2**53 - 1, description=(
        "only rows older than this one (seq): the `before` of the previous page"))] = None,
    limit: Annotated[int, Query(ge=1, le=access.MAX_PAGE)] = 100,
) -> dict[str, Any]:
    """Each row: who read (officer id, actor, name), when, which item of which case, why, and through which route
    or command, with its place in the chain. This query is itself recorded, with its filters as the item."""
    officer.require_role(*AUDITORS)
    why = require_reason(reason)
    actor = access.actor_of(by) if by is not None else None
    start = parse_rfc3339(since, field="since") if since is not None else None
    end = parse_rfc3339(until, field="until") if until is not None else None
    asked = " ".join(f"{name}={value}" for name, value in (
        ("officer", actor), ("kind", kind and kind.value), ("item", item), ("case", case), ("since", since),
        ("until", until), ("before", before)) if value is not None) or "all"
    with node_of(request).db.transaction() as uow:
        page = access.query(uow.session, actor=actor, kind=kind, item=item, case=case, since=start, until=end,
                            before=before, limit=limit)
        access.record(uow.session, Read(reader=Reader.of(officer), kind=ItemKind.ACCESS_LOG,
                                        item=asked if len(asked) <= _ITEM else asked[:_ITEM - 1] + "…",
                                        case=case, reason=why, via=via(request)))
    return page.as_json()


@router.get("/access-log/chain", summary="Check the access log's chain of digests (admins, supervisors)")
def access_log_chain(
    officer: Officer, request: Request,
    anchor: Annotated[str | None, Query(pattern=r"^[0-9a-f]{64}$", description=(
        "a digest you recorded earlier (a `head`): the check fails if no row has it any more"))] = None,
) -> dict[str, Any]:
    """Whether every row is there, in order and unchanged; ``head`` is the newest digest, to keep as a later
    ``anchor``. Shows no row, so it takes no reason and is not recorded."""
    officer.require_role(*AUDITORS)
    with node_of(request).db.transaction(readonly=True) as uow:
        return access.verify(uow.session, anchor=anchor).as_json()
