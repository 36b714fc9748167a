"""Blob stores: where a node keeps encrypted evidence, streamed in and out in constant memory.

A blob is an opaque byte string (evidence already encrypted at rest; this module never sees plaintext) named
by a random identifier, 128 bits as 32 lowercase hex digits, never derived from its content. Two stores:

- the filesystem (default, URL ``file:``): ``DATA/blobs/<id[0:2]>/<id>``, written first to
  ``DATA/blobs/partial/<id>.tmp`` and committed with fsync, rename and fsync of the directories
  (POSIX.1-2017 ``fsync()`` and ``rename()``: rename is atomic, so a crash never leaves a half-written blob
  under its final name);
- an S3-compatible object store (URL ``s3://bucket/optional/prefix/``), written with the S3 multipart upload
  API (an object becomes visible whole at CompleteMultipartUpload, never half-written) and read with HTTP
  range requests (RFC 9110, section 14). Each part carries a CRC32 checksum (S3 "additional checksums"),
  checked by the store on arrival. boto3 is imported only when such a store is opened.

Layout, durability and operations: docs/evidence.md, section "Blob stores".
"""

from __future__ import annotations

import errno
import fcntl
import functools
import mmap
import os
import queue
import re
import secrets
import stat
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self
from urllib.parse import urlsplit

import structlog

from hanoinet.durable import fsync_folder
from hanoinet.errors import ConfigurationError, HanoinetError, NotFound, TransportError, ValidationError
from hanoinet.node.settings import is_loopback_host

log = structlog.get_logger("hanoinet.evidence")

BLOB_ID = re.compile(r"\A[0-9a-f]{32}\Z")
"""A blob identifier: 32 lowercase hex digits (``secrets.token_hex(16)``); anchored, so ``match`` is safe too."""

PART_SIZE = 8 << 20
"""Bytes per S3 multipart part (S3 needs at least 5 MiB); an S3 writer holds two, one filling and one on its way."""

_MAX_PARTS = 10_000  # S3's limit per multipart upload: blobs up to 10,000 parts of PART_SIZE (78.1 GiB)
_PARTIAL = "partial"
_PARTIAL_NAME = re.compile(r"\A[0-9a-f]{32}\.tmp\Z")
_FAN_OUT = re.compile(r"\A[0-9a-f]{2}\Z")
_HEX_PREFIX = re.compile(r"\A[0-9a-f]{0,32}\Z")
# AWS's bucket naming rules; its "safe characters" for object keys, for the prefix.
_BUCKET = re.compile(r"\A[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z")
_PREFIX = re.compile(r"\A[A-Za-z0-9!_.*'()/-]*\Z")
_SWEPT_HINT = ("the evidence sweeper removed it as idle for longer than evidence_sweep_age_seconds: set that above "
               "the longest pause of a write, and store the file again")
_URL_EXPECTED = ("expected 'file:' (the data directory's blobs/ folder) or 's3://BUCKET/optional/prefix/' "
                 "(an S3-compatible bucket)")


def _checked(blob_id: object) -> str:
    """``blob_id`` if it is a well-formed blob identifier; it is then safe to use in a path or an object key."""
    if not isinstance(blob_id, str) or not BLOB_ID.match(blob_id):
        shown = repr(blob_id)[:80]
        raise ValidationError(f"{shown} is not a blob identifier", code="invalid_blob_id",
                              hint="a blob identifier is 32 lowercase hexadecimal digits")
    return blob_id


def _checked_prefix(prefix: str) -> str:
    if not _HEX_PREFIX.match(prefix):
        raise ValidationError(f"{prefix[:40]!r} is not the beginning of a blob identifier", code="invalid_blob_id",
                              hint="give at most 32 lowercase hexadecimal digits")
    return prefix


@dataclass(frozen=True, slots=True)
class StoredBlob:
    """A blob, or an unfinished write of one, as a store lists it."""

    id: str
    size: int
    """Bytes it holds (an unfinished write: the bytes that reached the store)."""
    modified: datetime
    """When it was last written to: a committed blob's commit, an unfinished write's latest write."""


def _byte_range(blob_id: str, size: int, start: int, end: int | None, piece: int) -> tuple[int, int]:
    """``[start, end)`` within a blob of ``size`` bytes: ``end`` is clamped to the size, ``start`` is not."""
    if piece < 1:
        raise ValidationError(f"piece size {piece} must be at least 1 byte", code="invalid_range")
    if start < 0 or (end is not None and end < start):
        raise ValidationError(f"byte range [{start}, {end}) of blob {blob_id} is not a range",
                              code="invalid_range", hint="ask for 0 <= start <= end")
    if start > size:
        raise ValidationError(f"byte range [{start}, {end}) starts after the end of blob {blob_id} ({size} bytes)",
                              code="invalid_range", hint=f"start at most at byte {size}")
    return start, size if end is None else min(end, size)


