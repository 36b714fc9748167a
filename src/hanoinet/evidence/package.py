"""Sealing evidence packages: one canonical ZIP a court verifies offline (docs/evidence.md, "Packages").

Sealing records a ``sealed`` custody event for every file (naming the package), waits until the log has
sequenced them, and writes, in this fixed order:

``mimetype``, ``package.json`` (what the package holds and the sender's use conditions), ``manifest.jsonld``
(CASE/UCO), ``custody.json`` (every custody record of the files with its inclusion proof in one signed,
cosigned checkpoint), ``signer.json`` (the signer's key, member card and, when the node has one, the signed
directory), the files under ``files/NNNN/<name>``, and last ``signature.jws``: the signer's JWS over the
name, size and SHA-256 of every member before it. Files stream from the blob store through decryption into
the archive, so memory stays constant whatever their size.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hanoinet.clock import format_instant, now, parse_instant
from hanoinet.crypto import jose
from hanoinet.crypto.canonical import canonical_json
from hanoinet.db.models import EvidenceCustody, EvidenceFile, LedgerCheckpoint, LedgerCosignature, LedgerEntry
from hanoinet.errors import Conflict, TransportError, ValidationError
from hanoinet.evidence.canonzip import CanonicalZipWriter
from hanoinet.evidence.caseuco import ManifestAction, ManifestFile, build_manifest
from hanoinet.evidence.layout import CONTENTS_TYP, HEAD, MEDIA_TYPE, PACKAGE_TYPE, SIGNATURE
from hanoinet.evidence.service import EvidenceItem, EvidenceService, check_case, package_path, record_custody_many
from hanoinet.ledger import log as ledger
from hanoinet.ledger.events import CustodyEvent, parse_record
from hanoinet.privacy import grants
from hanoinet.privacy.use import Use
from hanoinet.states import check_state


@dataclass(frozen=True, slots=True)
class UseConditions:
    """What the receiving State may do with the evidence (Art. 36 and 40 of the Convention)."""

    purpose: str
    #: Onward transfer to a third State or body needs the sender's prior consent.
    onward_transfer: str = "only with the prior written consent of the sending State"
    #: Further conditions the sending State sets (e.g. confidentiality, data protection safeguards).
    conditions: tuple[str, ...] = ()
    #: When the receiving State must have destroyed the data (Art. 36); None: the sender set no period.
    retain_until: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        """As recorded in ``package.json`` (``retain_until`` only when a period is set)."""
        return {"purpose": self.purpose, "onward_transfer": self.onward_transfer,
                "conditions": list(self.conditions),
                "articles": ["Art. 36 (protection of personal data)", "Art. 40 (general principles of mutual "
                             "legal assistance: use limited to the purpose of the request)"],
                **({} if self.retain_until is None else {"retain_until": format_instant(self.retain_until)})}


@dataclass(frozen=True, slots=True)
class PackageFile:
    """A file member: where it goes, its recorded size and SHA-256, and how to read its plaintext."""

    path: str
    size: int
    sha256: str
    chunks: Callable[[], Iterator[bytes]]


@dataclass(frozen=True, slots=True)
class Prepared:
    """A sealed package before it is written: its metadata members, files and signature."""

    package_id: str
    head: dict[str, bytes]
    files: tuple[tuple[str, EvidenceItem], ...]
    signature: bytes
    checkpoint_size: int
    witnesses: tuple[str, ...]
    warnings: tuple[str, ...] = field(default=())


def _held_retention(items: Sequence[EvidenceItem], conditions: UseConditions) -> UseConditions:
    """The conditions a package goes out under, bound by the retention periods of the files it holds.

    Data this State must destroy by a date cannot be handed on to be kept longer (Art. 36): the package's end
    is the earliest end of its files unless an earlier one is given; a later one is refused, and so is a file
    whose period has already ended (it waits only for the retention job to be shredded).
    """
    ends = [i.retain_until for i in items if i.retain_until is not None]
    if not ends:
        return conditions
    held_until = min(ends)
    if held_until <= now():
        ended = [i.name for i in items if i.retain_until is not None and i.retain_until <= now()]
        raise Conflict(f"the retention period of {', '.join(ended)} has ended: it is to be shredded, not sent",
                       code="retention_ended", hint="leave these files out (--file) and send the others")
    if conditions.retain_until is None:
        return replace(conditions, retain_until=held_until)
    if conditions.retain_until > held_until:
        raise ValidationError(
            f"the files must be destroyed by {format_instant(held_until)}; a package cannot let the recipient keep "
            f"them until {format_instant(conditions.retain_until)}", code="retention_longer_than_held",
            hint=f"give an end no later than {format_instant(held_until)}, or none (that end is then used)")
    return conditions


def prepare(service: EvidenceService, *, case: str, actor: str, conditions: UseConditions,
            recipient: str | None = None, file_ids: Sequence[str] | None = None, witness_wait: float = 0.0,
            min_witnesses: int = 0, sequence_timeout: float = 30.0) -> Prepared:
    """Seal the files of ``case`` (or the named ones): custody events, proofs, metadata and signature.

    The signature covers the files' recorded SHA-256; :func:`write_package` checks each file against it as
    it streams. ``witness_wait`` seconds are spent waiting, if needed, for ``min_witnesses`` cosignatures of a
    checkpoint covering the package's custody records (``too_few_witnesses`` if they do not come); with
    ``min_witnesses`` 0 an unwitnessed package says so in its warnings. Only records of how each file came to
    be held and of this sealing are included: other packages' records are not the recipient's business.
    """
    node = service.node
    check_case(case)
    if recipient is not None:
        check_state(recipient)
    if not conditions.purpose.strip():
        raise ValidationError("the use conditions need a purpose (e.g. the request or case it serves)",
                              code="purpose_required")
    items = [i for i in service.list(case) if file_ids is None or i.id in file_ids]
    missing = set(file_ids or ()) - {i.id for i in items}
    if missing:
        raise ValidationError(f"files not in case {case!r}: {', '.join(sorted(missing))}", code="evidence_not_found")
    shredded = [i.name for i in items if i.shredded_at is not None]
    if shredded:
        raise Conflict(f"shredded files cannot be packaged: {', '.join(shredded)}", code="evidence_shredded")
    if not items:
        raise ValidationError(f"case {case!r} holds no evidence on this node", hint="add files with "
                              "`hanoinet evidence add FILE --case REF`", code="case_empty")
    with node.db.transaction(readonly=True) as uow:
        rows = [row for i in items if (row := uow.session.get(EvidenceFile, i.id)) is not None]
        # Received files: in the case they were given for (or one consented to), and to no other State or
        # organisation than with their originating State's consent (docs/privacy.md).
        grants.enforce(uow.session, rows, Use("case", case), node.state)
        if recipient is not None and recipient != node.state:
            grants.enforce(uow.session, rows, Use("transfer", recipient), node.state)
    conditions = _held_retention(items, conditions)
    package_id = str(uuid.uuid4())
    created = now()
    with node.db.transaction() as uow:
        record_custody_many(uow.session, [(item.id, CustodyEvent(
            action="sealed", at=format_instant(created), node=node.state, actor=actor, object_sha256=item.sha256,
            case=case, detail={"file": item.id, "package": package_id})) for item in items])
    entries = _own_records(_await_sequenced(service, [i.id for i in items], sequence_timeout), package_id)
    needed = max(index for index, _ in entries.values()) + 1
    checkpoint_size, note, witnesses = _checkpoint(service, needed, witness_wait, min_witnesses)
    if len(witnesses) < min_witnesses:
        raise TransportError(f"{len(witnesses)} of the {min_witnesses} witness cosignatures asked for arrived within "
                             f"{witness_wait:.0f} s; the package was not written (its sealing stays in the custody "
                             "log)",
                             hint="wait longer (--wait-witnesses) or check that the witnesses' nodes are reachable",
                             code="too_few_witnesses")
    warnings = [] if witnesses else ["the checkpoint is not cosigned by any witness yet"]
    with node.db.transaction(readonly=True) as uow:
        custody = _custody(uow.session, service, entries, checkpoint_size, note)
    paths = [(package_path(n, item.name), item) for n, item in enumerate(items, start=1)]
    described = {
        "type": PACKAGE_TYPE, "v": 1, "id": package_id, "created_at": format_instant(created),
        "sender": node.state, "recipient": recipient, "case": case, "use_conditions": conditions.as_json(),
        "files": [{"path": path, "file_id": i.id, "name": i.name, "size": i.size, "sha256": i.sha256,
                   "blake3": i.blake3, "media_type": i.media_type, "origin": i.origin,
                   "ingested_at": format_instant(i.ingested_at), "ingested_by": i.ingested_by} for path, i in paths],
    }
    manifest = build_manifest(
        package_id=package_id, case_reference=case, sender_state=node.state, recipient_state=recipient,
        created_at=created, purpose=conditions.purpose,
        files=[ManifestFile(path=path, name=i.name, size=i.size, sha256=i.sha256, blake3=i.blake3,
                            media_type=i.media_type, ingested_at=i.ingested_at, ingested_by=i.ingested_by)
               for path, i in paths],
        actions=_actions(custody["entries"], {i.id: path for path, i in paths}),
    )
    key = node.signing_key()
    directory = node.directory
    signer = {"state": node.state, "kid": key.kid, "jwk": key.public, "card": node.signed_card(),
              "directory": directory.compact if directory is not None else None, "authority": node.authority}
    head = {"mimetype": MEDIA_TYPE.encode("ascii"), "package.json": canonical_json(described),
            "manifest.jsonld": canonical_json(manifest), "custody.json": canonical_json(custody),
            "signer.json": canonical_json(signer)}
    listed = [{"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
              for name, data in head.items()]
    listed += [{"name": path, "size": i.size, "sha256": i.sha256} for path, i in paths]
    contents = {"type": "hanoinet-package-contents", "v": 1, "package": package_id,
                "created_at": format_instant(created), "signer": {"state": node.state, "kid": key.kid},
                "members": listed}
    signature = jose.sign(canonical_json(contents), key, typ=CONTENTS_TYP).encode("ascii")
    return Prepared(package_id, head, tuple(paths), signature, checkpoint_size, tuple(witnesses), tuple(warnings))


def write_package(out: Path, head: Mapping[str, bytes], files: Sequence[PackageFile], signature: bytes) -> None:
    """Write a package in the canonical layout; the same members always give the same bytes.

    Each file is checked against its recorded SHA-256 as it streams; the package appears at ``out`` only
    once complete (it is written to ``out.partial`` and renamed).
    """
    if tuple(head) != HEAD:
        raise ValueError(f"metadata members must be {HEAD}, in that order")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    try:
        # It holds plaintext evidence: readable by the node's user only, like the data directory.
        with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as handle:
            writer = CanonicalZipWriter(handle)
            for name, data in head.items():
                writer.add_bytes(name, data)
            for item in files:
                member = writer.add(item.path, item.chunks(), size=item.size)
                if member.sha256.hex() != item.sha256:
                    raise Conflict(f"evidence file {item.path} no longer has its recorded SHA-256",
                                   hint="the stored blob or its key was altered; report it and do not use this "
                                   "package", code="evidence_altered")
            writer.add_bytes(SIGNATURE, signature)
            writer.close()
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)


def seal(service: EvidenceService, *, case: str, out: Path, actor: str, conditions: UseConditions,
         recipient: str | None = None, file_ids: Sequence[str] | None = None, witness_wait: float = 0.0,
         min_witnesses: int = 0, progress: Callable[[int], None] | None = None) -> Prepared:
    """:func:`prepare` a package of this node's files and write it to ``out``."""
    prepared = prepare(service, case=case, actor=actor, conditions=conditions, recipient=recipient,
                       file_ids=file_ids, witness_wait=witness_wait, min_witnesses=min_witnesses)
    files = [PackageFile(path, item.size, item.sha256, partial(_counted, service, item.id, progress))
             for path, item in prepared.files]
    write_package(out, prepared.head, files, prepared.signature)
    return prepared


