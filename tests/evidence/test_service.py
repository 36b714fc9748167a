"""The evidence service: streaming ingest into encrypted blobs, reading back, custody records, shredding."""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import threading
import time
import tracemalloc
import types
import uuid
from pathlib import Path
from typing import Any

import blake3
import pytest
from sqlalchemy import select

from hanoinet.db.models import EvidenceCustody, EvidenceFile, EvidenceKek, LedgerQueued
from hanoinet.errors import Conflict, KeyStoreError, NotFound, ValidationError
from hanoinet.evidence import service as service_module
from hanoinet.evidence import stream
from hanoinet.evidence.datakeys import KeyVault, kek_path
from hanoinet.evidence.package import UseConditions, seal
from hanoinet.evidence.service import EvidenceService, check_case, check_file_name
from hanoinet.evidence.verify import verify_package
from hanoinet.node.node import Node

MIB = 1 << 20
CASE = "VNM-2026-0007"


def _row(node: Node, item_id: str) -> EvidenceFile:
    with node.db.transaction(readonly=True) as uow:
        row = uow.session.get(EvidenceFile, item_id)
        assert row is not None
        return row


def _blob_path(node: Node, blob_id: str) -> Path:
    return node.settings.data_dir / "blobs" / blob_id[:2] / blob_id


def _final_blobs(node: Node) -> list[Path]:
    """Committed blobs: files in the two-hex-digit folders, not the partial ones."""
    root = node.settings.data_dir / "blobs"
    return sorted(p for p in root.glob("??/*") if p.parent.name != "partial")


def _partials(node: Node) -> list[Path]:
    return sorted((node.settings.data_dir / "blobs" / "partial").iterdir())


def _plain(service: EvidenceService, item_id: str) -> bytes:
    return b"".join(service.plaintext(item_id))


def _queued(node: Node) -> list[tuple[dict[str, object], bytes]]:
    """The custody events queued for the log, in order: each as its JSON record and its entry."""
    with node.db.transaction(readonly=True) as uow:
        rows = uow.session.execute(select(LedgerQueued.record, LedgerQueued.entry).order_by(LedgerQueued.id)).all()
    return [(json.loads(record), bytes(entry)) for record, entry in rows]


def _live_epochs(node: Node) -> list[int]:
    with node.db.transaction(readonly=True) as uow:
        return list(uow.session.scalars(select(EvidenceKek.epoch).where(EvidenceKek.retired_at.is_(None))))


class _Blocks:
    """A reader handing out ``total`` random bytes in blocks of at most ``block`` bytes, hashing what it gave;
    it raises ``fail`` once ``fail_after`` bytes are out."""

    def __init__(self, total: int, block: int, *, fail_after: int | None = None) -> None:
        self.left = total
        self.block = block
        self.given = 0
        self.fail_after = fail_after
        self.sha256 = hashlib.sha256()

    def read(self, size: int, /) -> bytes:
        if self.fail_after is not None and self.given >= self.fail_after:
            raise OSError("the source disk was unplugged")
        data = os.urandom(min(size, self.block, self.left))
        self.left -= len(data)
        self.given += len(data)
        self.sha256.update(data)
        return data


# -- ingest -------------------------------------------------------------------------------------------------


def test_ingest_round_trips_sizes_around_chunk_and_block_boundaries(node: Node) -> None:
    service = EvidenceService(node)
    # Empty, one byte, around one STREAM chunk (1 MiB), and across a 4 MiB read block.
    for size in (0, 1, MIB - 1, MIB, MIB + 1, 5 * MIB + 3):
        data = os.urandom(size)
        item = service.ingest(io.BytesIO(data), name=f"file-{size}.bin", case=CASE, actor="officer:1")
        assert (item.size, item.sha256) == (size, hashlib.sha256(data).hexdigest()), size
        assert item.blake3 is None  # not configured
        assert _plain(service, item.id) == data, size
        assert service.get(item.id) == item
        row = _row(node, item.id)
        assert row.blob_id is not None
        assert service.store.size(row.blob_id) == stream.ciphertext_size(size, row.chunk_size)


def test_blake3_is_recorded_when_configured(local: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local.settings, "evidence_blake3", True)
    service = EvidenceService(local)
    for data in (b"", os.urandom(5 * MIB + 3)):
        item = service.ingest(io.BytesIO(data), name="dump.bin", case=CASE, actor="officer:1")
        assert item.blake3 == blake3.blake3(data).hexdigest()
        assert item.sha256 == hashlib.sha256(data).hexdigest()
        assert service.get(item.id).blake3 == item.blake3


