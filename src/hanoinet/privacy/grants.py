"""The consents this node holds, read from the database, and the purpose rule applied to evidence files.

:func:`enforce` is what every interface that uses received evidence calls (re-filing, packaging, offering):
it reads the files' received facts and the consents recorded for them, and lets :mod:`hanoinet.privacy.use`
decide.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from hanoinet.db.models import ConsentItem, ConsentRequest, EvidenceFile, EvidenceOffer, EvidenceOfferFile
from hanoinet.privacy.use import Grant, Received, Use, require


def received(row: EvidenceFile, own_state: str) -> Received | None:
    """The received facts of an evidence file; None for this State's own evidence.

    A file that came in a package (``origin_package``) is received whatever its recorded origin: nothing may
    turn received evidence into this State's own.
    """
    if row.origin == own_state and row.origin_package is None:
        return None
    return Received(file_id=row.id, sha256=row.sha256, origin=row.origin, package=row.origin_package,
                    case=row.origin_case or row.case_ref, purpose=row.purpose)


def received_copy(session: Session, sha256: str, own_state: str) -> str | None:
    """Where content with this SHA-256 came from, if this node received it from another State (a file pulled,
    shredded or not, or one of an incoming offer): ``"BRA, package <id>"``; None if it never did.

    Ingesting it again would make a copy of received evidence this State's own, free of its purpose, its
    consent and its retention period.
    """
    held = session.execute(
        select(EvidenceFile.origin, EvidenceFile.origin_package)
        .where(EvidenceFile.sha256 == sha256,
               (EvidenceFile.origin != own_state) | EvidenceFile.origin_package.is_not(None))
        .limit(1)).first()
    if held is not None:
        return f"{held[0]}, package {held[1]}" if held[1] else str(held[0])
    offered = session.execute(
        select(EvidenceOffer.peer, EvidenceOffer.id)
        .join(EvidenceOfferFile, (EvidenceOfferFile.offer_id == EvidenceOffer.id)
              & (EvidenceOfferFile.direction == EvidenceOffer.direction))
        .where(EvidenceOffer.direction == "in", EvidenceOfferFile.sha256 == sha256)
        .limit(1)).first()
    return f"{offered[0]}, package {offered[1]}" if offered is not None else None


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