def _counted(service: EvidenceService, item_id: str, progress: Callable[[int], None] | None) -> Iterator[bytes]:
    for chunk in service.plaintext(item_id):
        if progress is not None:
            progress(len(chunk))
        yield chunk


def _await_sequenced(service: EvidenceService, file_ids: list[str],
                     timeout: float) -> dict[bytes, tuple[int, str]]:
    """Every custody entry of the files with its index and record, once the log has sequenced them all.

    A running node's sequencer picks them up within a second; a node that is not running is sequenced here.
    """
    node = service.node
    sequencer = ledger.Sequencer(node, holder=f"seal-{uuid.uuid4().hex[:8]}")
    deadline = time.monotonic() + timeout
    while True:
        with node.db.transaction(readonly=True) as uow:
            wanted = set(uow.session.scalars(select(EvidenceCustody.entry)
                                             .where(EvidenceCustody.file_id.in_(file_ids))))
            rows = uow.session.execute(select(LedgerEntry.entry, LedgerEntry.idx, LedgerEntry.record)
                                       .where(LedgerEntry.entry.in_(wanted)).order_by(LedgerEntry.idx.desc())).all()
        # An identical record logged twice proves the same thing at either index; the first is kept.
        found = {entry: (index, record) for entry, index, record in rows if record is not None}
        if set(found) >= wanted:
            return found
        if time.monotonic() > deadline:
            raise TransportError(f"the custody log has not sequenced {len(wanted) - len(found)} of the package's "
                                 f"records within {timeout:.0f} s", hint="check that the node's sequencer runs "
                                 "(`hanoinet ledger status`), then seal again", code="not_sequenced")
        if sequencer.step() is None:
            time.sleep(0.2)  # a running node holds the lease and will sequence them