def test_the_blob_is_ciphertext_under_a_random_name(node: Node) -> None:
    service = EvidenceService(node)
    data = os.urandom(300_000)
    first = service.ingest(io.BytesIO(data), name="a.bin", case=CASE, actor="officer:1")
    second = service.ingest(io.BytesIO(data), name="b.bin", case=CASE, actor="officer:1")
    blobs = [blob for item in (first, second) if (blob := _row(node, item.id).blob_id) is not None]
    assert len(blobs) == 2
    # Same content, two blobs: the name is not derived from the content (nor its hash).
    assert blobs[0] != blobs[1]
    assert first.sha256 == second.sha256
    for blob_id in blobs:
        assert blob_id not in first.sha256 and blob_id not in hashlib.sha256(data).hexdigest()
    on_disk = _blob_path(node, blobs[0]).read_bytes()
    assert on_disk.startswith(stream.MAGIC)
    # No 32-byte run of the plaintext, taken every 997 bytes, appears in the stored blob.
    assert not [i for i in range(0, len(data) - 32, 997) if data[i:i + 32] in on_disk]
    assert _blob_path(node, blobs[0]).stat().st_mode & 0o077 == 0


def test_ingest_queues_an_ingested_custody_event_linked_to_the_file(local: Node) -> None:
    node = local
    service = EvidenceService(node)
    item = service.ingest(io.BytesIO(b"log line\n"), name="auth.log", case=CASE, actor="officer:3",
                          media_type="text/plain")
    [(record, entry)] = _queued(node)
    assert record["action"] == "ingested"
    assert record["object_sha256"] == item.sha256 == hashlib.sha256(b"log line\n").hexdigest()
    assert (record["case"], record["actor"], record["node"]) == (CASE, "officer:3", "VNM")
    assert record["detail"] == {"file": item.id, "name": "auth.log", "size": 9}
    with node.db.transaction(readonly=True) as uow:
        links = uow.session.execute(select(EvidenceCustody.file_id, EvidenceCustody.entry,
                                           EvidenceCustody.action)).all()
    assert [(file_id, bytes(linked), action) for file_id, linked, action in links] == [(item.id, entry, "ingested")]
    assert item.media_type == "text/plain" and item.origin == "VNM" and item.ingested_by == "officer:3"


def test_a_reader_failing_half_way_leaves_no_blob_and_no_record(node: Node) -> None:
    service = EvidenceService(node)
    source = _Blocks(20 * MIB, MIB, fail_after=6 * MIB)
    with pytest.raises(OSError, match="unplugged"):
        service.ingest(source, name="disk.img", case=CASE, actor="officer:1")
    assert source.given == 6 * MIB  # it did fail half way, after several blocks were written
    assert _final_blobs(node) == []
    assert _partials(node) == []
    assert service.list() == []
    assert _queued(node) == []


