"""Reading an evidence package: every member hashed, its layout checked, its metadata kept.

This is most of the work of verifying a large package, and it needs nothing but the standard library and the
ZIP reader, so it can begin before the rest of the verifier is loaded: :class:`Reading` reads a package file
in a child process while the caller imports what checks signatures and custody (``hanoinet verify``,
docs/evidence.md, "Performance").
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import marshal
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from hanoinet.evidence.canonzip import ZipLayoutError, read_canonical
from hanoinet.evidence.layout import HEAD, MEDIA_TYPE, SIGNATURE

#: Metadata members are read whole; anything larger than this is not a package this software wrote.
MAX_METADATA = 64 << 20


@dataclass(frozen=True, slots=True)
class Member:
    """One member of a package: its name, size and SHA-256, and its bytes if it is metadata."""

    name: str
    size: int
    sha256: str
    data: bytes | None  # metadata members only


class Refused(Exception):
    """A structural problem that stops verification (reported as a failed check)."""


def read_members(source: BinaryIO) -> list[Member]:
    """Every member of the package in ``source``, in order, each hashed as it is read.

    Raises canonzip.ZipLayoutError for a ZIP that is not canonical, :class:`Refused` for members out of the
    package layout.
    """
    members: list[Member] = []
    signed = False
    # Iterated to the end: the reader checks the central directory and end records only then.
    for position, (member_name, size, chunks) in enumerate(read_canonical(source)):
        if signed:
            raise Refused(f"member {member_name!r} follows {SIGNATURE}, which must be the last member")
        expected = _expected_name(position, member_name)
        if expected is not None and member_name != expected:
            raise Refused(f"member {position + 1} is {member_name!r}; the layout requires {expected!r} there")
        metadata = not member_name.startswith("files/")
        if metadata and size > MAX_METADATA:
            raise Refused(f"member {member_name!r} is {size} bytes; metadata members are at most {MAX_METADATA}")
        digest = hashlib.sha256()
        kept = bytearray() if metadata else None
        for chunk in chunks:
            digest.update(chunk)
            if kept is not None:
                kept += chunk
        if position == 0 and bytes(kept or b"") != MEDIA_TYPE.encode("ascii"):
            raise Refused(f"the mimetype member is not {MEDIA_TYPE!r}: this is not an evidence package")
        members.append(Member(member_name, size, digest.hexdigest(), bytes(kept) if kept is not None else None))
        signed = member_name == SIGNATURE
    if not signed:
        raise Refused(f"the package ends without {SIGNATURE}")
    return members


def _expected_name(position: int, name: str) -> str | None:
    if position < len(HEAD):
        return HEAD[position]
    if name.startswith("files/") or name == SIGNATURE:
        return None
    return "files/NNNN/<name> or signature.jws"


class Reading:
    """A package file being read by :func:`read_members` from the moment this is made, beside the caller.

    Where the system can fork, the reading runs in a child process: a thread would share the interpreter lock
    with the caller, who is meanwhile importing the rest of the verifier, and neither would get far. The child
    is forked before any other thread exists, sends back the members (names, sizes, digests and metadata: a
    few kilobytes) and exits. It never outlives the caller: it is killed when the caller stops waiting for it
    (:meth:`close`, an interrupt) and dies with it if the caller is killed. Elsewhere, or when a process cannot
    be made, a thread does the reading.
    """

    def __init__(self, path: Path, *, child_process: bool | None = None) -> None:
        self._path = path
        self._members: list[Member] | None = None
        self._error: BaseException | None = None
        self._child = 0
        self._thread: threading.Thread | None = None
        if child_process if child_process is not None else hasattr(os, "fork"):
            try:
                self._start_child()
                return
            except OSError:  # no process or pipe to spare (limits reached): a thread reads instead
                pass
        self._thread = threading.Thread(target=self._read, name="package-reader", daemon=True)
        self._thread.start()

    def result(self) -> list[Member]:
        """The members, once read; raises what reading raised (OSError for a file that cannot be read)."""
        if self._child:
            self._collect_child()
        elif self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._members is not None
        return self._members

    def close(self) -> None:
        """Stop the reading child, if it is still at work (the caller leaves without the result)."""
        if self._child:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._child, signal.SIGKILL)
            os.waitpid(self._child, 0)
            self._child = 0
            self._pipe.close()
            atexit.unregister(self.close)

    def _read(self) -> None:
        try:
            with self._path.open("rb") as source:
                self._members = read_members(source)
        except BaseException as exc:  # handed to the caller of result(), who reports it
            self._error = exc

    def _start_child(self) -> None:
        readable, writable = os.pipe()
        parent = os.getpid()
        try:
            pid = os.fork()
        except OSError:
            os.close(readable)
            os.close(writable)
            raise
        if pid == 0:  # the child: read, send one answer, leave without running any of the parent's exit code
            status = 1
            try:
                os.close(readable)
                _stay_with(parent)
                self._read()
                with os.fdopen(writable, "wb") as pipe:
                    marshal.dump(_answer(self._members, self._error), pipe)
                status = 0
            finally:
                os._exit(status)
        os.close(writable)
        self._child = pid
        self._pipe = os.fdopen(readable, "rb")
        atexit.register(self.close)

    def _collect_child(self) -> None:
        try:
            answer = marshal.load(self._pipe)  # noqa: S302 - our own child's answer, through a private pipe
        except (EOFError, ValueError, TypeError) as exc:
            self.close()
            self._error = RuntimeError(f"the process reading the package stopped without an answer ({exc})")
            return
        except BaseException:  # interrupted while waiting: the child must not read on alone
            self.close()
            raise
        self._pipe.close()
        os.waitpid(self._child, 0)
        self._child = 0
        atexit.unregister(self.close)
        kind, value = answer
        if kind == "members":
            self._members = [Member(*fields) for fields in value]
        elif kind == "oserror":
            self._error = OSError(value[0], value[1], value[2])
        elif kind == "layout":
            self._error = ZipLayoutError(value[0], hint=value[1])
        elif kind == "refused":
            self._error = Refused(value)
        else:
            self._error = RuntimeError(value)


def _stay_with(parent: int) -> None:
    """In the reading child: die with the parent, leave its terminal and output alone, ignore nothing.

    The child must not keep reading a seized disk, or hold the caller's output pipe open, once the command is
    gone: on Linux the kernel kills it when the parent dies; elsewhere a thread watches for the parent.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # Python's handler would turn Ctrl-C into an exception here
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    if sys.platform == "linux":
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    else:
        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(0.2)
            os._exit(1)

        threading.Thread(target=watch, name="parent-watch", daemon=True).start()
    if os.getppid() != parent:  # the parent died before the kernel was told to follow it
        os._exit(1)


def _answer(members: list[Member] | None, error: BaseException | None) -> tuple[str, Any]:
    """What the child sends: plain values only (marshal carries nothing else)."""
    if isinstance(error, OSError):
        return "oserror", (error.errno, error.strerror, error.filename)
    if isinstance(error, ZipLayoutError):
        return "layout", (error.message, error.hint)
    if isinstance(error, Refused):
        return "refused", str(error)
    if error is not None:
        return "internal", f"{type(error).__name__}: {error}"
    assert members is not None
    return "members", [(m.name, m.size, m.sha256, m.data) for m in members]
