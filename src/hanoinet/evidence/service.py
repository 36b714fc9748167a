"""Evidence held by this node: streaming ingest, reading back, listing, and shredding.

Ingest reads a file once: SHA-256 (and BLAKE3 if configured) of the plaintext, encryption with a fresh data
key (:mod:`hanoinet.evidence.stream`) and the durable write of the ciphertext to the blob store overlap, so
memory stays constant (a few blocks in flight) whatever the file's size. The file's row, its wrapped data
key and its ``ingested`` custody event are committed in one transaction after the blob is durable: a crash
before that leaves at most a blob nothing refers to (whose key was never stored), never a file that looks
complete; a failure that is not a crash deletes that blob.
"""

from __future__ import annotations

import hashlib
import json
import queue
import re
import threading
import unicodedata
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from hanoinet.clock import format_instant, now
from hanoinet.db.models import EvidenceCustody, EvidenceFile
from hanoinet.errors import Conflict, Forbidden, NotFound, ValidationError
from hanoinet.evidence import stream
from hanoinet.evidence.blobs import BlobStore, open_store
from hanoinet.evidence.canonzip import name_problem
from hanoinet.evidence.datakeys import KeyVault
from hanoinet.ledger import log as ledger
from hanoinet.ledger.events import CustodyEvent, register_action
from hanoinet.node.node import Node
from hanoinet.privacy import grants
from hanoinet.privacy.use import Use
from hanoinet.text import refused_character

log = structlog.get_logger("hanoinet.evidence")
register_action("refiled")

#: Read and hand on the plaintext in blocks of this size: large enough for the hash and cipher to run at
#: full speed, small enough that the blocks in flight stay a few MiB.
BLOCK = 2 << 20
_IN_FLIGHT = 4
_CASE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._:/-]{0,127}$")


def check_case(reference: str) -> str:
    """A case reference: 1-128 characters, letters, digits, space and ``._:/-``, starting with a letter/digit."""
    if not _CASE.fullmatch(reference):
        raise ValidationError(f"case reference {reference!r} is not valid",
                              hint="use 1-128 letters, digits, spaces and . _ : / -, starting with a letter or digit",
                              code="bad_case")
    return reference


def check_file_name(name: str) -> str:
    """An evidence file's name as recorded and shown: 1-255 bytes of UTF-8, no ``/``, no control characters.

    Anything else a file system allows is kept as it is (``:`` or ``\\`` from a seized disk, say); packages
    store the file under :func:`package_path`, which the ZIP layout accepts, and keep the name in their metadata.
    """
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        problem: str | None = "it is not valid UTF-8"
    else:
        refused = refused_character(name, lines=False)
        problem = ("it is empty" if not name else "it holds a '/'" if "/" in name
                   else f"character {refused[0] + 1} is {refused[1]}" if refused is not None
                   else f"it is {size} bytes long" if size > 255
                   else "it is a path component ('.' or '..')" if name in {".", ".."} else None)
    if problem:
        raise ValidationError(f"file name {name!r} is not usable for evidence: {problem}",
                              hint="rename the file: 1-255 bytes of UTF-8 without '/' or control characters",
                              code="bad_file_name")
    return name


def package_path(position: int, name: str) -> str:
    """Where file number ``position`` (1-based) goes in a package: ``files/NNNN/<name>``, the name made safe for
    every ZIP reader (NFC; ``:`` and ``\\`` replaced by ``_``; shortened to fit 255 bytes, extension kept)."""
    safe = "".join("_" if c in ":\\" else c for c in unicodedata.normalize("NFC", name))
    prefix = f"files/{position:04d}/"
    stem, dot, extension = safe.rpartition(".") if "." in safe.lstrip(".") else (safe, "", "")
    while len((prefix + safe).encode("utf-8")) > 255:
        stem = stem[:-1]
        safe = f"{stem}{dot}{extension}" if stem else safe[1:]
    path = prefix + safe
    problem = name_problem(path)
    if problem:  # unreachable for names check_file_name accepts; a plain fallback keeps the package writable
        path = f"{prefix}file"
    return path


