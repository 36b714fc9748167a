"""Blob stores: one contract for the filesystem and S3 stores, then what each one promises on its own."""

from __future__ import annotations

import array
import errno
import fcntl
import hashlib
import os
import socket
import stat
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hanoinet.errors import ConfigurationError, NotFound, TransportError, ValidationError
from hanoinet.evidence import blobs
from hanoinet.evidence.blobs import BLOB_ID, PART_SIZE, BlobStore, open_store
from tests.evidence.conftest import S3_BUCKET

HOUR = timedelta(hours=1)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """An empty node data directory."""
    path = tmp_path / "data"
    path.mkdir(mode=0o700)
    return path


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, data_dir: Path) -> BlobStore:
    """Each store, empty: the filesystem one in a fresh data directory, the S3 one under a fresh prefix."""
    if request.param == "file":
        return open_store("file:", data_dir)
    endpoint: str = request.getfixturevalue("s3_endpoint")
    return open_store(f"s3://{S3_BUCKET}/t/{uuid.uuid4().hex}/", data_dir, endpoint_url=endpoint)


def leftovers(store: BlobStore, request: pytest.FixtureRequest) -> list[str]:
    """Everything the store holds: committed blobs and unfinished writes."""
    s: Any = store
    if store.describe.startswith("file:"):
        return sorted(str(p.relative_to(s.root)) for p in s.root.rglob("*") if p.is_file())
    client = request.getfixturevalue("s3_client")
    objects = client.list_objects_v2(Bucket=S3_BUCKET, Prefix=s.prefix).get("Contents", [])
    uploads = client.list_multipart_uploads(Bucket=S3_BUCKET, Prefix=s.prefix).get("Uploads", [])
    return sorted([o["Key"] for o in objects] + [f"upload:{u['Key']}" for u in uploads])


def put(store: BlobStore, data: bytes, chunk: int = 65_537) -> str:
    """Store ``data`` written in chunks; its blob id."""
    with store.create() as writer:
        for i in range(0, len(data), chunk):
            writer.write(data[i:i + chunk])
        assert writer.commit() == len(data)
    return writer.id


def get(store: BlobStore, blob_id: str, start: int = 0, end: int | None = None, piece: int = 1 << 20) -> bytes:
    """Read a range back whole, checking every piece's size on the way."""
    pieces = list(store.read(blob_id, start, end, piece=piece))
    assert all(0 < len(p) <= piece for p in pieces)
    return b"".join(pieces)


# --- the contract --------------------------------------------------------------------------------------------


def test_round_trip_with_ranges(store: BlobStore) -> None:
    data = os.urandom(300_001)
    blob_id = put(store, data)
    assert BLOB_ID.match(blob_id)
    assert store.exists(blob_id)
    assert store.size(blob_id) == len(data)
    assert get(store, blob_id) == data
    assert get(store, blob_id, piece=4096) == data
    for start, end in [(0, 0), (0, 1), (7, 1000), (299_999, None), (300_001, None), (100, 10**9), (5, 5)]:
        assert get(store, blob_id, start, end, piece=1000) == data[start:end], (start, end)


def test_bad_ranges_are_refused(store: BlobStore) -> None:
    blob_id = put(store, b"0123456789")
    for start, end, piece in [(11, None, 1), (11, 20, 1), (-1, None, 1), (5, 4, 1), (0, None, 0)]:
        with pytest.raises(ValidationError) as caught:
            store.read(blob_id, start, end, piece=piece)
        assert caught.value.code == "invalid_range"
    with pytest.raises(ValidationError, match=r"after the end of blob .* \(10 bytes\)"):
        store.read(blob_id, 11)


