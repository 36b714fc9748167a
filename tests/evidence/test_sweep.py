"""The evidence sweeper: what it removes, what it must never remove, and ingests killed at every step."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from hanoinet.clock import now
from hanoinet.db.models import AuditEntry, EvidenceFile, EvidenceOffer, EvidenceOfferFile
from hanoinet.errors import NotFound, TransportError
from hanoinet.evidence import stream, uploads
from hanoinet.evidence.blobs import open_store
from hanoinet.evidence.service import EvidenceService
from hanoinet.evidence.sweep import Sweeper, run_sweeper
from hanoinet.evidence.uploads import Uploads
from hanoinet.node.node import Node
from tests.evidence.conftest import S3_BUCKET

CASE = "VNM-2026-0042"
DAY, MINUTE = timedelta(days=1), timedelta(minutes=1)


def _age(path: Path, by: timedelta) -> None:
    """Make ``path`` look last written ``by`` ago."""
    then = (datetime.now(UTC) - by).timestamp()
    os.utime(path, (then, then))


def _audited(node: Node, action: str) -> list[AuditEntry]:
    with node.db.transaction(readonly=True) as uow:
        rows = list(uow.session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))
        uow.session.expunge_all()
    return rows


def _plain_sha256(service: EvidenceService, file_id: str) -> str:
    digest = hashlib.sha256()
    for piece in service.plaintext(file_id):
        digest.update(piece)
    return digest.hexdigest()


# --- what is removed, what is kept ----------------------------------------------------------------------------


def test_unfinished_writes_and_orphan_blobs_go_and_named_blobs_stay(node: Node, tmp_path: Path) -> None:
    service = EvidenceService(node)
    kept = service.ingest_path(_file(tmp_path / "kept.bin", 300_000), case=CASE, actor="operator:test")
    unfinished = service.store.create()
    unfinished.write(os.urandom(50_000))
    with service.store.create() as orphan:  # committed, then the process "died" before its row
        orphan.write(os.urandom(10_000))
        orphan.commit()
    sweeper = Sweeper(service)

    assert sweeper.sweep(at=now() + DAY - MINUTE).removed == []  # not idle for a day yet
    dry = sweeper.sweep(at=now() + DAY + MINUTE, dry_run=True)
    assert sorted((i.kind, i.name) for i in dry.removed) == [("orphan_blob", orphan.id),
                                                            ("unfinished_write", unfinished.id)]
    assert service.store.exists(orphan.id)  # a dry run removes nothing
    assert _audited(node, "evidence.swept") == []

    report = sweeper.sweep(at=now() + DAY + MINUTE)
    assert report.totals()["orphan_blob"] == (1, 10_000)
    assert report.totals()["unfinished_write"][0] == 1
    assert not service.store.exists(orphan.id)
    assert {b.id for b in service.store.blobs()} == {_blob_of(node, kept.id)}
    assert _plain_sha256(service, kept.id) == kept.sha256
    [entry] = _audited(node, "evidence.swept")
    detail = json.loads(entry.detail)
    assert entry.actor == "system"
    assert detail["totals"]["orphan_blob"] == {"count": 1, "bytes": 10_000}
    assert detail["names"]["orphan_blob"] == [orphan.id]
    assert node.metrics.evidence_swept.labels("orphan_blob")._value.get() == 1
    assert node.metrics.evidence_swept_bytes.labels("orphan_blob")._value.get() == 10_000
    assert sweeper.sweep(at=now() + DAY + MINUTE).removed == []  # nothing twice
    unfinished.abort()  # finds nothing left to abort: not an error


def test_a_shred_that_died_before_deleting_its_blob_is_finished(node: Node, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    service = EvidenceService(node)
    item = service.ingest_path(_file(tmp_path / "old.bin", 20_000), case=CASE, actor="operator:test")
    blob_id = _blob_of(node, item.id)

    def die(_blob_id: str) -> None:
        raise SystemExit("power cut")

    with monkeypatch.context() as patch, pytest.raises(SystemExit):
        patch.setattr(service.vault, "destroy_retired", lambda: [])
        patch.setattr(service.store, "delete", die)
        service.shred(item.id, actor="operator:test", reason="retention limit reached")
    assert service.store.exists(blob_id)
    retired = service.vault.retired_files()
    assert list(retired) == [1]

    report = Sweeper(service).sweep(at=now() + DAY + MINUTE)
    assert sorted((i.kind, i.name) for i in report.removed) == [("orphan_blob", blob_id),
                                                               ("retired_kek", "evidence-kek-1.jwe")]
    assert not service.store.exists(blob_id)
    assert not retired[1].exists()
    assert service.vault.retired_files() == {}


def test_an_upload_idle_past_its_expiry_is_removed_with_its_row(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    service = EvidenceService(node)
    handled = Uploads(service)
    expiry = timedelta(seconds=node.settings.evidence_upload_expiry_seconds)
    started_long_ago = now() - expiry - DAY
    with monkeypatch.context() as patch:  # started long ago ...
        patch.setattr(uploads, "now", lambda: started_long_ago)
        active = handled.start(case=CASE, name="phone.tar", size=20, actor="officer:1")
        idle = handled.start(case=CASE, name="laptop.img", size=20, actor="officer:2")
        unsent = handled.start(case=CASE, name="tablet.img", size=20, actor="officer:2")
    handled.append(active.id, 0, b"0123456789")  # ... but sent to just now: kept
    handled.append(idle.id, 0, b"0123456789")
    staging = node.settings.data_dir / "uploads"
    _age(staging / f"{idle.id}.part", expiry + MINUTE)
    _age(staging / f"{unsent.id}.part", expiry + MINUTE)
    sweeper = Sweeper(service)

    dry = sweeper.sweep(dry_run=True)
    assert sorted(i.name for i in dry.removed) == sorted([idle.id, unsent.id])
    assert handled.status(idle.id).received == 10

    report = sweeper.sweep()
    assert sorted((i.kind, i.name) for i in report.removed) == sorted(
        [("expired_upload", idle.id), ("expired_upload", unsent.id)])
    assert report.totals()["expired_upload"] == (2, 4 + 12 + 10 + 16)  # one staged piece: length, nonce, tag
    for gone in (idle, unsent):
        with pytest.raises(NotFound):
            handled.status(gone.id)
        assert not (staging / f"{gone.id}.part").exists()
    handled.append(active.id, 10, b"abcdefghij")
    assert _plain_of(service, handled.complete(active.id, actor="officer:1")) == b"0123456789abcdefghij"
    entries = {e.target: json.loads(e.detail) for e in _audited(node, "evidence.upload_expired")}
    assert entries[idle.id] == {"case": CASE, "created_by": "officer:2", "size": 20, "received": 10,
                                "idle_since": entries[idle.id]["idle_since"]}
    assert set(entries) == {idle.id, unsent.id}


def test_an_upload_being_completed_counts_as_active(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    service = EvidenceService(node)
    handled = Uploads(service)
    expiry = timedelta(seconds=node.settings.evidence_upload_expiry_seconds)
    with monkeypatch.context() as patch:
        patch.setattr(uploads, "now", lambda: now() - expiry - DAY)
        upload = handled.start(case=CASE, name="phone.tar", size=4, actor="officer:1")
    handled.append(upload.id, 0, b"data")
    staging = node.settings.data_dir / "uploads" / f"{upload.id}.part"
    _age(staging, expiry - MINUTE)  # the last piece came almost an expiry ago; the completion comes now
    sweeps: list[list[str]] = []
    real_ingest = service.ingest

    def ingest_while_sweeping(*args: Any, **kwargs: Any) -> Any:
        sweeps.append([i.name for i in Sweeper(service).sweep(at=now() + 2 * MINUTE).removed])
        return real_ingest(*args, **kwargs)

    monkeypatch.setattr(service, "ingest", ingest_while_sweeping)
    item = handled.complete(upload.id, actor="officer:1")
    assert sweeps == [[]]
    assert _plain_of(service, item) == b"data"


def test_staging_files_without_an_upload_are_removed(node: Node) -> None:
    service = EvidenceService(node)
    handled = Uploads(service)
    live = handled.start(case=CASE, name="phone.tar", size=20, actor="officer:1")
    folder = node.settings.data_dir / "uploads"
    stray, fresh, other = folder / f"{'a' * 32}.part", folder / f"{'b' * 32}.part", folder / "notes.txt"
    for path in (stray, fresh, other):
        path.write_bytes(b"x" * 100)
    for path in (stray, other, folder / f"{live.id}.part"):
        _age(path, DAY + MINUTE)
    report = Sweeper(service).sweep()
    assert [(i.kind, i.name, i.size) for i in report.removed] == [("stray_staging", f"{'a' * 32}.part", 100)]
    assert not stray.exists()
    assert fresh.exists() and other.exists() and handled.status(live.id).received == 0


def test_pull_folders_go_when_their_offer_is_over_or_unknown(node: Node) -> None:
    service = EvidenceService(node)
    root = node.settings.data_dir / "transfers"
    offers = {status: str(uuid.uuid4()) for status in ("failed", "complete", "pulling")}
    unknown_old, unknown_fresh = str(uuid.uuid4()), str(uuid.uuid4())
    t = now()
    with node.db.transaction() as uow:
        for status, package in offers.items():
            uow.session.add(EvidenceOffer(id=package, direction="in", peer="FRA", case_ref=CASE, created_at=t,
                                          expires_at=t + DAY, head="{}", signature="s", status=status, attempts=0))
            for position in (1, 2):
                uow.session.add(EvidenceOfferFile(offer_id=package, direction="in", position=position,
                                                  path=f"files/000{position}/f", size=10, sha256="0" * 64,
                                                  chunk_size=4096, file_id="f" * 32 if position == 1 else None))
    for package in [*offers.values(), unknown_old, unknown_fresh]:
        (root / package).mkdir(parents=True)
        for position in (1, 2):
            (root / package / f"{position}.part").write_bytes(b"c" * 1000)
    (root / offers["failed"] / "notes.txt").write_text("not the puller's")
    (root / "not-a-package").mkdir()
    for path in [*root.rglob("*"), root / unknown_old]:
        if unknown_fresh not in str(path):
            _age(path, DAY + MINUTE)

    report = Sweeper(service).sweep()
    assert sorted(i.name for i in report.removed) == sorted(
        [f"{offers['failed']}/1.part", f"{offers['failed']}/2.part", f"{offers['complete']}/1.part",
         f"{offers['complete']}/2.part", f"{unknown_old}/1.part", f"{unknown_old}/2.part",
         f"{offers['pulling']}/1.part"])  # only the copy of the file already stored
    assert report.totals()["transfer"] == (7, 7000)
    assert not (root / offers["complete"]).exists() and not (root / unknown_old).exists()
    assert [p.name for p in (root / offers["failed"]).iterdir()] == ["notes.txt"]  # not ours: left alone
    assert (root / offers["pulling"] / "2.part").exists()  # still to be pulled
    assert len(list((root / unknown_fresh).iterdir())) == 2 and (root / "not-a-package").is_dir()


def test_package_downloads_left_in_exports_are_removed(node: Node) -> None:
    service = EvidenceService(node)
    folder = node.settings.data_dir / "exports"
    folder.mkdir()
    package = str(uuid.uuid4())
    old, partial, fresh, other = (folder / f"{package}-0123abcd.zip", folder / f"{package}-4567abcd.zip.partial",
                                  folder / f"{package}-89abcdef.zip", folder / "keep.zip")
    for path in (old, partial, fresh, other):
        path.write_bytes(b"plaintext" * 10)
    for path in (old, partial, other):
        _age(path, DAY + MINUTE)
    report = Sweeper(service).sweep()
    assert sorted(i.name for i in report.removed) == sorted([old.name, partial.name])
    assert sorted(p.name for p in folder.iterdir()) == sorted([fresh.name, other.name])


def test_a_failing_step_does_not_stop_the_others(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    service = EvidenceService(node)
    stray = node.settings.data_dir / "uploads" / f"{'a' * 32}.part"
    stray.parent.mkdir()
    stray.write_bytes(b"x")
    _age(stray, DAY + MINUTE)

    def down(*_args: Any, **_kwargs: Any) -> Iterator[Any]:
        raise TransportError("the object store is down", code="blob_store")

    monkeypatch.setattr(service.store, "blobs", down)
    report = Sweeper(service).sweep()
    assert report.failures == ["blobs: the object store is down"]
    assert [i.kind for i in report.removed] == ["stray_staging"]


def test_the_background_sweeper_runs_at_start_and_then_on_schedule(node: Node) -> None:
    service = EvidenceService(node)
    partial = node.settings.data_dir / "blobs" / "partial"

    def leftover() -> Path:
        path = partial / f"{uuid.uuid4().hex}.tmp"
        path.write_bytes(b"x" * 10)
        _age(path, DAY + MINUTE)
        return path

    first = leftover()
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    task = loop.create_task(run_sweeper(service, stop, interval=0.2))
    ran = threading.Thread(target=loop.run_until_complete, args=(task,))
    ran.start()
    try:
        _wait_for(lambda: not first.exists(), 30, "the sweep at start")
        second = leftover()
        _wait_for(lambda: not second.exists(), 30, "the next scheduled sweep")
    finally:
        loop.call_soon_threadsafe(stop.set)
        ran.join(30)
        loop.close()
    assert not ran.is_alive() and task.done() and task.exception() is None


# --- ingests killed at every step ---------------------------------------------------------------------------

#: A real ingest in a child process. The hooks only pause it at one step of the blob's life (saying so in the
#: marker file); the test then kills it with SIGKILL, or lets it go on by creating ``<marker>.go``.
CHILD = r'''
import os, sys, threading, time
from pathlib import Path

from hanoinet.evidence.service import EvidenceService
from hanoinet.node.node import Node

data, source, step, marker = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
go = Path(f"{marker}.go")
service = EvidenceService(Node.open(data))
lock, calls = threading.Lock(), [0]


def pause(note):
    with lock:
        if not marker.exists():
            marker.write_text(note)
    while not go.exists():
        time.sleep(0.01)


def before_call(real, first):
    """``real``, pausing before its call number ``first`` and every later one."""
    def hooked(*args, **kwargs):
        with lock:
            calls[0] += 1
            n = calls[0]
        if n >= first:
            pause(step)
        return real(*args, **kwargs)
    return hooked


def after_call(real):
    def hooked(*args, **kwargs):
        done = real(*args, **kwargs)
        pause(step)
        return done
    return hooked


s3 = getattr(service.store, "_client", None)
if step == "before_write":  # the partial exists (or, in S3, nothing yet), empty
    if s3: s3.create_multipart_upload = before_call(s3.create_multipart_upload, 1)
    else: os.pwrite = before_call(os.pwrite, 1)
elif step == "mid_write":  # some of the blob is written
    if s3: s3.upload_part = before_call(s3.upload_part, 2)
    else: os.pwrite = before_call(os.pwrite, 3)
elif step == "before_rename":  # all of it is written and synced; not visible yet
    if s3: s3.complete_multipart_upload = before_call(s3.complete_multipart_upload, 1)
    else: os.rename = before_call(os.rename, 1)
elif step == "before_row":  # the blob is committed, its row is not
    if s3: s3.complete_multipart_upload = after_call(s3.complete_multipart_upload)
    else: os.rename = after_call(os.rename)
item = service.ingest_path(source, case="VNM-2026-0042", actor="operator:test")
if step == "after_commit":
    pause(item.id)
print(item.id, flush=True)
'''
STEPS = ("before_write", "mid_write", "before_rename", "before_row", "after_commit")


@dataclass
class Holdings:
    """What a store holds, read without the store's own code: unfinished writes and committed blobs."""

    unfinished: dict[str, int]
    committed: dict[str, int]