@dataclass(frozen=True, slots=True)
class EvidenceItem:
    """One evidence file as officers and packages see it."""

    id: str
    case: str
    name: str
    size: int
    sha256: str
    blake3: str | None
    media_type: str | None
    origin: str
    ingested_at: datetime
    ingested_by: str
    shredded_at: datetime | None
    #: The desk whose evidence it is; None for files held before desks were recorded.
    desk: str | None = None
    #: When the file's retention ends (the earlier of the two ends below; None: no period) and, if set, the ends
    #: of the sending State's period and of this State's domestic one (docs/privacy.md, "Retention").
    retain_until: datetime | None = None
    sender_retain_until: datetime | None = None
    domestic_retain_until: datetime | None = None
    #: For a file received from another State (docs/privacy.md): what it was given for; None for our own.
    received: ReceivedFrom | None = None

    @classmethod
    def of(cls, row: EvidenceFile) -> EvidenceItem:
        """From its database row."""
        received = None
        if row.origin_sender is not None:
            conditions = json.loads(row.use_conditions) if row.use_conditions else {}
            received = ReceivedFrom(sender=row.origin_sender, package=row.origin_package,
                                    case=row.origin_case or row.case_ref, purpose=row.purpose,
                                    conditions=tuple(str(c) for c in conditions.get("conditions", ())),
                                    onward_transfer=conditions.get("onward_transfer"))
        return cls(row.id, row.case_ref, row.name, row.size, row.sha256, row.blake3, row.media_type, row.origin,
                   row.ingested_at, row.ingested_by, row.shredded_at, row.desk, row.retain_until,
                   row.sender_retain_until, row.domestic_retain_until, received)

    @property
    def retention_set_by(self) -> str | None:
        """Whose period ends first: ``domestic`` (this State's), ``sender`` (the sending State's), or None."""
        if self.retain_until is None:
            return None
        return "domestic" if self.retain_until == self.domestic_retain_until else "sender"

    def as_json(self) -> dict[str, object]:
        """For the API and ``--json``."""
        return {"id": self.id, "case": self.case, "name": self.name, "size": self.size, "sha256": self.sha256,
                "blake3": self.blake3, "media_type": self.media_type, "origin": self.origin,
                "ingested_at": format_instant(self.ingested_at), "ingested_by": self.ingested_by,
                "shredded_at": _instant(self.shredded_at), "desk": self.desk,
                "retention": {"until": _instant(self.retain_until), "set_by": self.retention_set_by,
                              "sender_until": _instant(self.sender_retain_until),
                              "domestic_until": _instant(self.domestic_retain_until)},
                "received": self.received.as_json() if self.received is not None else None}


def _instant(t: datetime | None) -> str | None:
    return format_instant(t) if t is not None else None


@dataclass(frozen=True, slots=True)
class ReceivedFrom:
    """What a file received from another State was given for: its use is limited to it (docs/privacy.md)."""

    #: The sending desk's address (``STATE/desk``; the State alone for files received before it was recorded).
    sender: str
    package: str | None
    #: The case it was given for (the sender's reference): using it there is its purpose.
    case: str
    purpose: str | None
    conditions: tuple[str, ...]
    onward_transfer: str | None

    def as_json(self) -> dict[str, object]:
        """For the API and ``--json``."""
        return {"sender": self.sender, "package": self.package, "case": self.case, "purpose": self.purpose,
                "conditions": list(self.conditions), "onward_transfer": self.onward_transfer}


def record_custody(session: Session, item_id: str, event: CustodyEvent) -> None:
    """Queue a custody event about evidence file ``item_id`` and remember which entry it becomes."""
    record_custody_many(session, [(item_id, event)])


def record_custody_many(session: Session, events: Sequence[tuple[str, CustodyEvent]]) -> None:
    """Queue custody events about evidence files (``(file id, event)``) with one insert, linking each entry."""
    entries = ledger.record_many(session, [event for _, event in events])
    t = now()
    session.add_all([EvidenceCustody(file_id=item_id, entry=entry, action=event.action, at=t)
                     for (item_id, event), entry in zip(events, entries, strict=True)])