#: A filesystem blob is written in pieces of this size, from page-aligned buffers (see ``_FileWriter``).
WRITE_BUFFER = (4 << 20) + (64 << 10)
#: Writes of one filesystem blob under way at once; its writer holds one buffer more, being filled.
WRITES_IN_FLIGHT = 4
#: Without direct I/O, a filesystem blob starts going to disk every this many bytes written.
WRITEBACK = 32 << 20
_ALIGN = 4096  # direct I/O needs offsets and lengths aligned to the logical block: 4 KiB suits every disk


class BlobWriter(ABC):
    """A new blob being written: ``write`` bytes, then ``commit`` to make it durable and visible, or ``abort``.

    As a context manager it aborts when the block raises, and never commits on its own: leaving the block
    without ``commit`` or ``abort`` discards the blob and raises ``RuntimeError``, so a forgotten commit is
    never mistaken for a stored blob. After ``commit``, ``abort`` does nothing.
    """

    def __init__(self, blob_id: str, describe: str) -> None:
        self.id = blob_id
        self.written = 0
        self._describe = describe
        self._state = "open"
        self._reserved: bytearray | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append ``data`` to the blob."""
        self._require_open("write")
        size = memoryview(data).nbytes  # bytes, whatever the items of a memoryview are
        with self._failing():
            self._flush_reserved()
            self._write(data)
        self.written += size

    def reserve(self, size: int) -> memoryview:
        """Append ``size`` bytes to the blob and return them, to be filled in place before the next call.

        The bytes are whatever the caller puts in the view before it next calls this writer; where the store
        can, the view is the very memory the store writes from, which saves a copy of the data.
        """
        self._require_open("write")
        if size < 0:
            raise ValidationError(f"cannot reserve {size} bytes of blob {self.id}: a size is at least 0")
        with self._failing():
            self._flush_reserved()
            view = self._reserve(size)
        self.written += size
        return view

    def commit(self) -> int:
        """Make the blob durable and visible under ``id``; returns its size in bytes."""
        if self._state == "committed":
            return self.written
        self._require_open("commit")
        with self._failing():
            self._flush_reserved()
            self._commit()
        self._state = "committed"
        return self.written

    def abort(self) -> None:
        """Discard what was written; nothing becomes visible. Does nothing once committed or aborted."""
        if self._state in {"committed", "aborted"}:
            return
        self._state = "aborted"
        self._abort()

    @contextmanager
    def _failing(self) -> Iterator[None]:
        """After a failed write or commit only ``abort`` is allowed: how much of the data was kept is unknown."""
        try:
            yield
        except BaseException:
            self._state = "failed"
            raise

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None:
            if self._state in {"open", "failed"}:
                self.abort()
                raise RuntimeError(f"blob {self.id} was neither committed nor aborted; it was discarded")
            return
        try:
            self.abort()
        except HanoinetError as problem:
            # The original exception matters more; the evidence sweeper removes a leftover partial.
            log.warning("blob abort failed", blob=self.id, store=self._describe, error=problem.message)

    def _require_open(self, action: str) -> None:
        if self._state != "open":
            raise RuntimeError(f"cannot {action} blob {self.id}: it is {self._state}")

    def _reserve(self, size: int) -> memoryview:
        """Room for ``size`` bytes, written at the next call (stores that can hand out their own memory do)."""
        self._reserved = bytearray(size)
        return memoryview(self._reserved)

    def _flush_reserved(self) -> None:
        if self._reserved is not None:
            reserved, self._reserved = self._reserved, None
            self._write(reserved)

    @abstractmethod
    def _write(self, data: bytes | bytearray | memoryview) -> None: ...

    @abstractmethod
    def _commit(self) -> None: ...

    @abstractmethod
    def _abort(self) -> None: ...


class BlobStore(Protocol):
    """Where blobs live. Every method validates blob identifiers before using them."""

    describe: str
    """Where the store is, for logs and errors: ``file:/path/blobs`` or ``s3://bucket/prefix/``."""

    def create(self) -> BlobWriter:
        """A writer for a new blob with a fresh random identifier."""
        ...

    def read(self, blob_id: str, start: int = 0, end: int | None = None, *, piece: int = 1 << 20) -> Iterator[bytes]:
        """Bytes ``[start, end)`` of a blob in pieces of at most ``piece`` bytes.

        ``end`` beyond the blob is clamped to its size; ``start`` beyond it is a ``ValidationError``. A
        missing blob raises ``NotFound`` when ``read`` is called, before the first piece.
        """
        ...

    def size(self, blob_id: str) -> int:
        """The blob's size in bytes; ``NotFound`` if there is no such committed blob."""
        ...

    def exists(self, blob_id: str) -> bool:
        """Whether a committed blob has this identifier."""
        ...

    def delete(self, blob_id: str) -> None:
        """Remove a blob; deleting one that does not exist is not an error."""
        ...

    def blobs(self, prefix: str = "") -> Iterator[StoredBlob]:
        """Every committed blob whose identifier starts with ``prefix`` (hex digits), in no particular order."""
        ...

    def sweep_partial(self, older_than: timedelta, *, now: datetime | None = None,
                      dry_run: bool = False) -> list[StoredBlob]:
        """Discard unfinished writes idle for longer than ``older_than`` (left by a crash); returns them.

        With ``dry_run`` nothing is discarded: the answer is what would be.
        """
        ...