@pytest.fixture(params=["file", "s3"])
def where(request: pytest.FixtureRequest, node: Node) -> tuple[EvidenceService, Callable[[], Holdings], dict[str, str]]:
    """The node's evidence service on each store, how to see what the store holds, and the child's environment."""
    if request.param == "file":
        root = node.settings.data_dir / "blobs"

        def on_disk() -> Holdings:
            return Holdings({p.stem: p.stat().st_size for p in (root / "partial").glob("*.tmp")},
                            {p.name: p.stat().st_size for p in root.glob("??/*")})

        return EvidenceService(node), on_disk, {}
    endpoint: str = request.getfixturevalue("s3_endpoint")
    client: Any = request.getfixturevalue("s3_client")
    prefix = f"t/{uuid.uuid4().hex}/"
    url = f"s3://{S3_BUCKET}/{prefix}"

    def in_bucket() -> Holdings:
        uploads = client.list_multipart_uploads(Bucket=S3_BUCKET, Prefix=prefix).get("Uploads", [])
        objects = client.list_objects_v2(Bucket=S3_BUCKET, Prefix=prefix).get("Contents", [])
        return Holdings({u["Key"][len(prefix):]: sum(p["Size"] for p in client.list_parts(
            Bucket=S3_BUCKET, Key=u["Key"], UploadId=u["UploadId"]).get("Parts", [])) for u in uploads},
            {o["Key"][len(prefix):]: o["Size"] for o in objects})

    store = open_store(url, node.settings.data_dir, endpoint_url=endpoint)
    return (EvidenceService(node, store=store), in_bucket,
            {"HANOINET_BLOB_STORE": url, "HANOINET_BLOB_ENDPOINT_URL": endpoint})