def test_any_range_reads_the_same_bytes_as_slicing(store: BlobStore) -> None:
    content = bytes(range(256)) * 13 + b"end"
    blob_id = put(store, content, chunk=997)

    @settings(max_examples=20)
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        start = data.draw(st.integers(0, len(content)), label="start")
        end = data.draw(st.none() | st.integers(start, len(content) + 100), label="end")
        piece = data.draw(st.integers(1, 5000), label="piece")
        assert get(store, blob_id, start, end, piece) == content[start:end]

    check()


def test_absent_and_deleted_blobs(store: BlobStore) -> None:
    missing = "0" * 32
    assert not store.exists(missing)
    with pytest.raises(NotFound):
        store.size(missing)
    with pytest.raises(NotFound):
        store.read(missing)
    store.delete(missing)
    blob_id = put(store, b"evidence")
    store.delete(blob_id)
    store.delete(blob_id)
    assert not store.exists(blob_id)
    with pytest.raises(NotFound):
        store.size(blob_id)


def test_empty_blob(store: BlobStore) -> None:
    blob_id = put(store, b"")
    assert store.size(blob_id) == 0
    assert get(store, blob_id) == b""


def test_abort_leaves_nothing(store: BlobStore, request: pytest.FixtureRequest) -> None:
    writer = store.create()
    # Past two parts: an S3 multipart upload has begun and its first part is stored (the second part waited
    # for it). moto dates every upload 2010, so only a stored part tells the sweep this one is not idle.
    writer.write(os.urandom(2 * PART_SIZE + 1))
    assert leftovers(store, request) != []
    writer.abort()
    writer.abort()
    assert not store.exists(writer.id)
    assert leftovers(store, request) == []


def test_exception_inside_the_block_leaves_nothing(store: BlobStore, request: pytest.FixtureRequest) -> None:
    with pytest.raises(ZeroDivisionError), store.create() as writer:
        writer.write(b"half of it")
        _ = 1 / 0
    assert not store.exists(writer.id)
    assert leftovers(store, request) == []


def test_leaving_the_block_without_commit_discards(store: BlobStore, request: pytest.FixtureRequest) -> None:
    with pytest.raises(RuntimeError, match="neither committed nor aborted"), store.create() as writer:
        writer.write(b"forgotten")
    assert not store.exists(writer.id)
    assert leftovers(store, request) == []


def test_a_committed_writer_is_closed(store: BlobStore) -> None:
    with store.create() as writer:
        writer.write(b"abc")
        assert writer.written == 3
        assert writer.commit() == 3
        assert writer.commit() == 3
        writer.abort()
        with pytest.raises(RuntimeError, match="it is committed"):
            writer.write(b"more")
    assert get(store, writer.id) == b"abc"


def test_many_writes_of_odd_sizes(store: BlobStore) -> None:
    sizes = [0, 1, 4095, 4097, 65_537, 1_000_003, 3, 0]
    chunks: list[bytes] = []
    total = 0
    i = 0
    while total <= PART_SIZE + 300_000:  # crosses an S3 part boundary mid-write
        chunk = os.urandom(sizes[i % len(sizes)])
        chunks.append(chunk)
        total += len(chunk)
        i += 1
    with store.create() as writer:
        for chunk in chunks:
            writer.write(chunk)
        assert writer.written == total
        writer.commit()
    data = b"".join(chunks)
    assert store.size(writer.id) == total
    assert hashlib.sha256(get(store, writer.id, piece=65_521)).digest() == hashlib.sha256(data).digest()
    assert get(store, writer.id, PART_SIZE - 10, PART_SIZE + 10) == data[PART_SIZE - 10:PART_SIZE + 10]


def test_reserved_bytes_are_filled_in_place(store: BlobStore) -> None:
    data = os.urandom(PART_SIZE + (8 << 20))
    with store.create() as writer:
        writer.write(data[:7])
        position = 7
        for size in (1 << 20, 24, 4093, (1 << 20) + 16, 3 << 20, 0, 9 << 20):  # last: larger than any buffer
            view = writer.reserve(size)
            assert len(view) == size
            view[:] = data[position:position + size]
            position += size
        writer.write(data[position:])
        assert writer.commit() == len(data)
    assert hashlib.sha256(get(store, writer.id)).digest() == hashlib.sha256(data).digest()


