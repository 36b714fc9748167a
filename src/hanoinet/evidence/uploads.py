"""Resumable uploads of evidence through the API (docs/evidence.md, "Uploading through the API").

A client starts an upload (case, name, size), then sends the file in pieces, each with the offset it starts
at; after a dropped connection or a restart of the node it asks for the offset and goes on from there. Pieces
are kept encrypted in a staging file (AES-256-GCM under a staging key wrapped like a data key, a random nonce
per piece, each bound to its upload and position), never as plaintext. Completing the upload ingests the
staged content as any other file (one more read), and removes the upload in the same transaction that records
the file.
"""

from __future__ import annotations

import os
import secrets
import struct
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.orm import Session

from hanoinet.clock import now
from hanoinet.db.models import EvidenceUpload
from hanoinet.errors import Conflict, Forbidden, NotFound, ValidationError
from hanoinet.evidence import stream
from hanoinet.evidence.service import EvidenceItem, EvidenceService, check_case, check_file_name

#: The largest piece one request may carry (it is held in memory while it is encrypted).
MAX_PIECE = 16 << 20
_LENGTH = struct.Struct(">I")
_TAG = 16
_NONCE = 12


def staging_path(data_dir: Path, upload_id: str) -> Path:
    """Where the encrypted pieces of an upload are staged."""
    return data_dir / "uploads" / f"{upload_id}.part"


@dataclass(frozen=True, slots=True)
class UploadState:
    """Where an upload stands."""

    id: str
    case: str
    name: str
    size: int
    received: int

    def as_json(self) -> dict[str, object]:
        """For the API."""
        return {"id": self.id, "case": self.case, "name": self.name, "size": self.size, "received": self.received,
                "max_piece": MAX_PIECE}


