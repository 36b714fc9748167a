"""``/api/v1/cases``: one case, everything in it (docs/mla.md, "One case, everything in it")."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from hanoinet import cases
from hanoinet.api.inputs import CheckedRoute
from hanoinet.api.officers import Officer, node_of
from hanoinet.api.privacy import Reason, record_reads, require_reason
from hanoinet.privacy.access import Item, ItemKind

router = APIRouter(route_class=CheckedRoute, prefix="/api/v1", tags=["requests"])

#: A case reference may hold ``/`` (hanoinet.evidence.service.check_case): the path takes the rest of the URL.
Case = Annotated[str, Path(max_length=128, description="the case reference, e.g. VNM-HN-2026-0117; URL-encoded")]


@router.get("/cases/{case:path}", summary="One case: its requests, evidence, packages, custody and consents")
def get_case(case: Case, officer: Officer, request: Request, reason: Reason = None) -> dict[str, Any]:
    """The requests filed under the case and those linked to them, the evidence files with their custody, the
    packages sent and received, and the consents asked and answered; only what the officer's desk may read.
    It shows personal data: a reason is required, and the read is recorded in the access log (docs/privacy.md)."""
    why = require_reason(reason)
    shown = cases.show(node_of(request), officer, case)
    record_reads(request, officer, why, [Item(ItemKind.CASE, case, case)])
    return shown