#: Custody records a package carries about each file: how it came to be held, and this sealing. Records of
#: other packages (and to whom they were sent) are not disclosed to this package's recipient.
_ORIGIN_ACTIONS = frozenset({"collected", "ingested", "received"})


def _own_records(entries: dict[bytes, tuple[int, str]], package_id: str) -> dict[bytes, tuple[int, str]]:
    kept = {}
    for entry, (index, record) in entries.items():
        event = parse_record(record.encode("utf-8"))
        if event.action in _ORIGIN_ACTIONS or (event.action == "sealed" and event.detail.get("package") == package_id):
            kept[entry] = (index, record)
    return kept


def _checkpoint(service: EvidenceService, needed: int, wait: float,
                min_witnesses: int) -> tuple[int, str, list[str]]:
    """The newest checkpoint covering ``needed`` entries, preferring one with enough cosignatures."""
    deadline = time.monotonic() + wait
    while True:
        with service.node.db.transaction(readonly=True) as uow:
            session = uow.session
            latest = session.scalar(select(LedgerCheckpoint).where(LedgerCheckpoint.size >= needed)
                                    .order_by(LedgerCheckpoint.size.desc()).limit(1))
            if latest is None:
                raise TransportError("no checkpoint covers the package's custody records yet", code="not_sequenced")
            best = session.execute(
                select(LedgerCosignature.size, func.count()).where(LedgerCosignature.size >= needed)
                .group_by(LedgerCosignature.size).order_by(func.count().desc(), LedgerCosignature.size.desc())
                .limit(1)).first()
            size = best[0] if best is not None and best[1] >= max(min_witnesses, 1) else latest.size
            checkpoint = session.get(LedgerCheckpoint, size) or latest
            cosignatures = session.execute(select(LedgerCosignature.witness, LedgerCosignature.line)
                                           .where(LedgerCosignature.size == size)
                                           .order_by(LedgerCosignature.witness)).all()
        if len(cosignatures) >= min_witnesses or time.monotonic() >= deadline:
            note = checkpoint.note + "".join(line for _, line in cosignatures)
            return size, note, [witness for witness, _ in cosignatures]
        time.sleep(0.5)


def _custody(session: Session, service: EvidenceService, entries: dict[bytes, tuple[int, str]], size: int,
             note: str) -> dict[str, Any]:
    node = service.node
    listed = []
    for entry, (index, record) in sorted(entries.items(), key=lambda e: e[1][0]):
        _, proof = ledger.inclusion(session, index, size)
        listed.append({"index": index, "entry": _b64(entry), "record": record, "proof": [_b64(h) for h in proof]})
    return {"origin": ledger.origin(node), "verifier_key": ledger.verifier(node).vkey, "size": size,
            "checkpoint": note, "entries": listed}


def _actions(entries: list[dict[str, Any]], paths: dict[str, str]) -> list[ManifestAction]:
    """The custody records as CASE actions, each on the member path of the file it names (by file id)."""
    actions = []
    for listed in entries:
        event = parse_record(str(listed["record"]).encode("utf-8"))
        path = paths.get(str(event.detail.get("file", "")))
        if path is None:
            continue
        actions.append(ManifestAction(action=event.action, at=parse_instant(event.at), performer=event.actor,
                                      state=event.node, objects=(path,), ledger_index=int(listed["index"])))
    return actions


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