def _child(node: Node, source: Path, step: str, marker: Path, env: dict[str, str],
           log: Path) -> subprocess.Popen[bytes]:
    """The ingest of ``source`` in a child process, once it has paused at ``step``."""
    marker.unlink(missing_ok=True)
    with log.open("wb") as out:
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(node.settings.data_dir), str(source), step,
                                  str(marker)], stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env})
    _wait_for(lambda: marker.exists() or child.poll() is not None, 120, f"the ingest to reach {step}")
    assert child.poll() is None, log.read_text()
    return child


@pytest.mark.slow
def test_ingests_killed_at_every_step_leave_nothing_after_a_sweep(
        where: tuple[EvidenceService, Callable[[], Holdings], dict[str, str]], node: Node, tmp_path: Path) -> None:
    service, holdings, env = where
    source = _file(tmp_path / "disk.img", (20 << 20) + 12_345)  # three S3 parts; five filesystem buffers
    full = stream.ciphertext_size(source.stat().st_size)
    s3 = service.store.describe.startswith("s3:")
    committed_id = ""
    for step in STEPS:
        before = holdings()
        child = _child(node, source, step, tmp_path / "marker", env, tmp_path / f"{step}.log")
        child.send_signal(signal.SIGKILL)
        assert child.wait() == -signal.SIGKILL
        after = holdings()
        new_unfinished = {k: v for k, v in after.unfinished.items() if k not in before.unfinished}
        new_blobs = {k: v for k, v in after.committed.items() if k not in before.committed}
        # Where each kill landed, checked, so that the sweep below is shown every kind of leftover.
        if step == "before_write":
            assert list(new_unfinished.values()) == ([] if s3 else [0]) and new_blobs == {}
        elif step == "mid_write":
            [size] = new_unfinished.values()
            assert 0 < size < full and new_blobs == {}
        elif step == "before_rename":
            assert list(new_unfinished.values()) == [full] and new_blobs == {}
        elif step == "before_row":
            assert new_unfinished == {} and list(new_blobs.values()) == [full]
        else:
            assert new_unfinished == {} and list(new_blobs.values()) == [full]
            committed_id = (tmp_path / "marker").read_text()
    with node.db.transaction(readonly=True) as uow:
        assert uow.session.scalar(select(func.count()).select_from(EvidenceFile)) == 1
    kept_blob = _blob_of(node, committed_id)

    report = Sweeper(service).sweep(at=now() + DAY + MINUTE)

    assert report.failures == []
    assert report.totals()["unfinished_write"][0] == (2 if s3 else 3)
    assert report.totals()["orphan_blob"] == (1, full)
    assert holdings() == Holdings({}, {kept_blob: full})
    assert _plain_sha256(service, committed_id) == hashlib.sha256(source.read_bytes()).hexdigest()
    assert Sweeper(service).sweep(at=now() + DAY + MINUTE).removed == []