class EvidenceService:
    """The node's evidence: one per process, holding the blob store and the data key vault."""

    def __init__(self, node: Node, store: BlobStore | None = None) -> None:
        self.node = node
        settings = node.settings
        self.store = store or open_store(settings.blob_store, settings.data_dir,
                                         endpoint_url=settings.blob_endpoint_url or None,
                                         region=settings.blob_region or None)
        self.vault = KeyVault(node)
        self.vault.ensure_epoch()
        # Finishes a shred that stopped after its commit (the old KEK file would otherwise outlive it).
        self.vault.destroy_retired()

    # -- ingest ------------------------------------------------------------------------------------------

    def ingest(self, source: Readable, *, name: str, case: str, actor: str, media_type: str | None = None,
               desk: str | None = None, progress: Callable[[int], None] | None = None,
               in_transaction: Callable[[Session], None] | None = None) -> EvidenceItem:
        """Read ``source`` to its end once, store it encrypted, and record it in ``case``; see the module doc.

        The file is filed at ``desk`` (default: the node's first desk), whose officers alone handle it.
        ``in_transaction`` runs in the transaction that records the file (e.g. to close the upload it came from).
        """
        check_case(case)
        desk = self.desk(desk)
        check_file_name(name)
        data_key = stream.new_data_key()
        encryptor = stream.Encryptor(data_key)
        sha256 = hashlib.sha256()
        blake3 = _blake3() if self.node.settings.evidence_blake3 else None
        size = 0
        hashers: list[_Hasher] = [sha256] if blake3 is None else [sha256, blake3]

        def hash_block(block: bytes) -> None:
            for hasher in hashers:
                hasher.update(block)

        with self.store.create() as writer:
            def seal_block(block: bytes) -> None:
                encryptor.update_into(block, writer.reserve)

            # Hashing and sealing (encryption straight into the blob writer's buffers) run on their own threads;
            # both release the GIL, so each block is hashed on one core while it is encrypted on the other.
            writer.write(encryptor.start())
            hashing, sealing = _Stage(hash_block, "evidence-hash"), _Stage(seal_block, "evidence-seal")
            try:
                while block := source.read(BLOCK):
                    size += len(block)
                    hashing.put(block)
                    sealing.put(block)
                    if progress is not None:
                        progress(len(block))
            finally:
                try:
                    hashing.close()
                finally:
                    sealing.close()  # always joined: the writer must not be aborted under its thread
            encryptor.finish_into(writer.reserve)
            writer.commit()
            blob_id = writer.id
        item_id = uuid.uuid4().hex
        t = now()
        digest = sha256.hexdigest()
        try:
            with self.node.db.transaction() as uow:
                came_from = grants.received_copy(uow.session, digest, self.node.state)
                if came_from is not None:
                    raise Forbidden(
                        f"this content was received from another State ({came_from}): a copy of it cannot be "
                        "taken in as this State's own evidence, free of the purpose and conditions it was given "
                        "under (Art. 36, 40)", code="received_content",
                        hint="use the received file itself: `hanoinet evidence list` shows it; to use it in "
                             "another case or send it on, ask its State's consent (docs/privacy.md)")
                epoch, wrapped = self.vault.wrap(uow.session, item_id, data_key)
                row = EvidenceFile(id=item_id, case_ref=case, name=name, media_type=media_type, size=size,
                                   sha256=digest, blake3=blake3.hexdigest() if blake3 is not None else None,
                                   blob_id=blob_id, chunk_size=encryptor.header.chunk_size, wrapped_key=wrapped,
                                   kek_epoch=epoch, origin=self.node.state, ingested_at=t, ingested_by=actor,
                                   desk=desk)
                uow.session.add(row)
                if in_transaction is not None:
                    in_transaction(uow.session)
                record_custody(uow.session, item_id, CustodyEvent(
                    action="ingested", at=format_instant(t), node=self.node.state, actor=actor, object_sha256=digest,
                    case=case, detail={"file": item_id, "name": name, "size": size}))
                item = EvidenceItem.of(row)
        except Exception:
            # Nothing refers to the blob; its key was never stored. (A crash here leaves it unreferenced.)
            self.store.delete(blob_id)
            raise
        log.info("evidence ingested", file=item_id, case=case, size=size)
        return item

    def ingest_path(self, path: Path, *, case: str, actor: str, desk: str | None = None,
                    progress: Callable[[int], None] | None = None) -> EvidenceItem:
        """Ingest a file from disk under its own name, filed at ``desk`` (default: the node's first desk)."""
        if not path.is_file():
            raise ValidationError(f"{path} is not a readable file", hint="give the path of a regular file",
                                  code="not_a_file")
        with path.open("rb", buffering=0) as source:
            return self.ingest(source, name=path.name, case=case, actor=actor, desk=desk, progress=progress)

    def desk(self, desk: str | None) -> str:
        """``desk`` if it is one of this node's desks; None means the node's first desk."""
        desks = [d.id for d in self.node.settings.desks]
        if desk is None:
            return desks[0]
        if desk not in desks:
            raise ValidationError(f"this node has no desk {desk!r}", hint=f"use one of: {', '.join(desks)}",
                                  code="unknown_desk")
        return desk

    # -- reading -----------------------------------------------------------------------------------------

    def get(self, item_id: str) -> EvidenceItem:
        """One file; ``not_found`` if this node holds no such file."""
        with self.node.db.transaction(readonly=True) as uow:
            row = uow.session.get(EvidenceFile, item_id)
            if row is None:
                raise NotFound(f"no evidence file {item_id} on this node", code="evidence_not_found")
            return EvidenceItem.of(row)

    def list(self, case: str | None = None, *, readable: Callable[[str | None], bool] | None = None
             ) -> list[EvidenceItem]:
        """Files of ``case`` (or all), oldest first; with ``readable``, only those of desks it accepts."""
        with self.node.db.transaction(readonly=True) as uow:
            query = select(EvidenceFile).order_by(EvidenceFile.ingested_at, EvidenceFile.id)
            if case is not None:
                query = query.where(EvidenceFile.case_ref == case)
            return [EvidenceItem.of(row) for row in uow.session.scalars(query)
                    if readable is None or readable(row.desk)]

    def plaintext(self, item_id: str) -> Iterator[bytes]:
        """The file's content, decrypted and authenticated chunk by chunk as it is read from the blob store."""
        with self.node.db.transaction(readonly=True) as uow:
            row = uow.session.get(EvidenceFile, item_id)
            if row is None:
                raise NotFound(f"no evidence file {item_id} on this node", code="evidence_not_found")
            if row.wrapped_key is None or row.blob_id is None or row.kek_epoch is None:
                raise Conflict(f"evidence file {item_id} ({row.name}) was shredded at "
                               f"{format_instant(row.shredded_at) if row.shredded_at else '?'}",
                               code="evidence_shredded")
            if row.retain_until is not None and row.retain_until <= now():
                # Between the end and the retention job's next round (or while the node does not serve).
                raise Conflict(f"the retention period of evidence file {item_id} ({row.name}) ended at "
                               f"{format_instant(row.retain_until)}; it is no longer read and is shredded at the "
                               "retention job's next round", code="retention_ended")
            data_key = self.vault.unwrap(row.id, row.kek_epoch, row.wrapped_key)
            return self._decrypt(row.blob_id, data_key)

    def _decrypt(self, blob_id: str, data_key: bytes) -> Iterator[bytes]:
        decryptor = stream.Decryptor(data_key)
        for piece in self.store.read(blob_id, piece=BLOCK):
            yield from decryptor.update(piece)
        yield decryptor.finish()

    # -- re-filing ---------------------------------------------------------------------------------------

    def refile(self, item_id: str, *, case: str, actor: str,
               handles: Callable[[str | None], bool] | None = None) -> EvidenceItem:
        """File evidence under another case; the custody log records it.

        A file received from another State may go only to the case it was given for, unless that State
        consented to its use in ``case`` (``403 consent_required`` otherwise, docs/privacy.md). With
        ``handles``, a file of a desk it refuses is answered as if it did not exist.
        """
        check_case(case)
        t = now()
        with self.node.db.transaction() as uow:
            row = uow.session.get(EvidenceFile, item_id, with_for_update=True)
            if row is None or (handles is not None and not handles(row.desk)):
                raise NotFound(f"no evidence file {item_id} on this node", code="evidence_not_found")
            if row.case_ref == case:
                raise Conflict(f"evidence file {item_id} is already filed under case {case}", code="same_case")
            grants.enforce(uow.session, [row], Use("case", case), self.node.state)
            before, row.case_ref = row.case_ref, case
            record_custody(uow.session, item_id, CustodyEvent(
                action="refiled", at=format_instant(t), node=self.node.state, actor=actor, object_sha256=row.sha256,
                case=case, detail={"file": item_id, "from_case": before}))
            item = EvidenceItem.of(row)
        log.info("evidence refiled", file=item_id, case=case)
        return item

    # -- shredding ---------------------------------------------------------------------------------------

    def shred(self, item_id: str, *, actor: str, reason: str) -> EvidenceItem:
        """Destroy a file's data key (and then its ciphertext); the ledger records the shredding.

        The key is gone from this node once this returns: its row is cleared and the KEK epoch that wrapped it
        is rotated and destroyed, so neither this database nor a copy of the database taken earlier can decrypt
        the blob. Node backup archives taken earlier (they hold the keys folder) can, until they are destroyed;
        and a copy already sent to another State is that State's to shred.
        """
        if not reason.strip():
            raise ValidationError("a shredding needs a reason (e.g. the retention limit that requires it)",
                                  code="reason_required")

        def decide(row: EvidenceFile) -> Shredding:
            if row.shredded_at is not None:
                raise Conflict(f"evidence file {item_id} was already shredded at {format_instant(row.shredded_at)}",
                               code="evidence_shredded")
            return Shredding(reason)

        shredded = self.shred_where([item_id], actor=actor, decide=decide)
        if not shredded:
            raise NotFound(f"no evidence file {item_id} on this node", code="evidence_not_found")
        return shredded[0]

    def shred_where(self, item_ids: Sequence[str], *, actor: str,
                    decide: Callable[[EvidenceFile], Shredding | None]) -> tuple[EvidenceItem, ...]:
        """Shred, in one transaction with one KEK rotation, the files of ``item_ids`` that ``decide`` says to.

        ``decide`` sees each file's row once it is locked (shredded or not) and returns why to shred it, or
        None to leave it; an error it raises rolls everything back. Unknown ids are left out. Returns the files
        shredded; see :meth:`shred` for what a shred destroys.
        """
        t = now()
        blobs: list[str] = []
        items = []
        with self.node.db.transaction() as uow:
            # The epoch first, as every rotation does: two shreds locking their file rows first would each
            # wait for the other's row when re-wrapping all keys.
            self.vault.lock_rotation(uow.session)
            rows = uow.session.scalars(select(EvidenceFile).where(EvidenceFile.id.in_(list(item_ids)))
                                       .order_by(EvidenceFile.id).with_for_update()).all()
            events: list[tuple[str, CustodyEvent]] = []
            for row in rows:
                shredding = decide(row)
                if shredding is None:
                    continue
                if row.blob_id is not None:
                    blobs.append(row.blob_id)
                row.wrapped_key = None
                row.kek_epoch = None
                row.blob_id = None
                row.shredded_at = t
                events.append((row.id, CustodyEvent(
                    action="shredded", at=format_instant(t), node=self.node.state, actor=actor,
                    object_sha256=row.sha256, case=row.case_ref,
                    detail={**shredding.detail, "file": row.id, "reason": shredding.reason[:500]})))
                items.append(EvidenceItem.of(row))
            if not events:
                return ()
            record_custody_many(uow.session, events)
            self.vault.rotate(uow.session)
        self.vault.destroy_retired()
        for blob_id in blobs:
            self.store.delete(blob_id)
        log.info("evidence shredded", files=[item.id for item in items])
        return tuple(items)


@dataclass(frozen=True, slots=True)
class Shredding:
    """Why a file is shredded, as its ``shredded`` custody record says: the reason, and any further detail."""

    reason: str
    detail: dict[str, str] = field(default_factory=dict)


class Readable(Protocol):
    """What ingest reads from: ``read(n)`` returns up to ``n`` bytes, and ``b""`` only at the end."""

    def read(self, size: int, /) -> bytes: ...


class _Hasher(Protocol):
    def update(self, data: bytes, /) -> object: ...

    def hexdigest(self) -> str: ...


class _Stage:
    """One stage of the ingest pipeline: a thread applying ``work`` to each item, in order, a few in flight."""

    def __init__(self, work: Callable[[bytes], object], name: str) -> None:
        self._work = work
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=_IN_FLIGHT)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._work(item)
                except BaseException as exc:  # handed to the producer, which raises it
                    self._error = exc

    def put(self, item: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(item)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error


def _blake3() -> _Hasher:
    import blake3

    return blake3.blake3(max_threads=blake3.blake3.AUTO)