class Uploads:
    """Resumable uploads into one node's evidence."""

    def __init__(self, service: EvidenceService) -> None:
        self.service = service
        self.node = service.node

    def _staging(self, upload_id: str) -> Path:
        return staging_path(self.node.settings.data_dir, upload_id)

    def _open_staging(self, upload_id: str, mode: str) -> BinaryIO:
        try:
            handle: BinaryIO = self._staging(upload_id).open(mode)  # type: ignore[assignment]
        except FileNotFoundError:
            raise ValidationError(f"the staged pieces of upload {upload_id} are missing", code="upload_damaged",
                                  hint="cancel the upload and send the file again") from None
        return handle

    def start(self, *, case: str, name: str, size: int, actor: str, media_type: str | None = None,
              desk: str | None = None) -> UploadState:
        """Open an upload of ``size`` bytes, whose file is filed at ``desk``; the case is opened on first use."""
        check_case(case)
        desk = self.service.desk(desk)
        check_file_name(name)
        if size < 0:
            raise ValidationError("an upload's size cannot be negative", code="bad_size")
        upload_id = uuid.uuid4().hex
        staging = self._staging(upload_id)
        staging.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        staging.touch(mode=0o600)
        with self.node.db.transaction() as uow:
            epoch, wrapped = self.service.vault.wrap(uow.session, upload_id, stream.new_data_key())
            uow.session.add(EvidenceUpload(id=upload_id, case_ref=case, name=name, media_type=media_type, size=size,
                                           received=0, staged=0, pieces=0, wrapped_key=wrapped, kek_epoch=epoch,
                                           created_at=now(), created_by=actor, desk=desk))
        return UploadState(upload_id, case, name, size, 0)

    def status(self, upload_id: str, *, actor: str | None = None) -> UploadState:
        """How much of the upload the node holds durably: resume from ``received``.

        With ``actor`` (here and below), only the officer who started the upload may act on it.
        """
        with self.node.db.transaction(readonly=True) as uow:
            row = self._row(uow.session, upload_id, actor=actor)
            return UploadState(row.id, row.case_ref, row.name, row.size, row.received)

    def append(self, upload_id: str, offset: int, data: bytes, *, actor: str | None = None) -> UploadState:
        """Add the piece starting at ``offset``; it must start where the durable content ends."""
        if len(data) > MAX_PIECE:
            raise ValidationError(f"a piece is at most {MAX_PIECE} bytes; this one is {len(data)}",
                                  hint="send smaller pieces", code="piece_too_large")
        with self.node.db.transaction() as uow:
            row = self._row(uow.session, upload_id, lock=True, actor=actor)
            if offset != row.received:
                raise Conflict(f"the upload holds {row.received} bytes; a piece must start there, not at {offset}",
                               hint=f"resume from offset {row.received}", code="offset_mismatch")
            if row.received + len(data) > row.size:
                raise ValidationError(f"the piece goes past the declared size of {row.size} bytes",
                                      code="past_declared_size")
            if not data:
                return UploadState(row.id, row.case_ref, row.name, row.size, row.received)
            key = self.service.vault.unwrap(row.id, row.kek_epoch, row.wrapped_key)
            # A random nonce per record: a piece sent again after a crash may differ from the one it replaces.
            nonce = secrets.token_bytes(_NONCE)
            sealed = nonce + AESGCM(key).encrypt(nonce, data, _aad(row.id, row.pieces))
            with self._open_staging(upload_id, "r+b") as handle:
                # A piece written before a crash but never committed is dropped here and sent again.
                handle.truncate(row.staged)
                handle.seek(row.staged)
                handle.write(_LENGTH.pack(len(sealed)) + sealed)
                handle.flush()
                os.fsync(handle.fileno())
            row.received += len(data)
            row.staged += _LENGTH.size + len(sealed)
            row.pieces += 1
            return UploadState(row.id, row.case_ref, row.name, row.size, row.received)

    def complete(self, upload_id: str, *, actor: str, owner_only: bool = True) -> EvidenceItem:
        """Ingest the whole upload as an evidence file; the upload is gone once the file is recorded."""
        with self.node.db.transaction(readonly=True) as uow:
            row = self._row(uow.session, upload_id, actor=actor if owner_only else None)
            if row.received != row.size:
                raise Conflict(f"the upload holds {row.received} of {row.size} bytes",
                               hint=f"send the rest from offset {row.received}", code="upload_incomplete")
            key = self.service.vault.unwrap(row.id, row.kek_epoch, row.wrapped_key)
            case, name, media_type, staged, desk = row.case_ref, row.name, row.media_type, row.staged, row.desk

        def finish(session: Session) -> None:
            upload = session.get(EvidenceUpload, upload_id, with_for_update=True)
            if upload is None:
                raise Conflict(f"upload {upload_id} was completed or cancelled meanwhile", code="upload_gone")
            session.delete(upload)

        with self._open_staging(upload_id, "rb") as handle:
            os.utime(handle.fileno())  # a completion is activity: the sweeper keeps an upload being completed
            source = _StagedReader(handle, key, upload_id, staged)
            item = self.service.ingest(source, name=name, case=case, actor=actor, media_type=media_type,
                                       desk=desk, in_transaction=finish)
        self._staging(upload_id).unlink(missing_ok=True)
        return item

    def cancel(self, upload_id: str, *, actor: str | None = None) -> None:
        """Drop an upload and its staged pieces."""
        with self.node.db.transaction() as uow:
            uow.session.delete(self._row(uow.session, upload_id, lock=True, actor=actor))
        self._staging(upload_id).unlink(missing_ok=True)

    @staticmethod
    def _row(session: Session, upload_id: str, *, lock: bool = False, actor: str | None = None) -> EvidenceUpload:
        row = session.get(EvidenceUpload, upload_id, with_for_update=lock)
        if row is None:
            raise NotFound(f"no upload {upload_id} on this node", hint="start a new upload", code="upload_not_found")
        if actor is not None and row.created_by != actor:
            raise Forbidden(f"upload {upload_id} was started by another officer", code="not_your_upload",
                            hint="only the officer who started an upload (or an administrator) may continue it")
        return row


def _aad(upload_id: str, piece: int) -> bytes:
    return f"hanoinet-upload/{upload_id}/{piece}".encode("ascii")


class _StagedReader:
    """Reads the staged pieces back as plaintext, one piece at a time (``read`` returns at most one piece)."""

    def __init__(self, handle: BinaryIO, key: bytes, upload_id: str, staged: int) -> None:
        self._handle = handle
        self._aead = AESGCM(key)
        self._upload = upload_id
        self._left = staged
        self._offset = 0
        self._piece = 0

    def read(self, _size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        header = self._handle.read(_LENGTH.size)
        length = _LENGTH.unpack(header)[0] if len(header) == _LENGTH.size else -1
        record = self._handle.read(length) if _NONCE + _TAG <= length <= self._left - _LENGTH.size else b""
        if len(record) != length or length < _NONCE + _TAG:
            raise self._damaged("it is cut short or its length is wrong")
        try:
            plain: bytes = self._aead.decrypt(record[:_NONCE], record[_NONCE:], _aad(self._upload, self._piece))
        except InvalidTag:
            raise self._damaged("it does not authenticate") from None
        self._left -= _LENGTH.size + length
        self._offset += _LENGTH.size + length
        self._piece += 1
        return plain

    def _damaged(self, why: str) -> ValidationError:
        return ValidationError(f"staged piece {self._piece} of upload {self._upload} (at byte {self._offset} of the "
                               f"staging file) is damaged: {why}", hint="cancel the upload and send the file again",
                               code="upload_damaged")