# --- filesystem ------------------------------------------------------------------------------------------


class _FileStore:
    """Blobs as files under ``DATA/blobs`` (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.partial = root / _PARTIAL
        self.describe = f"file:{root}"
        with self._errors("create the blob folders", root):
            if not root.parent.is_dir():
                raise ConfigurationError(f"data directory {root.parent} does not exist",
                                         hint="create it with `hanoinet node init --data DIR`")
            for folder in (root, self.partial):
                folder.mkdir(mode=0o700, exist_ok=True)

    @contextmanager
    def _errors(self, action: str, path: Path) -> Iterator[None]:
        """Report a failing disk (full, read-only, wrong owner) as something an operator can fix."""
        try:
            yield
        except OSError as exc:
            raise ConfigurationError(f"could not {action} at {path}: {exc.strerror or exc}",
                                     hint=f"check that {self.root} is readable and writable by the node's "
                                          "account and that its disk has free space") from exc

    def _path(self, blob_id: str) -> Path:
        blob_id = _checked(blob_id)
        return self.root / blob_id[:2] / blob_id

    def create(self) -> BlobWriter:
        """A writer for a new blob with a fresh random identifier."""
        return _FileWriter(self, secrets.token_hex(16))

    def read(self, blob_id: str, start: int = 0, end: int | None = None, *, piece: int = 1 << 20) -> Iterator[bytes]:
        """Bytes ``[start, end)`` of a blob in pieces of at most ``piece`` bytes (see ``BlobStore.read``)."""
        start, end = _byte_range(blob_id, self.size(blob_id), start, end, piece)
        return self._pieces(blob_id, start, end, piece)

    def _pieces(self, blob_id: str, start: int, end: int, piece: int) -> Iterator[bytes]:
        path = self._path(blob_id)
        try:
            f = path.open("rb", buffering=0)
        except FileNotFoundError:
            raise NotFound(f"blob {blob_id} was deleted from {self.describe} while being read") from None
        with f, self._errors("read a blob", path):
            f.seek(start)
            while start < end:
                data = f.read(min(piece, end - start))
                if not data:
                    raise ConfigurationError(f"blob {blob_id} in {self.describe} ends at byte {start}, before {end}",
                                             hint="the file was truncated outside the node; restore it from backup")
                start += len(data)
                yield data

    def size(self, blob_id: str) -> int:
        """The blob's size in bytes; ``NotFound`` if there is no such committed blob."""
        path = self._path(blob_id)
        with self._errors("read a blob", path):
            try:
                return path.stat().st_size
            except FileNotFoundError:
                raise NotFound(f"no blob {blob_id} in {self.describe}") from None

    def exists(self, blob_id: str) -> bool:
        """Whether a committed blob has this identifier."""
        return self._path(blob_id).is_file()

    def delete(self, blob_id: str) -> None:
        """Remove a blob, durably; deleting one that does not exist is not an error."""
        path = self._path(blob_id)
        with self._errors("delete a blob", path):
            try:
                path.unlink()
            except FileNotFoundError:
                return
            fsync_folder(path.parent)

    def blobs(self, prefix: str = "") -> Iterator[StoredBlob]:
        """Every committed blob whose identifier starts with ``prefix``, fan-out folder by fan-out folder."""
        prefix = _checked_prefix(prefix)
        with self._errors("list blobs", self.root), os.scandir(self.root) as entries:
            folders = sorted(e.name for e in entries if _FAN_OUT.match(e.name) and e.name.startswith(prefix[:2]))
        for folder in folders:
            # Listed whole before yielding: the caller may delete blobs of this folder meanwhile.
            found = []
            with self._errors("list blobs", self.root / folder):
                try:
                    with os.scandir(self.root / folder) as entries:
                        for entry in entries:
                            if entry.name.startswith(folder) and entry.name.startswith(prefix) \
                                    and BLOB_ID.match(entry.name):
                                listed = _listed(entry)
                                if listed is not None:
                                    found.append(listed)
                except (FileNotFoundError, NotADirectoryError):
                    continue
            yield from found

    def sweep_partial(self, older_than: timedelta, *, now: datetime | None = None,
                      dry_run: bool = False) -> list[StoredBlob]:
        """Remove partial files not written to for longer than ``older_than``; returns them."""
        cutoff = (now or datetime.now(UTC)) - older_than
        removed = []
        with self._errors("sweep partial blobs", self.partial), os.scandir(self.partial) as entries:
            for entry in entries:
                if not _PARTIAL_NAME.match(entry.name):
                    continue
                listed = _listed(entry, entry.name.removesuffix(".tmp"))
                if listed is None or listed.modified >= cutoff:
                    continue
                if not dry_run:
                    try:
                        os.unlink(entry.path)
                    except FileNotFoundError:
                        continue  # committed or aborted meanwhile
                removed.append(listed)
        if removed and not dry_run:
            fsync_folder(self.partial)
            log.info("partial blobs swept", count=len(removed), bytes=sum(b.size for b in removed),
                     store=self.describe)
        return removed