def test_a_failing_hash_stops_both_stages_and_leaves_no_blob(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    class Failing:
        def __init__(self) -> None:
            self.calls = 0

        def update(self, data: bytes, /) -> None:
            self.calls += 1
            if self.calls == 3:
                raise MemoryError("the hash ran out of memory")

        def hexdigest(self) -> str:
            return ""

    monkeypatch.setattr(service_module, "hashlib", types.SimpleNamespace(sha256=Failing))  # the source's stays
    service = EvidenceService(node)
    with pytest.raises(MemoryError, match="ran out"):
        service.ingest(_Blocks(40 * MIB, MIB), name="disk.img", case=CASE, actor="officer:1")
    # The sealing thread was joined before the writer was aborted: none is left using it.
    assert [t.name for t in threading.enumerate() if t.name.startswith(("evidence-", "blob-"))] == []
    assert _final_blobs(node) == []
    assert _partials(node) == []
    assert service.list() == []


def test_a_failure_between_blob_commit_and_database_commit_records_nothing(node: Node,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    service = EvidenceService(node)

    def crash(*_args: object) -> tuple[int, bytes]:
        raise RuntimeError("power cut")

    monkeypatch.setattr(service.vault, "wrap", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        service.ingest(io.BytesIO(os.urandom(70_000)), name="a.bin", case=CASE, actor="officer:1")
    assert service.list() == []
    assert _queued(node) == []
    with node.db.transaction(readonly=True) as uow:
        assert uow.session.scalars(select(EvidenceCustody)).all() == []
    # A failure that is not a crash deletes the blob nothing refers to (after a real crash it would stay,
    # unreadable: its data key was never stored).
    assert _final_blobs(node) == []
    assert _partials(node) == []


@pytest.mark.parametrize("case", ["", " VNM-1", "-VNM", ".hidden", "a" * 129, "VNM-1\n", "VNM\x00-1", "VNM?1",
                                  "VNM#1", "Việt-1", "VNM\t1"])
def test_bad_case_references_are_refused(case: str) -> None:
    with pytest.raises(ValidationError) as caught:
        check_case(case)
    assert caught.value.code == "bad_case"
    assert "letters, digits" in caught.value.hint


@pytest.mark.parametrize("name", ["", ".", "..", "a/b.txt", "/etc/passwd", "a\x00b", "tab\there",
                                  "line\nbreak", "del\x7f", "é" * 128, "x" * 256])
def test_bad_file_names_are_refused(name: str) -> None:
    with pytest.raises(ValidationError) as caught:
        check_file_name(name)
    assert caught.value.code == "bad_file_name"
    assert "1-255 bytes" in caught.value.hint


@pytest.mark.parametrize(("case", "name", "code"), [("VNM 1?", "a.bin", "bad_case"),
                                                    (CASE, "../a.bin", "bad_file_name")])
def test_ingest_refuses_bad_input_before_storing_anything(local: Node, case: str, name: str, code: str) -> None:
    source = _Blocks(10, 10)
    with pytest.raises(ValidationError) as caught:
        EvidenceService(local).ingest(source, name=name, case=case, actor="officer:1")
    assert caught.value.code == code
    assert source.given == 0
    assert _partials(local) == [] and _final_blobs(local) == []


@pytest.mark.parametrize(("case", "name"), [
    ("a" * 128, "x" * 255), ("BRA-2026-0042", "é" * 127), ("Case 12/2026: x.y_z", "rapport d'expertise (v2).pdf"),
    ("7", "..."), ("A:B", "file with spaces .txt"), ("B-1", "call 12:30.wav"), ("B-1", "e\u0301te.txt"),
])
def test_good_case_references_and_names_pass_unchanged(case: str, name: str) -> None:
    assert check_case(case) == case
    assert check_file_name(name) == name


@pytest.mark.parametrize("name", ["next\x85line.txt", "bell\x07.txt", "\x1b[31mred.txt", "x" * 256])
def test_names_with_control_characters_or_too_long_are_refused_at_ingest(name: str) -> None:
    with pytest.raises(ValidationError) as caught:
        check_file_name(name)
    assert caught.value.code == "bad_file_name"


@pytest.mark.parametrize("name", ["call 12:30.wav", "e\u0301te.txt", "x" * 255, "a" * 240 + ".tar.gz", "C:\\x.txt"])
def test_every_accepted_name_can_be_packaged_and_keeps_its_recorded_name(local: Node, tmp_path: Path,
                                                                         name: str) -> None:
    service = EvidenceService(local)
    service.ingest(io.BytesIO(b"audio"), name=name, case=CASE, actor="officer:1")
    seal(service, case=CASE, out=tmp_path / "p.zip", actor="officer:1",
         conditions=UseConditions(purpose="request VNM-2026-0007"))
    with (tmp_path / "p.zip").open("rb") as source:
        report = verify_package(source, trust=[local.signing_key().kid])
    assert report.ok
    (described,) = report.package["files"]
    assert described["name"] == name and described["path"].startswith("files/0001/")
    assert len(described["path"].encode()) <= 255 and ":" not in described["path"]
    if name.endswith(".tar.gz"):
        assert described["path"].endswith(".gz")


def test_ingest_path_uses_the_files_name_and_reports_progress(local: Node, tmp_path: Path) -> None:
    service = EvidenceService(local)
    path = tmp_path / "capture.pcap"
    data = os.urandom(5 * MIB + 3)
    path.write_bytes(data)
    seen: list[int] = []
    item = service.ingest_path(path, case=CASE, actor="officer:1", progress=seen.append)
    assert item.name == "capture.pcap" and item.sha256 == hashlib.sha256(data).hexdigest()
    assert sum(seen) == len(data) and len(seen) >= 2  # reported per block read, not once at the end
    for missing in (tmp_path, tmp_path / "absent.bin"):
        with pytest.raises(ValidationError) as caught:
            service.ingest_path(missing, case=CASE, actor="officer:1")
        assert caught.value.code == "not_a_file" and str(missing) in caught.value.message


def test_ingest_path_of_a_file_named_in_another_encoding_is_refused_with_a_code(local: Node, tmp_path: Path) -> None:
    path = tmp_path / os.fsdecode(b"r\xe9sum\xe9.txt")  # Latin-1 bytes from a foreign disk
    path.write_bytes(b"cv")
    with pytest.raises(ValidationError) as caught:
        EvidenceService(local).ingest_path(path, case=CASE, actor="officer:1")
    assert caught.value.code == "bad_file_name"


def test_ingest_memory_stays_constant_whatever_the_size(local: Node) -> None:
    service = EvidenceService(local)
    source = _Blocks(64 * MIB, 256 << 10)
    tracemalloc.start()
    try:
        item = service.ingest(source, name="disk.img", case=CASE, actor="officer:1")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert item.size == 64 * MIB and item.sha256 == source.sha256.hexdigest()
    # A few 4 MiB blocks and 1 MiB chunks in flight, never the file.
    assert peak < 40 * MIB, f"peak {peak / MIB:.1f} MiB"


def test_get_list_and_plaintext_of_unknown_files(local: Node) -> None:
    service = EvidenceService(local)
    made = []
    for name, case in (("one", "CASE-A"), ("two", "CASE-B"), ("three", "CASE-A")):
        made.append(service.ingest(io.BytesIO(name.encode()), name=name, case=case, actor="officer:1"))
        time.sleep(0.002)  # times are kept to the millisecond: keep them apart so "oldest first" is defined
    first, second, third = made
    assert [i.id for i in service.list("CASE-A")] == [first.id, third.id]
    assert [i.id for i in service.list()] == [first.id, second.id, third.id]
    assert service.list("CASE-C") == []
    assert first.as_json()["shredded_at"] is None and first.as_json()["case"] == "CASE-A"
    unknown = "0" * 32
    for call in (service.get, service.plaintext):
        with pytest.raises(NotFound) as caught:
            call(unknown)
        assert caught.value.code == "evidence_not_found" and unknown in caught.value.message


# -- shredding ----------------------------------------------------------------------------------------------


def test_shred_destroys_key_kek_and_blob_and_every_other_file_still_decrypts(node: Node) -> None:
    service = EvidenceService(node)
    files = {name: os.urandom(size) for name, size in (("a", 10), ("b", MIB + 5), ("c", 0))}
    items = {name: service.ingest(io.BytesIO(data), name=name, case=CASE, actor="officer:1")
             for name, data in files.items()}
    [old_epoch] = _live_epochs(node)
    victim = _row(node, items["b"].id)
    assert victim.blob_id is not None and service.store.exists(victim.blob_id)

    shredded = service.shred(items["b"].id, actor="officer:2", reason="retention limit of Art. 36 reached")

    assert shredded.shredded_at is not None and service.get(items["b"].id).shredded_at == shredded.shredded_at
    with pytest.raises(Conflict) as caught:
        service.plaintext(items["b"].id)
    assert caught.value.code == "evidence_shredded" and "(b)" in caught.value.message
    assert not service.store.exists(victim.blob_id)
    assert not _blob_path(node, victim.blob_id).exists()
    row = _row(node, items["b"].id)
    assert (row.wrapped_key, row.kek_epoch, row.blob_id) == (None, None, None)
    [new_epoch] = _live_epochs(node)
    assert new_epoch > old_epoch
    assert not kek_path(node.settings.data_dir, old_epoch).exists()
    assert kek_path(node.settings.data_dir, new_epoch).is_file()
    for name in ("a", "c"):
        assert _row(node, items[name].id).kek_epoch == new_epoch
        assert _plain(service, items[name].id) == files[name]
        # A vault that never saw the old KEK reads them too: they really are wrapped under the new one.
        assert _plain(EvidenceService(node), items[name].id) == files[name]
    assert [i.name for i in service.list(CASE)] == ["a", "b", "c"]  # shredded files stay listed


def test_a_database_copy_from_before_the_shred_cannot_unwrap_the_shredded_key(local: Node, tmp_path: Path) -> None:
    service = EvidenceService(local)
    data = os.urandom(4000)
    item = service.ingest(io.BytesIO(data), name="victim.txt", case=CASE, actor="officer:1")
    kept = service.ingest(io.BytesIO(b"kept"), name="kept.txt", case=CASE, actor="officer:1")
    copy = tmp_path / "backup.db"
    with sqlite3.connect(local.settings.data_dir / "node.db") as live, sqlite3.connect(copy) as backup:
        live.backup(backup)
    with sqlite3.connect(copy) as backup:
        epoch, wrapped, blob_id = backup.execute(
            "SELECT kek_epoch, wrapped_key, blob_id FROM evidence_files WHERE id = ?", (item.id,)).fetchone()
    # Before the shred, the copy's wrapped key opens the blob: the copy does hold the key, wrapped.
    data_key = KeyVault(local).unwrap(item.id, epoch, wrapped)
    blob = b"".join(service.store.read(blob_id))
    assert stream.decrypt_bytes(data_key, blob) == data

    service.shred(item.id, actor="officer:2", reason="court order 2026/17")

    for vault in (service.vault, KeyVault(local)):  # the vault that had the KEK cached, and a fresh one
        with pytest.raises(KeyStoreError) as caught:
            vault.unwrap(item.id, epoch, wrapped)
        assert caught.value.code == "kek_missing"
    assert not service.store.exists(blob_id)
    assert _plain(service, kept.id) == b"kept"


def test_shredding_needs_a_reason_and_happens_once(node: Node) -> None:
    service = EvidenceService(node)
    item = service.ingest(io.BytesIO(b"secret"), name="s.txt", case=CASE, actor="officer:1")
    [epoch] = _live_epochs(node)
    for reason in ("", "   \n"):
        with pytest.raises(ValidationError) as refused:
            service.shred(item.id, actor="officer:2", reason=reason)
        assert refused.value.code == "reason_required"
    assert _live_epochs(node) == [epoch] and _plain(service, item.id) == b"secret"  # nothing happened
    service.shred(item.id, actor="officer:2", reason="retention")
    with pytest.raises(Conflict) as twice:
        service.shred(item.id, actor="officer:2", reason="retention")
    assert twice.value.code == "evidence_shredded" and "already shredded" in twice.value.message
    with pytest.raises(NotFound) as unknown:
        service.shred("f" * 32, actor="officer:2", reason="retention")
    assert unknown.value.code == "evidence_not_found"


def test_shred_queues_a_shredded_custody_event(local: Node) -> None:
    node = local
    service = EvidenceService(node)
    item = service.ingest(io.BytesIO(b"secret"), name="s.txt", case=CASE, actor="officer:1")
    service.shred(item.id, actor="officer:2", reason="retention limit reached")
    records = _queued(node)
    assert [r["action"] for r, _ in records] == ["ingested", "shredded"]
    shredded, entry = records[1]
    assert shredded["object_sha256"] == item.sha256 and shredded["actor"] == "officer:2"
    assert shredded["detail"] == {"file": item.id, "reason": "retention limit reached"}
    with node.db.transaction(readonly=True) as uow:
        link = uow.session.scalar(select(EvidenceCustody).where(EvidenceCustody.action == "shredded"))
        assert link is not None and link.file_id == item.id and bytes(link.entry) == entry


def test_evidence_on_an_s3_store_ingests_reads_packages_and_shreds(local: Node, tmp_path: Path, s3_endpoint: str,
                                                                   s3_client: Any) -> None:
    from hanoinet.evidence.blobs import open_store
    from tests.evidence.conftest import S3_BUCKET

    prefix = f"node-{uuid.uuid4().hex[:8]}/"
    store = open_store(f"s3://{S3_BUCKET}/{prefix}", local.settings.data_dir, endpoint_url=s3_endpoint,
                       region="us-east-1")
    service = EvidenceService(local, store=store)
    data = os.urandom(9 * MIB + 5)  # more than one 8 MiB part: a multipart upload
    item = service.ingest(io.BytesIO(data), name="dump.bin", case=CASE, actor="officer:1")
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=S3_BUCKET, Prefix=prefix).get("Contents", [])]
    assert len(keys) == 1 and item.sha256 not in keys[0]
    assert b"".join(service.plaintext(item.id)) == data
    seal(service, case=CASE, out=tmp_path / "p.zip", actor="officer:1", conditions=UseConditions(purpose="court"))
    with (tmp_path / "p.zip").open("rb") as source:
        assert verify_package(source, trust=[local.signing_key().kid]).ok
    service.shred(item.id, actor="officer:2", reason="retention limit")
    assert s3_client.list_objects_v2(Bucket=S3_BUCKET, Prefix=prefix).get("KeyCount", 0) == 0