def test_a_live_ingest_and_live_uploads_and_pulls_are_not_swept(
        where: tuple[EvidenceService, Callable[[], Holdings], dict[str, str]], node: Node, tmp_path: Path) -> None:
    service, holdings, env = where
    source = _file(tmp_path / "disk.img", (20 << 20) + 1)
    earlier = service.ingest_path(_file(tmp_path / "earlier.bin", 5000), case=CASE, actor="operator:test")
    upload = Uploads(service).start(case=CASE, name="phone.tar", size=10, actor="officer:1")
    pulling = str(uuid.uuid4())
    t = now()
    with node.db.transaction() as uow:
        uow.session.add(EvidenceOffer(id=pulling, direction="in", peer="FRA", case_ref=CASE, created_at=t,
                                      expires_at=t + DAY, head="{}", signature="s", status="pulling", attempts=0))
        uow.session.add(EvidenceOfferFile(offer_id=pulling, direction="in", position=1, path="files/0001/f",
                                          size=10, sha256="0" * 64, chunk_size=4096))
    part = node.settings.data_dir / "transfers" / pulling / "1.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"c" * 100)
    _age(part, 30 * DAY)  # a pull waiting for its next attempt is the offer's, however old its copy
    _age(node.settings.data_dir / "uploads" / f"{upload.id}.part", DAY + MINUTE)  # under the upload's expiry
    marker = tmp_path / "marker"
    child = _child(node, source, "mid_write", marker, env, tmp_path / "live.log")
    try:
        # Swept as if the ingest had paused for almost a whole day: it is still within the sweeper's age.
        report = Sweeper(service).sweep(at=now() + DAY - MINUTE)
        assert report.removed == [] and report.failures == []
        Path(f"{marker}.go").touch()
        assert child.wait(120) == 0, (tmp_path / "live.log").read_text()
    finally:
        child.kill()
    [item_id] = re.findall(r"^[0-9a-f]{32}$", (tmp_path / "live.log").read_text(), re.MULTILINE)
    assert _plain_sha256(service, item_id) == hashlib.sha256(source.read_bytes()).hexdigest()
    assert _plain_sha256(service, earlier.id) == earlier.sha256
    assert Uploads(service).status(upload.id).received == 0 and part.exists()
    assert holdings().unfinished == {}


# --- helpers ------------------------------------------------------------------------------------------------


def _file(path: Path, size: int) -> Path:
    path.write_bytes(os.urandom(size))
    return path


def _blob_of(node: Node, file_id: str) -> str:
    with node.db.transaction(readonly=True) as uow:
        blob_id = uow.session.scalar(select(EvidenceFile.blob_id).where(EvidenceFile.id == file_id))
    assert blob_id is not None
    return str(blob_id)


def _plain_of(service: EvidenceService, item: Any) -> bytes:
    return b"".join(service.plaintext(item.id))


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, f"still waiting for {what} after {timeout} s"
        time.sleep(0.01)