def _listed(entry: os.DirEntry[str], blob_id: str | None = None) -> StoredBlob | None:
    """A regular file of the store as a listed blob; ``None`` if it is gone or is not a regular file."""
    try:
        info = entry.stat(follow_symlinks=False)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    return StoredBlob(blob_id or entry.name, info.st_size, datetime.fromtimestamp(info.st_mtime, UTC))


class _FileWriter(BlobWriter):
    """A filesystem blob, gathered into page-aligned buffers written by a few threads at their offsets.

    Where the filesystem allows it the file is opened for direct I/O (``O_DIRECT``): the disk reads the
    buffers themselves, so a blob costs no copy into the page cache and no writeback work, which on a
    virtual machine is most of the CPU that writing takes. Elsewhere (tmpfs before Linux 6.6, some network
    filesystems) the same writes go through the page cache, with a background ``fdatasync`` every
    ``WRITEBACK`` bytes so that the disk writes while more data arrives.
    """

    def __init__(self, store: _FileStore, blob_id: str) -> None:
        super().__init__(blob_id, store.describe)
        self._store = store
        self._tmp = store.partial / f"{blob_id}.tmp"
        self.direct = False
        """Whether the blob is written with direct I/O (it falls back to the page cache if refused)."""
        with store._errors("start a blob", self._tmp):
            # O_EXCL: never reuse or follow an existing name; 0o600 whatever the umask.
            self._fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            try:
                self.direct = _set_direct(self._fd, on=True)
            except OSError:
                os.close(self._fd)
                self._tmp.unlink(missing_ok=True)
                raise
        self._direct_lock = threading.Lock()
        self._buffers: list[mmap.mmap] = []
        self._free: queue.SimpleQueue[mmap.mmap] = queue.SimpleQueue()
        self._jobs: queue.SimpleQueue[tuple[mmap.mmap, int, int] | None] = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []
        self._error: BaseException | None = None
        self._buffer: mmap.mmap | None = None
        self._fill = 0
        self._offset = 0  # where the buffer being filled goes in the file
        self._unsynced = 0
        self._syncing: threading.Thread | None = None
        self._sync_error: OSError | None = None

    def _write(self, data: bytes | bytearray | memoryview) -> None:
        with memoryview(data) as whole, whole.cast("B") as view, self._store._errors("write a blob", self._tmp):
            self._raise_failure()
            done = 0
            while done < len(view):
                if self._buffer is None:
                    self._buffer = self._take_buffer()
                elif self._fill == WRITE_BUFFER:
                    self._rotate()
                n = min(len(view) - done, WRITE_BUFFER - self._fill)
                self._buffer[self._fill:self._fill + n] = view[done:done + n]
                self._fill += n
                done += n

    def _reserve(self, size: int) -> memoryview:
        if size > WRITE_BUFFER - _ALIGN:
            return super()._reserve(size)
        with self._store._errors("write a blob", self._tmp):
            self._raise_failure()
            if self._buffer is None:
                self._buffer = self._take_buffer()
            elif self._fill + size > WRITE_BUFFER:
                self._rotate()
        start = self._fill
        self._fill += size
        return memoryview(self._buffer)[start:start + size]

    def _rotate(self) -> None:
        """Send the filled buffer to be written, all but an unaligned tail, which starts the next buffer."""
        assert self._buffer is not None
        keep = self._fill % _ALIGN if self.direct else 0
        buffer, length = self._buffer, self._fill - keep
        self._buffer = self._take_buffer()
        self._buffer[:keep] = buffer[length:self._fill]
        self._fill = keep
        self._submit(buffer, length)

    def _raise_failure(self) -> None:
        """A writing thread's failure, raised in the thread that fills the buffers."""
        if self._error is not None:
            raise self._error

    def _take_buffer(self) -> mmap.mmap:
        self._raise_failure()
        if self._free.empty() and len(self._buffers) <= WRITES_IN_FLIGHT:
            # Anonymous mappings are page-aligned, as direct I/O needs, and are returned whole to the system.
            self._buffers.append(mmap.mmap(-1, WRITE_BUFFER))
            return self._buffers[-1]
        return self._free.get()

    def _submit(self, buffer: mmap.mmap, length: int) -> None:
        """Hand a buffer to the writing threads (started as needed), for the next ``length`` bytes of the file."""
        if len(self._workers) < WRITES_IN_FLIGHT:
            worker = threading.Thread(target=self._work, name=f"blob-write-{self.id[:8]}", daemon=True)
            worker.start()
            self._workers.append(worker)
        self._jobs.put((buffer, self._offset, length))
        self._offset += length
        if not self.direct:
            self._unsynced += length
            if self._unsynced >= WRITEBACK and (self._syncing is None or not self._syncing.is_alive()):
                self._unsynced = 0
                self._syncing = threading.Thread(target=self._sync, name=f"blob-sync-{self.id[:8]}", daemon=True)
                self._syncing.start()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            buffer, offset, length = job
            try:
                if self._error is None:
                    self._pwrite(buffer, offset, length)
            except BaseException as exc:  # raised by the next write, reservation or commit
                self._error = exc
            finally:
                self._free.put(buffer)

    def _pwrite(self, buffer: mmap.mmap, offset: int, length: int) -> None:
        with memoryview(buffer) as whole:
            done, retried = 0, False
            while done < length:
                try:
                    wrote = os.pwrite(self._fd, whole[done:length], offset + done)
                    if wrote == 0:
                        raise OSError(errno.EIO, f"the disk took none of {length - done} bytes at {offset + done}")
                    done += wrote
                except OSError as exc:
                    if exc.errno != errno.EINVAL or retried:
                        raise
                    # The device wants a larger alignment than 4 KiB: write through the page cache instead (once,
                    # whichever writing thread is refused first; the others retry as they are refused too).
                    retried = True
                    with self._direct_lock:
                        if self.direct:
                            self.direct = _set_direct(self._fd, on=False)

    def _sync(self) -> None:
        try:
            os.fdatasync(self._fd)
        except OSError as exc:  # raised by commit, which must not report a blob durable that may not be
            self._sync_error = exc

    def _stop(self) -> None:
        """Let the writing threads finish what they were given, and the background sync."""
        for _ in self._workers:
            self._jobs.put(None)
        for worker in self._workers:
            worker.join()
        self._workers.clear()
        if self._syncing is not None:
            self._syncing.join()

    def _release(self) -> None:
        """Close the file and free the buffers; only once (a failed commit has done it before abort)."""
        if self._fd < 0:
            return
        os.close(self._fd)
        self._fd = -1
        for buffer in self._buffers:
            # A view still held elsewhere (a traceback's frame, after a failure) keeps its buffer until collected.
            with suppress(BufferError):
                buffer.close()
        self._buffers.clear()

    def _commit(self) -> None:
        store = self._store
        final = store._path(self.id)
        with store._errors("commit a blob", self._tmp):
            try:
                self._stop()
                if self._fill and self._error is None:
                    assert self._buffer is not None
                    # Direct I/O writes whole blocks: the tail goes out padded, then the file is cut to size.
                    length = -(-self._fill // _ALIGN) * _ALIGN if self.direct else self._fill
                    self._buffer[self._fill:length] = bytes(length - self._fill)
                    self._pwrite(self._buffer, self._offset, length)
                    if length != self._fill:
                        os.ftruncate(self._fd, self._offset + self._fill)
                for problem in (self._error, self._sync_error):
                    if problem is not None:
                        raise problem
                os.fsync(self._fd)
            finally:
                self._release()
            new_folder = False
            try:
                final.parent.mkdir(mode=0o700)
                new_folder = True
            except FileExistsError:
                pass
            try:
                os.rename(self._tmp, final)
            except FileNotFoundError:
                raise ConfigurationError(f"partial blob {self._tmp} disappeared before commit",
                                         hint=_SWEPT_HINT) from None
            fsync_folder(final.parent)
            fsync_folder(store.partial)
            if new_folder:
                fsync_folder(store.root)

    def _abort(self) -> None:
        with self._store._errors("abort a blob", self._tmp):
            self._stop()
            self._release()
            self._tmp.unlink(missing_ok=True)


def _set_direct(fd: int, *, on: bool) -> bool:
    """Turn direct I/O on or off for ``fd``; whether it is on (filesystems without it refuse with EINVAL)."""
    direct = getattr(os, "O_DIRECT", 0)
    if not direct:
        return False
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | direct if on else flags & ~direct)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
        return False
    return on