def test_a_memoryview_of_wide_items_is_written_whole(store: BlobStore) -> None:
    words = array.array("I", range(2_500_000))  # 10 MB, more than an S3 part
    with store.create() as writer:
        writer.write(memoryview(words))
        assert writer.commit() == len(words) * words.itemsize
    assert get(store, writer.id) == words.tobytes()


def test_a_negative_reservation_is_refused(store: BlobStore) -> None:
    with store.create() as writer:
        with pytest.raises(ValidationError, match="at least 0"):
            writer.reserve(-1)
        writer.write(b"kept")
        writer.commit()
    assert get(store, writer.id) == b"kept"


def test_identifiers_are_fresh_and_random(store: BlobStore) -> None:
    ids = {store.create().id for _ in range(20)}
    assert len(ids) == 20
    assert all(BLOB_ID.match(i) for i in ids)


BAD_IDS = ["", "0" * 31, "0" * 33, "A" * 32, "g" * 32, "../" * 10 + "ab", "0" * 32 + "\n", "/" + "0" * 31,
           "0" * 16 + "/../" + "0" * 12, None, 12]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_bad_identifiers_are_refused(store: BlobStore, bad: Any) -> None:
    for operation in (store.size, store.exists, store.delete, store.read):
        with pytest.raises(ValidationError) as caught:
            operation(bad)
        assert caught.value.code == "invalid_blob_id"


@settings(max_examples=100)
@given(text=st.text(max_size=40))
def test_only_32_lowercase_hex_is_an_identifier(text: str) -> None:
    assert bool(BLOB_ID.match(text)) == (len(text) == 32 and all(c in "0123456789abcdef" for c in text))


def test_sweep_discards_an_idle_unfinished_write(store: BlobStore, request: pytest.FixtureRequest) -> None:
    writer = store.create()
    # Past two parts: an S3 multipart upload has begun and its first part is stored (the second part waited
    # for it). moto dates every upload 2010, so only a stored part tells the sweep this one is not idle.
    writer.write(os.urandom(2 * PART_SIZE + 1))
    kept = put(store, b"committed")
    assert store.sweep_partial(HOUR) == []
    assert len(leftovers(store, request)) == 2
    later = datetime.now(UTC) + 2 * HOUR
    [would] = store.sweep_partial(HOUR, now=later, dry_run=True)
    assert len(leftovers(store, request)) == 2  # a dry run removes nothing
    assert would.id == writer.id
    # What reached the store: at least the stored part in S3; on disk, whatever the writing threads wrote.
    assert (PART_SIZE if store.describe.startswith("s3:") else 0) <= would.size <= 2 * PART_SIZE + 1
    assert store.sweep_partial(HOUR, now=later) == [would]
    assert [kept in name for name in leftovers(store, request)] == [True]
    writer.abort()  # finds nothing left to abort: not an error
    assert not store.exists(writer.id)
    assert store.exists(kept)


def test_blobs_lists_committed_blobs_by_prefix(store: BlobStore) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    made = {put(store, os.urandom(n)): n for n in (0, 1, 70_000)}
    unfinished = store.create()
    unfinished.write(b"not committed")
    listed = {b.id: b for b in store.blobs()}
    assert {i: b.size for i, b in listed.items()} == made  # the unfinished write is not a blob
    assert all(before <= b.modified <= datetime.now(UTC) + timedelta(seconds=5) for b in listed.values())
    some = next(iter(made))
    for prefix in ("", some[0], some[:2], some[:3], some):
        assert {b.id for b in store.blobs(prefix)} == {i for i in made if i.startswith(prefix)}
    with pytest.raises(ValidationError):
        list(store.blobs("../"))
    unfinished.abort()


