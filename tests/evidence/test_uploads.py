"""Resumable uploads: pieces staged encrypted, resumed from the durable offset, ingested on completion."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from hanoinet.db.models import EvidenceUpload
from hanoinet.errors import Conflict, Forbidden, HanoinetError, NotFound, ValidationError
from hanoinet.evidence.service import EvidenceService
from hanoinet.evidence.uploads import MAX_PIECE, Uploads
from hanoinet.node.node import Node

CASE = "VNM-2026-0011"
#: What a staged piece adds to the staging file besides its bytes: its length, nonce and GCM tag.
OVERHEAD = 4 + 12 + 16


def _staging(node: Node, upload_id: str) -> Path:
    return node.settings.data_dir / "uploads" / f"{upload_id}.part"


def _pieces(data: bytes, sizes: list[int]) -> Iterator[tuple[int, bytes]]:
    offset = 0
    for size in sizes:
        yield offset, data[offset:offset + size]
        offset += size
    assert offset == len(data)


def _append_crashing_before_commit(uploads: Uploads, monkeypatch: pytest.MonkeyPatch, upload_id: str, offset: int,
                                   data: bytes) -> None:
    """``append`` as if the node died right after the staged piece was made durable, before its row committed."""
    real_fsync = os.fsync

    def fsync_then_die(fd: int) -> None:
        real_fsync(fd)
        raise SystemExit("power cut")

    with monkeypatch.context() as patch, pytest.raises(SystemExit, match="power cut"):
        patch.setattr(os, "fsync", fsync_then_die)
        uploads.append(upload_id, offset, data)


def test_an_upload_in_odd_pieces_round_trips(node: Node) -> None:
    service = EvidenceService(node)
    uploads = Uploads(service)
    data = os.urandom(1_000_003)
    sizes = [1, 4095, 65_537, 333_333, 597_037]
    started = uploads.start(case=CASE, name="phone.tar", size=len(data), actor="officer:1",
                            media_type="application/x-tar")
    assert (started.received, started.size) == (0, len(data))
    assert started.as_json()["max_piece"] == MAX_PIECE
    for offset, piece in _pieces(data, sizes):
        assert uploads.status(started.id).received == offset
        state = uploads.append(started.id, offset, piece)
        assert state.received == offset + len(piece)
    assert _staging(node, started.id).stat().st_size == len(data) + OVERHEAD * len(sizes)

    with pytest.raises(Forbidden) as refused:  # another officer may not finish someone else's upload
        uploads.complete(started.id, actor="officer:2")
    assert refused.value.code == "not_your_upload"
    item = uploads.complete(started.id, actor="officer:1")

    assert (item.size, item.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert (item.name, item.case, item.media_type, item.ingested_by) == (
        "phone.tar", CASE, "application/x-tar", "officer:1")
    assert b"".join(service.plaintext(item.id)) == data
    assert [i.id for i in service.list(CASE)] == [item.id]
    assert not _staging(node, started.id).exists()
    with node.db.transaction(readonly=True) as uow:
        assert uow.session.scalars(select(EvidenceUpload)).all() == []
    for call in (uploads.status, uploads.cancel):
        with pytest.raises(NotFound) as caught:
            call(started.id)
        assert caught.value.code == "upload_not_found"


def test_a_piece_at_the_wrong_offset_says_where_to_resume(node: Node) -> None:
    uploads = Uploads(EvidenceService(node))
    upload = uploads.start(case=CASE, name="a.bin", size=100, actor="officer:1")
    uploads.append(upload.id, 0, b"x" * 40)
    for wrong in (0, 39, 41, 100):
        with pytest.raises(Conflict) as caught:
            uploads.append(upload.id, wrong, b"y" * 10)
        assert caught.value.code == "offset_mismatch"
        assert "resume from offset 40" in caught.value.hint and f"not at {wrong}" in caught.value.message
    assert uploads.status(upload.id).received == 40


def test_a_piece_past_the_declared_size_is_refused(node: Node) -> None:
    uploads = Uploads(EvidenceService(node))
    upload = uploads.start(case=CASE, name="a.bin", size=100, actor="officer:1")
    uploads.append(upload.id, 0, b"x" * 90)
    with pytest.raises(ValidationError) as caught:
        uploads.append(upload.id, 90, b"y" * 11)
    assert caught.value.code == "past_declared_size" and "100 bytes" in caught.value.message
    assert uploads.status(upload.id).received == 90
    assert uploads.append(upload.id, 90, b"y" * 10).received == 100


def test_completing_before_every_byte_arrived_is_refused(node: Node) -> None:
    service = EvidenceService(node)
    uploads = Uploads(service)
    upload = uploads.start(case=CASE, name="a.bin", size=100, actor="officer:1")
    uploads.append(upload.id, 0, b"x" * 60)
    with pytest.raises(Conflict) as caught:
        uploads.complete(upload.id, actor="officer:1")
    assert caught.value.code == "upload_incomplete"
    assert "60 of 100" in caught.value.message and "from offset 60" in caught.value.hint
    assert service.list() == [] and uploads.status(upload.id).received == 60


def test_a_piece_staged_but_not_committed_is_sent_again(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    service = EvidenceService(node)
    uploads = Uploads(service)
    data = os.urandom(70_001)
    upload = uploads.start(case=CASE, name="a.bin", size=len(data), actor="officer:1")
    uploads.append(upload.id, 0, data[:30_000])
    committed = _staging(node, upload.id).stat().st_size

    _append_crashing_before_commit(uploads, monkeypatch, upload.id, 30_000, data[30_000:50_000])

    # The staged record is on disk, but the node holds only what committed: the client resumes from there.
    assert _staging(node, upload.id).stat().st_size == committed + 20_000 + OVERHEAD
    assert uploads.status(upload.id).received == 30_000
    assert uploads.append(upload.id, 30_000, data[30_000:50_000]).received == 50_000
    assert uploads.append(upload.id, 50_000, data[50_000:]).received == len(data)
    assert _staging(node, upload.id).stat().st_size == len(data) + 3 * OVERHEAD  # the extra record was cut off
    item = uploads.complete(upload.id, actor="officer:1")
    assert b"".join(service.plaintext(item.id)) == data


def test_a_piece_sent_again_with_other_bytes_does_not_reuse_the_nonce(local: Node,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    uploads = Uploads(EvidenceService(local))
    upload = uploads.start(case=CASE, name="a.bin", size=5000, actor="officer:1")
    first, second = os.urandom(4096), os.urandom(4096)
    staging = _staging(local, upload.id)
    _append_crashing_before_commit(uploads, monkeypatch, upload.id, 0, first)
    lost = staging.read_bytes()[4:4 + len(first)]
    uploads.append(upload.id, 0, second)
    kept = staging.read_bytes()[4:4 + len(second)]
    assert bytes(a ^ b for a, b in zip(lost, kept, strict=True)) != bytes(
        a ^ b for a, b in zip(first, second, strict=True))


def test_the_staging_file_never_holds_the_plaintext(node: Node) -> None:
    uploads = Uploads(EvidenceService(node))
    data = os.urandom(200_000)
    upload = uploads.start(case=CASE, name="a.bin", size=len(data), actor="officer:1")
    for offset, piece in _pieces(data, [70_000, 130_000]):
        uploads.append(upload.id, offset, piece)
    staged = _staging(node, upload.id).read_bytes()
    assert len(staged) == len(data) + 2 * OVERHEAD
    assert not [i for i in range(0, len(data) - 32, 499) if data[i:i + 32] in staged]
    assert _staging(node, upload.id).stat().st_mode & 0o077 == 0


def test_cancel_drops_the_upload_and_its_staged_pieces(node: Node) -> None:
    service = EvidenceService(node)
    uploads = Uploads(service)
    upload = uploads.start(case=CASE, name="a.bin", size=10, actor="officer:1")
    uploads.append(upload.id, 0, b"12345")
    assert _staging(node, upload.id).exists()
    uploads.cancel(upload.id)
    assert not _staging(node, upload.id).exists()
    for call in (uploads.status, uploads.cancel):
        with pytest.raises(NotFound) as caught:
            call(upload.id)
        assert caught.value.code == "upload_not_found" and "start a new upload" in caught.value.hint
    with pytest.raises(NotFound):
        uploads.append(upload.id, 5, b"67890")
    assert service.list() == []


def test_a_damaged_staged_piece_is_refused_on_complete(node: Node) -> None:
    service = EvidenceService(node)
    uploads = Uploads(service)
    data = os.urandom(3000)
    upload = uploads.start(case=CASE, name="a.bin", size=len(data), actor="officer:1")
    for offset, piece in _pieces(data, [1000, 1000, 1000]):
        uploads.append(upload.id, offset, piece)
    staging = _staging(node, upload.id)
    damaged = bytearray(staging.read_bytes())
    damaged[(1000 + OVERHEAD) + 4 + 500] ^= 0x01  # inside the second piece
    staging.write_bytes(bytes(damaged))
    with pytest.raises(ValidationError) as caught:
        uploads.complete(upload.id, actor="officer:1")
    assert caught.value.code == "upload_damaged" and "piece 1" in caught.value.message
    assert "cancel" in caught.value.hint
    assert service.list() == []
    assert list((node.settings.data_dir / "blobs" / "partial").iterdir()) == []
    assert uploads.status(upload.id).received == len(data)  # still there, to be cancelled


@pytest.mark.parametrize("damage", ["cut after the first piece", "deleted"])
def test_a_truncated_or_lost_staging_file_is_reported_as_damaged(local: Node, damage: str) -> None:
    uploads = Uploads(EvidenceService(local))
    upload = uploads.start(case=CASE, name="a.bin", size=2000, actor="officer:1")
    uploads.append(upload.id, 0, b"a" * 1000)
    uploads.append(upload.id, 1000, b"b" * 1000)
    staging = _staging(local, upload.id)
    if damage == "deleted":
        staging.unlink()
    else:
        os.truncate(staging, 1000 + OVERHEAD)
    with pytest.raises(HanoinetError) as caught:
        uploads.complete(upload.id, actor="officer:1")
    assert caught.value.code == "upload_damaged"


def test_an_upload_survives_a_shred_that_rotates_the_kek(node: Node) -> None:
    service = EvidenceService(node)
    uploads = Uploads(service)
    data = os.urandom(9000)
    upload = uploads.start(case=CASE, name="a.bin", size=len(data), actor="officer:1")
    uploads.append(upload.id, 0, data[:4000])
    victim = service.ingest(io.BytesIO(b"victim"), name="v.txt", case=CASE, actor="officer:1")
    service.shred(victim.id, actor="officer:2", reason="retention")  # re-wraps the staging key, destroys the KEK
    uploads.append(upload.id, 4000, data[4000:])
    item = uploads.complete(upload.id, actor="officer:1")
    assert b"".join(EvidenceService(node).plaintext(item.id)) == data


def test_an_empty_upload_completes_without_pieces(local: Node) -> None:
    service = EvidenceService(local)
    uploads = Uploads(service)
    upload = uploads.start(case=CASE, name="empty.txt", size=0, actor="officer:1")
    assert uploads.append(upload.id, 0, b"").received == 0
    item = uploads.complete(upload.id, actor="officer:1")
    assert (item.size, item.sha256) == (0, hashlib.sha256(b"").hexdigest())
    assert b"".join(service.plaintext(item.id)) == b""


@pytest.mark.parametrize(("fields", "code"), [
    ({"case": "no?case"}, "bad_case"), ({"name": "../etc/passwd"}, "bad_file_name"), ({"size": -1}, "bad_size"),
])
def test_start_refuses_bad_cases_names_and_sizes(local: Node, fields: dict[str, object], code: str) -> None:
    arguments: dict[str, object] = {"case": CASE, "name": "a.bin", "size": 10, **fields}
    with pytest.raises(ValidationError) as caught:
        Uploads(EvidenceService(local)).start(actor="officer:1", **arguments)  # type: ignore[arg-type]
    assert caught.value.code == code
    assert not (local.settings.data_dir / "uploads").exists() or not any(
        (local.settings.data_dir / "uploads").iterdir())


def test_a_piece_larger_than_the_limit_is_refused(local: Node) -> None:
    uploads = Uploads(EvidenceService(local))
    upload = uploads.start(case=CASE, name="a.bin", size=2 * MAX_PIECE, actor="officer:1")
    with pytest.raises(ValidationError) as caught:
        uploads.append(upload.id, 0, bytes(MAX_PIECE + 1))
    assert caught.value.code == "piece_too_large"
    assert uploads.status(upload.id).received == 0