# --- S3 ----------------------------------------------------------------------------------------------------


_SESSION_LOCK = threading.Lock()  # a boto3 session is not thread-safe; the clients it makes are


@functools.cache
def _boto3_session() -> Any:
    """One boto3 session for every S3 store: a new one reloads the service models (about 0.1 s each time)."""
    try:
        import boto3  # type: ignore[import-untyped]
    except ImportError:
        raise ConfigurationError("S3 blob stores need boto3, which is not installed",
                                 hint="install the node with its s3 extra: pip install 'hanoinet[s3]'") from None
    return boto3.session.Session()


class _S3Store:
    """Blobs as objects ``<prefix><id>`` in an S3-compatible bucket (see the module docstring)."""

    def __init__(self, bucket: str, prefix: str, *, endpoint_url: str | None, region: str | None) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.describe = f"s3://{bucket}/{prefix}" + (f" at {endpoint_url}" if endpoint_url else "")
        session = _boto3_session()
        from botocore.config import Config  # type: ignore[import-untyped]

        # Path-style addressing for endpoints other than AWS: S3-compatible servers rarely have wildcard DNS.
        config = Config(s3={"addressing_style": "path" if endpoint_url else "auto"}, retries={"mode": "standard"})
        with self._errors("open the store"), _SESSION_LOCK:
            try:
                self._client: Any = session.client("s3", endpoint_url=endpoint_url, region_name=region, config=config)
            except ValueError as exc:
                raise ConfigurationError(f"S3 client for {self.describe} refused its settings: {exc}",
                                         hint="check endpoint_url and region") from exc

    @contextmanager
    def _errors(self, action: str, blob_id: str | None = None) -> Iterator[None]:
        """Turn boto3's errors into ones that say which store, which blob and what to do."""
        from botocore.exceptions import (  # type: ignore[import-untyped]
            BotoCoreError,
            ClientError,
            NoCredentialsError,
            PartialCredentialsError,
        )

        what = f"{action} (blob {blob_id})" if blob_id else action
        try:
            yield
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in {"NoSuchKey", "NotFound", "404"}:
                raise NotFound(f"no blob {blob_id} in {self.describe}") from None
            if code == "NoSuchUpload":
                raise ConfigurationError(f"the upload of blob {blob_id} to {self.describe} was aborted before commit",
                                         hint=_SWEPT_HINT) from None
            if code == "NoSuchBucket":
                raise ConfigurationError(f"bucket {self.bucket} does not exist ({self.describe})",
                                         hint="create the bucket or correct the blob store URL") from exc
            if status == 403 or code in {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch",
                                         "ExpiredToken"}:
                raise ConfigurationError(f"{self.describe} refused to {what}: {code}",
                                         hint="check the AWS credentials the node runs with and the bucket's "
                                              "policy (the node needs s3:GetObject, PutObject, DeleteObject, "
                                              "ListBucket, ListBucketMultipartUploads, AbortMultipartUpload)"
                                         ) from exc
            raise TransportError(f"{self.describe} failed to {what}: {code} {error.get('Message', '')}".rstrip(),
                                 code="blob_store", hint="retry later; check the object store's health") from exc
        except (NoCredentialsError, PartialCredentialsError) as exc:
            raise ConfigurationError(f"no usable AWS credentials for {self.describe}: {exc}",
                                     hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or another source "
                                          "of boto3's credential chain (profile, instance role)") from exc
        except BotoCoreError as exc:
            raise TransportError(f"{self.describe} failed to {what}: {exc}", code="blob_store",
                                 hint="check endpoint_url and that the object store is reachable") from exc

    def key(self, blob_id: str) -> str:
        """The object key of a blob."""
        return self.prefix + _checked(blob_id)

    def create(self) -> BlobWriter:
        """A writer for a new blob with a fresh random identifier."""
        return _S3Writer(self, secrets.token_hex(16))

    def read(self, blob_id: str, start: int = 0, end: int | None = None, *, piece: int = 1 << 20) -> Iterator[bytes]:
        """Bytes ``[start, end)`` of a blob in pieces of at most ``piece`` bytes (see ``BlobStore.read``)."""
        start, end = _byte_range(blob_id, self.size(blob_id), start, end, piece)
        return self._pieces(blob_id, start, end, piece)

    def _pieces(self, blob_id: str, start: int, end: int, piece: int) -> Iterator[bytes]:
        if start == end:
            return  # S3 has no empty range: bytes=0-(-1) is not a range
        with self._errors("read", blob_id):
            answer = self._client.get_object(Bucket=self.bucket, Key=self.key(blob_id),
                                             Range=f"bytes={start}-{end - 1}")
        body = answer["Body"]
        try:
            # A server that ignores Range answers 200 with the whole object: never pass that off as the range.
            if answer.get("ContentRange", "").partition("/")[0] != f"bytes {start}-{end - 1}":
                raise TransportError(f"{self.describe} answered {answer.get('ContentRange')!r} to a request for "
                                     f"bytes {start}-{end - 1} of blob {blob_id}", code="blob_store",
                                     hint="the object store must support HTTP range requests")
            with self._errors("read", blob_id):
                yield from body.iter_chunks(piece)
        finally:
            body.close()

    def size(self, blob_id: str) -> int:
        """The blob's size in bytes; ``NotFound`` if there is no such committed blob."""
        with self._errors("read the size", blob_id):
            return int(self._client.head_object(Bucket=self.bucket, Key=self.key(blob_id))["ContentLength"])

    def exists(self, blob_id: str) -> bool:
        """Whether a committed blob has this identifier."""
        try:
            self.size(blob_id)
        except NotFound:
            return False
        return True

    def delete(self, blob_id: str) -> None:
        """Remove a blob; deleting one that does not exist is not an error."""
        with self._errors("delete", blob_id):
            self._client.delete_object(Bucket=self.bucket, Key=self.key(blob_id))

    def blobs(self, prefix: str = "") -> Iterator[StoredBlob]:
        """Every committed blob whose identifier starts with ``prefix``, page by page of the bucket's listing."""
        prefix = _checked_prefix(prefix)
        with self._errors("list blobs"):
            pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                           Prefix=self.prefix + prefix)
            for page in pages:
                for item in page.get("Contents", []):
                    blob_id = item["Key"][len(self.prefix):]
                    if BLOB_ID.match(blob_id):
                        yield StoredBlob(blob_id, int(item["Size"]), item["LastModified"])

    def sweep_partial(self, older_than: timedelta, *, now: datetime | None = None,
                      dry_run: bool = False) -> list[StoredBlob]:
        """Abort multipart uploads of blobs idle for longer than ``older_than``; returns them.

        Idle means neither started nor given a part since then, so a slow upload in progress is kept.
        """
        cutoff = (now or datetime.now(UTC)) - older_than
        aborted = []
        with self._errors("sweep partial blobs"):
            pages = self._client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket,
                                                                                  Prefix=self.prefix)
            for page in pages:
                for upload in page.get("Uploads", []):
                    key, upload_id = upload["Key"], upload["UploadId"]
                    blob_id = key[len(self.prefix):]
                    if not BLOB_ID.match(blob_id) or upload["Initiated"] >= cutoff:
                        continue
                    try:
                        latest, size = self._parts(key, upload_id)
                        if latest >= cutoff:
                            continue
                        if not dry_run:
                            self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
                    except self._client.exceptions.NoSuchUpload:
                        continue  # completed or aborted meanwhile
                    aborted.append(StoredBlob(blob_id, size, max(latest, upload["Initiated"])))
        if aborted and not dry_run:
            log.info("partial blobs swept", count=len(aborted), bytes=sum(b.size for b in aborted),
                     store=self.describe)
        return aborted

    def _parts(self, key: str, upload_id: str) -> tuple[datetime, int]:
        """When the upload's latest part arrived (or the dawn of time), and the bytes of its parts."""
        latest, size = datetime.min.replace(tzinfo=UTC), 0
        pages = self._client.get_paginator("list_parts").paginate(Bucket=self.bucket, Key=key, UploadId=upload_id)
        for page in pages:
            for part in page.get("Parts", []):
                latest = max(latest, part["LastModified"])
                size += int(part.get("Size", 0))
        return latest, size


