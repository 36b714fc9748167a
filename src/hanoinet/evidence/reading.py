"""Reading an evidence package: every member hashed, its layout checked, its metadata kept.

This is most of the work of verifying a large package, and it needs nothing but the standard library and the
ZIP reader, so it can begin before the rest of the verifier is loaded: :class:`Reading` reads a package file
in a child process while the caller imports what checks signatures and custody (``hanoinet verify``,
docs/evidence.md, "Performance").
"""

from __future__ import annotations

import atexit
import hashlib
import os
import pickle
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

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
    few kilobytes) and exits; it is stopped if the caller leaves first. Elsewhere a thread does the reading.
    """

    def __init__(self, path: Path, *, child_process: bool | None = None) -> None:
        self._path = path
        self._members: list[Member] | None = None
        self._error: BaseException | None = None
        self._child = 0
        if child_process if child_process is not None else hasattr(os, "fork"):
            self._start_child()
        else:
            self._thread = threading.Thread(target=self._read, name="package-reader", daemon=True)
            self._thread.start()

    def result(self) -> list[Member]:
        """The members, once read; raises what reading raised (OSError for a file that cannot be read)."""
        if self._child:
            self._collect_child()
        else:
            self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._members is not None
        return self._members

    def _read(self) -> None:
        try:
            with self._path.open("rb") as source:
                self._members = read_members(source)
        except BaseException as exc:  # handed to the caller of result(), who reports it
            self._error = exc

    def _start_child(self) -> None:
        readable, writable = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: read, send one pickled answer, leave without running the parent's exit code
            status = 0
            try:
                os.close(readable)
                self._read()
                with os.fdopen(writable, "wb") as pipe:
                    pickle.dump(_answer(self._members, self._error), pipe, protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException:
                status = 1
            finally:
                os._exit(status)
        os.close(writable)
        self._child = pid
        self._pipe = os.fdopen(readable, "rb")
        atexit.register(self.close)

    def _collect_child(self) -> None:
        try:
            with self._pipe:
                answer = self._pipe.read()
        finally:
            os.waitpid(self._child, 0)
            self._child = 0
            atexit.unregister(self.close)
        try:
            kind, value = pickle.loads(answer)  # noqa: S301 - our own child's answer, through a private pipe
        except (pickle.UnpicklingError, EOFError, ValueError) as exc:
            self._error = RuntimeError(f"the process reading the package stopped without an answer ({exc})")
            return
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

    def close(self) -> None:
        """Stop the reading child, if it is still at work (the caller leaves without the result)."""
        if self._child:
            os.kill(self._child, signal.SIGKILL)
            os.waitpid(self._child, 0)
            self._child = 0


def _answer(members: list[Member] | None, error: BaseException | None) -> tuple[str, object]:
    """What the child sends: plain values only, so that nothing but builtins is unpickled."""
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