# --- filesystem ------------------------------------------------------------------------------------------


def test_file_layout_and_modes(data_dir: Path) -> None:
    store = open_store("file:", data_dir)
    assert store.describe == f"file:{data_dir / 'blobs'}"
    blob_id = put(store, b"sealed")
    root = data_dir / "blobs"
    final = root / blob_id[:2] / blob_id
    assert final.read_bytes() == b"sealed"
    assert stat.S_IMODE(final.stat().st_mode) == 0o600
    for folder in (root, root / "partial", final.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    assert list((root / "partial").iterdir()) == []


def test_file_partial_lives_under_partial_until_commit(data_dir: Path) -> None:
    store = open_store("file:", data_dir)
    writer = store.create()
    writer.write(b"x" * 1000)
    partial = data_dir / "blobs" / "partial" / f"{writer.id}.tmp"
    assert partial.is_file()
    assert stat.S_IMODE(partial.stat().st_mode) == 0o600
    assert not store.exists(writer.id)
    writer.commit()
    assert not partial.exists()
    assert store.exists(writer.id)


def test_file_commit_fsyncs_the_file_before_rename_then_the_folders(data_dir: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store("file:", data_dir)
    events: list[tuple[str, int]] = []
    real_fsync, real_rename = os.fsync, os.rename

    def fsync(fd: int) -> None:
        info = os.fstat(fd)
        events.append(("dir" if stat.S_ISDIR(info.st_mode) else "file", info.st_ino))
        real_fsync(fd)

    def rename(src: Any, dst: Any) -> None:
        events.append(("rename", os.stat(src).st_ino))
        real_rename(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "rename", rename)
    writer = store.create()
    writer.write(b"evidence" * 1000)
    writer.commit()
    root = data_dir / "blobs"
    blob = root / writer.id[:2] / writer.id
    inode = blob.stat().st_ino
    assert events.index(("file", inode)) < events.index(("rename", inode))
    after = events[events.index(("rename", inode)) + 1:]
    for folder in (blob.parent, root / "partial", root):  # root too: the fan-out folder was new
        assert ("dir", folder.stat().st_ino) in after, folder


def test_file_crash_before_commit_leaves_no_blob(data_dir: Path) -> None:
    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from hanoinet.evidence.blobs import open_store\n"
        "writer = open_store('file:', Path(sys.argv[1])).create()\n"
        "writer.write(b'x' * 100_000)\n"
        "print(writer.id, flush=True)\n"
        "os._exit(3)\n"  # dies at once: no commit, no abort, no cleanup
    )
    done = subprocess.run([sys.executable, "-c", script, str(data_dir)], capture_output=True, text=True,
                          timeout=30, check=False)
    assert done.returncode == 3, done.stderr
    blob_id = done.stdout.strip()
    store = open_store("file:", data_dir)
    assert not store.exists(blob_id)
    assert not (data_dir / "blobs" / blob_id[:2] / blob_id).exists()
    partial = data_dir / "blobs" / "partial" / f"{blob_id}.tmp"
    size = partial.stat().st_size
    assert size <= 100_000  # what reached the disk before the crash, if anything
    assert store.sweep_partial(HOUR) == []
    old = (datetime.now(UTC) - 2 * HOUR).timestamp()
    os.utime(partial, (old, old))
    assert [(b.id, b.size) for b in store.sweep_partial(HOUR)] == [(blob_id, size)]
    assert not partial.exists()


def test_file_commit_after_sweep_says_why(data_dir: Path) -> None:
    store = open_store("file:", data_dir)
    writer = store.create()
    writer.write(b"slow upload")
    assert len(store.sweep_partial(timedelta(0), now=datetime.now(UTC) + HOUR)) == 1
    with pytest.raises(ConfigurationError, match="disappeared before commit") as caught:
        writer.commit()
    assert "evidence_sweep_age_seconds" in caught.value.hint
    assert not store.exists(writer.id)


def test_file_full_disk_is_reported_and_leaves_nothing(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store("file:", data_dir)

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with (
        pytest.raises(ConfigurationError, match=r"could not commit a blob at .*No space left") as caught,
        store.create() as writer,
    ):
        writer.write(b"too much")
        writer.commit()
    assert "free space" in caught.value.hint
    assert not store.exists(writer.id)
    assert list((data_dir / "blobs").rglob("*.tmp")) == []


_OPS = st.lists(st.tuples(st.sampled_from(["write", "reserve"]), st.integers(0, 40_000)), max_size=25)


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "page-cache"])
def test_file_writes_and_reservations_in_any_order_make_the_same_blob(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch, direct: bool) -> None:
    # Small buffers, so that a few kilobytes cross buffers, leave unaligned tails and overflow to scratch.
    monkeypatch.setattr(blobs, "WRITE_BUFFER", 16_384)
    if not direct:
        monkeypatch.setattr(blobs, "_set_direct", lambda fd, *, on: False)
    store = open_store("file:", data_dir)

    @settings(max_examples=60, deadline=None)
    @given(ops=_OPS, seed=st.binary(min_size=1, max_size=8))
    def check(ops: list[tuple[str, int]], seed: bytes) -> None:
        expected = bytearray()
        with store.create() as writer:
            assert writer.direct is direct  # type: ignore[attr-defined]
            for kind, size in ops:
                piece = (hashlib.sha256(seed + len(expected).to_bytes(8, "big")).digest() * (size // 32 + 1))[:size]
                if kind == "write":
                    writer.write(piece)
                else:
                    writer.reserve(size)[:] = piece
                expected += piece
            writer.commit()
        assert (data_dir / "blobs" / writer.id[:2] / writer.id).read_bytes() == expected

    check()


def test_file_store_writes_with_direct_io_where_the_filesystem_allows(data_dir: Path) -> None:
    store = open_store("file:", data_dir)
    with store.create() as writer:
        writer.write(b"x" * 10_000)
        if not writer.direct:  # type: ignore[attr-defined]
            pytest.skip(f"the filesystem of {data_dir} does not take O_DIRECT")
        writer.commit()
    assert store.size(writer.id) == 10_000  # the padded last block was cut off


def test_file_device_refusing_the_alignment_falls_back_to_the_page_cache(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store("file:", data_dir)
    real_pwrite, refused = os.pwrite, []

    def pwrite(fd: int, data: Any, offset: int) -> int:
        if fcntl.fcntl(fd, fcntl.F_GETFL) & getattr(os, "O_DIRECT", 0):
            refused.append(offset)
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", pwrite)
    data = os.urandom(3 * blobs.WRITE_BUFFER + 12_345)
    with store.create() as writer:
        if not writer.direct:  # type: ignore[attr-defined]
            pytest.skip(f"the filesystem of {data_dir} does not take O_DIRECT")
        writer.write(data)
        writer.commit()
        assert not writer.direct  # type: ignore[attr-defined]
    assert refused
    assert get(store, writer.id) == data


def test_file_failed_background_write_is_reported_and_leaves_nothing(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store("file:", data_dir)

    def full(fd: int, data: Any, offset: int) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "pwrite", full)
    with (
        pytest.raises(ConfigurationError, match=r"could not (write|commit) a blob at .*No space left") as caught,
        store.create() as writer,
    ):
        for _ in range(2 * blobs.WRITES_IN_FLIGHT + 4):  # more buffers than are in flight: a write sees it
            writer.write(b"e" * blobs.WRITE_BUFFER)
        writer.commit()
    assert "free space" in caught.value.hint
    assert not store.exists(writer.id)
    assert list((data_dir / "blobs").rglob("*.tmp")) == []


def test_file_failed_background_write_fails_the_next_small_write(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store("file:", data_dir)
    failed = threading.Event()

    def full(fd: int, data: Any, offset: int) -> int:
        failed.set()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "pwrite", full)
    with store.create() as writer:
        writer.write(b"e" * (blobs.WRITE_BUFFER + 1))  # the first buffer goes to a writing thread
        assert failed.wait(10)
        deadline = time.monotonic() + 10
        with pytest.raises(ConfigurationError, match="No space left"):
            while time.monotonic() < deadline:  # the thread records its failure just after the call
                writer.write(b"x")
        writer.abort()
    assert list((data_dir / "blobs").rglob("*.tmp")) == []


@pytest.mark.parametrize("failure", ["bug", "stuck"])
def test_file_writing_thread_failing_otherwise_fails_the_commit(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch, failure: str) -> None:
    store = open_store("file:", data_dir)

    real_pwrite = os.pwrite

    def broken(fd: int, data: Any, offset: int) -> int:
        if offset:  # the last buffer, written by commit itself, goes through
            return real_pwrite(fd, data, offset)
        if failure == "bug":
            raise ValueError("operation on a closed mapping")
        return 0  # a device that accepts nothing must not make the writer spin

    monkeypatch.setattr(os, "pwrite", broken)
    with pytest.raises((ValueError, ConfigurationError)) as caught, store.create() as writer:
        writer.write(os.urandom(2 * blobs.WRITE_BUFFER + 5))
        writer.commit()
    assert ("closed mapping" if failure == "bug" else "took none") in str(caught.value)
    assert not store.exists(writer.id)
    assert list((data_dir / "blobs").rglob("*.tmp")) == []


def test_file_sweep_touches_only_partial_blobs(data_dir: Path) -> None:
    store = open_store("file:", data_dir)
    partial = data_dir / "blobs" / "partial"
    stranger = partial / "notes.txt"
    stranger.write_text("not a blob")
    old = (datetime.now(UTC) - 2 * HOUR).timestamp()
    os.utime(stranger, (old, old))
    assert store.sweep_partial(HOUR) == []
    assert stranger.exists()
    (data_dir / "blobs" / "ab").mkdir()
    (data_dir / "blobs" / "ab" / ("ab" * 15 + ".x")).write_text("not a blob")
    (data_dir / "blobs" / "ab" / ("cd" * 16)).write_text("not in its fan-out folder")
    os.symlink("/etc/hostname", data_dir / "blobs" / "ab" / ("ab" * 16))
    assert list(store.blobs()) == []


def test_file_store_needs_an_existing_data_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        open_store("file:", tmp_path / "missing")


def test_importing_blobs_does_not_import_boto3() -> None:
    script = "import sys, hanoinet.evidence.blobs; print(sorted(m for m in sys.modules if m.startswith('boto')))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=True)
    assert done.stdout.strip() == "[]"


# --- S3 ----------------------------------------------------------------------------------------------------


@pytest.fixture
def s3_store(s3_endpoint: str, data_dir: Path) -> Any:
    """An S3 store under a fresh prefix."""
    return open_store(f"s3://{S3_BUCKET}/t/{uuid.uuid4().hex}", data_dir, endpoint_url=s3_endpoint)


def test_s3_large_blob_is_a_multipart_upload(s3_store: Any, s3_client: Any) -> None:
    data = os.urandom(20 << 20)
    writer = s3_store.create()
    for i in range(0, len(data), 1_048_579):
        writer.write(data[i:i + 1_048_579])
    key = s3_store.prefix + writer.id
    [upload] = s3_client.list_multipart_uploads(Bucket=S3_BUCKET, Prefix=s3_store.prefix)["Uploads"]
    assert upload["Key"] == key
    parts = s3_client.list_parts(Bucket=S3_BUCKET, Key=key, UploadId=upload["UploadId"])["Parts"]
    assert [p["Size"] for p in parts] in ([PART_SIZE], [PART_SIZE, PART_SIZE])  # the second may be on its way
    assert not s3_store.exists(writer.id)  # nothing visible before CompleteMultipartUpload
    assert writer.commit() == len(data)
    assert s3_client.head_object(Bucket=S3_BUCKET, Key=key)["ETag"].endswith('-3"')
    assert "Uploads" not in s3_client.list_multipart_uploads(Bucket=S3_BUCKET, Prefix=s3_store.prefix)
    assert hashlib.sha256(get(s3_store, writer.id)).digest() == hashlib.sha256(data).digest()
    start = PART_SIZE - 5
    assert get(s3_store, writer.id, start, start + PART_SIZE + 10, piece=65_536) == data[start:start + PART_SIZE + 10]


@pytest.mark.parametrize("size", [1000, PART_SIZE])
def test_s3_blob_of_at_most_one_part_is_one_put(s3_store: Any, s3_client: Any, size: int) -> None:
    data = os.urandom(size)
    writer = s3_store.create()
    writer.write(data)
    assert "Uploads" not in s3_client.list_multipart_uploads(Bucket=S3_BUCKET, Prefix=s3_store.prefix)
    assert not s3_store.exists(writer.id)
    writer.commit()
    etag = s3_client.head_object(Bucket=S3_BUCKET, Key=s3_store.prefix + writer.id)["ETag"]
    assert etag == f'"{hashlib.md5(data).hexdigest()}"'  # a single PutObject's ETag
    assert get(s3_store, writer.id) == data


def test_s3_parts_upload_while_the_next_fills_and_a_failed_one_fails_the_blob(
        s3_store: Any, s3_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    real, release, started = s3_store._client.upload_part, threading.Event(), threading.Event()

    def held(**kwargs: Any) -> Any:
        started.set()
        assert release.wait(10)
        return real(**kwargs)

    monkeypatch.setattr(s3_store._client, "upload_part", held)
    data = os.urandom(2 * PART_SIZE + 10)
    with s3_store.create() as writer:
        writer.write(data[:PART_SIZE + 1])  # returns while the first part is still on its way
        assert started.wait(10)
        release.set()
        writer.write(data[PART_SIZE + 1:])
        writer.commit()
    assert get(s3_store, writer.id) == data

    def refused(**kwargs: Any) -> Any:
        raise s3_store._client.exceptions.NoSuchUpload({"Error": {"Code": "NoSuchUpload"}}, "UploadPart")

    monkeypatch.setattr(s3_store._client, "upload_part", refused)
    with pytest.raises(ConfigurationError, match="aborted before commit"), s3_store.create() as failing:
        failing.write(data[:PART_SIZE + 1])  # the first part fails in the background: the next write says so
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            failing.write(b"x")
    assert not s3_store.exists(failing.id)
    uploads = s3_client.list_multipart_uploads(Bucket=S3_BUCKET, Prefix=s3_store.prefix).get("Uploads", [])
    assert uploads == []


def test_s3_sweep_aborts_only_stale_uploads_of_blobs(s3_store: Any, s3_client: Any) -> None:
    prefix = s3_store.prefix
    stale = s3_client.create_multipart_upload(Bucket=S3_BUCKET, Key=prefix + "a" * 32)["UploadId"]
    other = s3_client.create_multipart_upload(Bucket=S3_BUCKET, Key=prefix + "not-a-blob")["UploadId"]
    assert [b.id for b in s3_store.sweep_partial(HOUR, now=datetime.now(UTC) + 2 * HOUR)] == ["a" * 32]
    left = s3_client.list_multipart_uploads(Bucket=S3_BUCKET, Prefix=prefix)["Uploads"]
    assert [u["UploadId"] for u in left] == [other]
    assert stale != other
    s3_client.abort_multipart_upload(Bucket=S3_BUCKET, Key=prefix + "not-a-blob", UploadId=other)


def test_s3_missing_bucket_is_a_configuration_error(s3_endpoint: str, data_dir: Path) -> None:
    store = open_store("s3://no-such-bucket-here/", data_dir, endpoint_url=s3_endpoint)
    with pytest.raises(ConfigurationError, match="no-such-bucket-here does not exist"), store.create() as writer:
        writer.write(b"x")
        writer.commit()


def test_s3_prefix_is_normalised(s3_endpoint: str, data_dir: Path) -> None:
    assert open_store(f"s3://{S3_BUCKET}", data_dir).describe == f"s3://{S3_BUCKET}/"
    store = open_store(f"s3://{S3_BUCKET}/a/b", data_dir, endpoint_url=s3_endpoint, region="eu-west-3")
    assert store.describe == f"s3://{S3_BUCKET}/a/b/ at {s3_endpoint}"


def test_s3_errors_say_what_to_do(s3_store: Any) -> None:
    from botocore.stub import Stubber

    with Stubber(s3_store._client) as stub:
        stub.add_client_error("head_object", "403", http_status_code=403)
        with pytest.raises(ConfigurationError, match="refused to read the size") as refused:
            s3_store.size("0" * 32)
        assert "credentials" in refused.value.hint
        stub.add_client_error("head_object", "SlowDown", "Please reduce your request rate", http_status_code=503)
        with pytest.raises(TransportError, match="SlowDown") as slow:
            s3_store.size("0" * 32)
        assert slow.value.code == "blob_store"
        stub.add_response("create_multipart_upload", {"UploadId": "u1"})
        stub.add_response("upload_part", {"ETag": '"e1"'})
        stub.add_client_error("upload_part", "NoSuchUpload", http_status_code=404)
        writer = s3_store.create()
        writer.write(bytes(PART_SIZE + 1))
        with pytest.raises(ConfigurationError, match="aborted before commit") as swept:
            writer.commit()
        assert "evidence_sweep_age_seconds" in swept.value.hint
        with pytest.raises(RuntimeError, match="it is failed"):
            writer.commit()  # how much reached the store is unknown: only abort is left
        stub.add_client_error("abort_multipart_upload", "NoSuchUpload", http_status_code=404)
        writer.abort()
        stub.assert_no_pending_responses()


def test_s3_unreachable_endpoint_is_a_transport_error(s3_endpoint: str, data_dir: Path) -> None:
    with socket.socket() as probe:  # a loopback port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = open_store(f"s3://{S3_BUCKET}/", data_dir, endpoint_url=f"http://127.0.0.1:{port}")
    with pytest.raises(TransportError, match=r"Could not connect") as caught:
        store.exists("0" * 32)
    assert caught.value.code == "blob_store"


# --- configuration -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "", "file", "file:/srv/blobs", "file://", "http://bucket/", "s3://", "s3:///prefix", "s3://ab/",
    "s3://Upper/", "s3://bad_bucket/", "s3://a..b/", "s3://bucket:9000/", "s3://key@bucket/",
    "s3://bucket/p?x=1", "s3://bucket/p#f", "s3://bucket/a//b", "s3://bucket/a/../b", "s3://bucket/sp ace",
])
def test_malformed_store_urls_are_refused(url: str, data_dir: Path) -> None:
    with pytest.raises(ConfigurationError, match="expected 'file:'") as caught:
        open_store(url, data_dir)
    assert caught.value.code == "blob_store_url"


@pytest.mark.parametrize("endpoint", ["http://minio.example.org:9000", "ftp://127.0.0.1/", "127.0.0.1:9000"])
def test_plain_http_endpoints_only_on_loopback(endpoint: str, data_dir: Path) -> None:
    with pytest.raises(ConfigurationError, match="https://"):
        open_store(f"s3://{S3_BUCKET}/", data_dir, endpoint_url=endpoint)


def test_file_store_takes_no_s3_options(data_dir: Path) -> None:
    with pytest.raises(ConfigurationError, match="only to an s3://"):
        open_store("file:", data_dir, region="us-east-1")