class _S3Writer(BlobWriter):
    """Holds two parts at most: one being filled while the one before is sent on a background thread, so that
    what produces the data (ingest's encryption) and the upload overlap. A part is sent only once a byte beyond
    it arrives, so a blob of at most one part is a single PutObject at commit and a multipart upload never ends
    with an empty part."""

    def __init__(self, store: _S3Store, blob_id: str) -> None:
        super().__init__(blob_id, store.describe)
        self._store = store
        self._key = store.key(blob_id)
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._sending: threading.Thread | None = None
        self._send_error: BaseException | None = None

    def _write(self, data: bytes | bytearray | memoryview) -> None:
        if self._send_error is not None:
            raise self._send_error
        view = memoryview(data).cast("B")
        while view:
            if len(self._buffer) == PART_SIZE:
                self._send_in_background()
            take = PART_SIZE - len(self._buffer)
            self._buffer += view[:take]
            view = view[take:]

    def _next_part(self) -> int:
        number = len(self._parts) + 1
        if number > _MAX_PARTS:
            raise ValidationError(f"blob {self.id} exceeds {_MAX_PARTS} parts of {PART_SIZE} bytes, the most an S3 "
                                  f"multipart upload holds", code="blob_too_large",
                                  hint="store evidence this large in a filesystem blob store, or split it")
        return number

    def _send_in_background(self) -> None:
        """Send the full buffer while the next one fills; a failure of the part before is raised here."""
        self._wait_for_send()
        part, number, self._buffer = bytes(self._buffer), self._next_part(), bytearray()
        self._sending = threading.Thread(target=self._send_safely, args=(part, number),
                                         name=f"blob-upload-{self.id[:8]}", daemon=True)
        self._sending.start()

    def _send_safely(self, part: bytes, number: int) -> None:
        try:
            self._send(part, number)
        except BaseException as exc:  # raised by the next write or by commit
            self._send_error = exc

    def _wait_for_send(self) -> None:
        if self._sending is not None:
            self._sending.join()
            self._sending = None
        if self._send_error is not None:
            raise self._send_error

    def _send(self, part: bytes, number: int) -> None:
        store = self._store
        with store._errors("upload a part", self.id):
            if self._upload_id is None:
                self._upload_id = str(store._client.create_multipart_upload(
                    Bucket=store.bucket, Key=self._key, ChecksumAlgorithm="CRC32")["UploadId"])
            answer = store._client.upload_part(Bucket=store.bucket, Key=self._key, UploadId=self._upload_id,
                                               PartNumber=number, Body=part, ChecksumAlgorithm="CRC32")
        sent = {"PartNumber": number, "ETag": answer["ETag"]}
        if "ChecksumCRC32" in answer:
            sent["ChecksumCRC32"] = answer["ChecksumCRC32"]
        self._parts.append(sent)

    def _commit(self) -> None:
        store = self._store
        self._wait_for_send()
        if self._upload_id is None:
            with store._errors("store", self.id):
                store._client.put_object(Bucket=store.bucket, Key=self._key, Body=bytes(self._buffer),
                                         ChecksumAlgorithm="CRC32")
        else:
            self._send(bytes(self._buffer), self._next_part())
            with store._errors("complete the upload", self.id):
                store._client.complete_multipart_upload(Bucket=store.bucket, Key=self._key, UploadId=self._upload_id,
                                                        MultipartUpload={"Parts": self._parts})
        self._buffer = bytearray()

    def _abort(self) -> None:
        self._buffer = bytearray()
        if self._sending is not None:
            self._sending.join()  # its failure, if any, no longer matters: everything is discarded
            self._sending = None
        if self._upload_id is None:
            return
        store = self._store
        with store._errors("abort the upload", self.id), suppress(store._client.exceptions.NoSuchUpload):
            store._client.abort_multipart_upload(Bucket=store.bucket, Key=self._key, UploadId=self._upload_id)


