"""The consents this node holds, read from the database, and the purpose rule applied to evidence files.

:func:`enforce` is what every interface that uses received evidence calls (re-filing, packaging, offering):
it reads the files' received facts and the consents recorded for them, and lets :mod:`hanoinet.privacy.use`
decide.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from hanoinet.db.models import ConsentItem, ConsentRequest, EvidenceFile
from hanoinet.privacy.use import Grant, Received, Use, require


def received(row: EvidenceFile, own_state: str) -> Received | None:
    """The received facts of an evidence file; None for this State's own evidence."""
    if row.origin == own_state:
        return None
    return Received(file_id=row.id, sha256=row.sha256, origin=row.origin, package=row.origin_package,
                    case=row.origin_case or row.case_ref, purpose=row.purpose)


def grants(session: Session, sha256s: Sequence[str]) -> list[Grant]:
    """Every consent granted to this node for items with these content hashes."""
    if not sha256s:
        return []
    rows = session.execute(
        select(ConsentItem.sha256, ConsentItem.package, ConsentRequest.peer, ConsentRequest.use,
               ConsentRequest.target)
        .join(ConsentRequest, (ConsentRequest.id == ConsentItem.request_id)
              & (ConsentRequest.direction == ConsentItem.direction))
        .where(ConsentItem.direction == "out", ConsentItem.status == "granted",
               ConsentItem.sha256.in_(sorted(set(sha256s))))).all()
    return [Grant(sha256, package, peer, Use("case" if use == "case" else "transfer", target))
            for sha256, package, peer, use, target in rows]


def enforce(session: Session, rows: Sequence[EvidenceFile], use: Use, own_state: str) -> None:
    """Refuse (``403 consent_required``) a ``use`` of received files that their originating State has not
    consented to; this State's own files are never refused."""
    items = [item for row in rows if (item := received(row, own_state)) is not None]
    if items:
        require(items, use, grants(session, [item.sha256 for item in items]))