# --- configuration -----------------------------------------------------------------------------------------


def _segments(path: str) -> list[str]:
    inner = path.strip("/")
    return inner.split("/") if inner else []


def open_store(url: str, data_dir: Path, *, endpoint_url: str | None = None, region: str | None = None) -> BlobStore:
    """The blob store named by ``url``: ``file:`` for ``data_dir/blobs`` or ``s3://bucket/optional/prefix/``.

    ``endpoint_url`` (https, or http on loopback) and ``region`` apply to S3 only; credentials come from
    boto3's usual chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, a profile, an instance role).
    """
    if url == "file:":
        if endpoint_url or region:
            raise ConfigurationError("endpoint_url and region apply only to an s3:// blob store, not 'file:'",
                                     hint="remove them, or use an s3:// URL")
        return _FileStore(data_dir / "blobs")
    parts = urlsplit(url)
    problem = ""
    if parts.scheme != "s3":
        problem = "unknown scheme"
    elif parts.query or parts.fragment or "@" in parts.netloc or ":" in parts.netloc:
        problem = "an s3:// URL has no user, port, query or fragment"
    elif not _BUCKET.match(parts.netloc) or ".." in parts.netloc:
        problem = "the bucket name must be 3 to 63 lowercase letters, digits, dots and hyphens"
    elif not _PREFIX.match(parts.path) or {"", ".", ".."} & set(_segments(parts.path)):
        problem = "the prefix may hold only letters, digits, '/' and !_.*'()- with no empty, '.' or '..' segment"
    if problem:
        raise ConfigurationError(f"blob store URL {url!r} is malformed: {problem}; {_URL_EXPECTED}",
                                 code="blob_store_url", hint="correct the blob store URL in hanoinet.toml")
    prefix = parts.path.lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    if endpoint_url is not None:
        endpoint = urlsplit(endpoint_url)
        if not endpoint.hostname or not (
                endpoint.scheme == "https" or (endpoint.scheme == "http" and is_loopback_host(endpoint.hostname))):
            raise ConfigurationError(f"blob store endpoint_url {endpoint_url!r} must be an https:// URL "
                                     "(http:// only on a loopback host)", code="blob_store_url",
                                     hint="e.g. https://minio.example.org:9000")
    return _S3Store(parts.netloc, prefix, endpoint_url=endpoint_url, region=region)
