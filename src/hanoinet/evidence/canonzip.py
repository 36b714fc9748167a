"""Canonical ZIP archives: one byte layout for a given list of member names and contents, written and checked
while streaming.

The container is a ZIP file as specified by PKWARE's APPNOTE.TXT 6.3.10 (sections 4.3 and 4.4: local file
header, central directory header, end of central directory record; 4.3.14, 4.3.15 and 4.5.3: the ZIP64 end of
central directory record, its locator and the ZIP64 extended information extra field). Canonical archives use
a fixed subset of it, specified field by field in docs/evidence.md, section "Canonical ZIP layout": members
stored (method 0) in the order given, UTF-8 names (flag bit 11), fixed 1980-01-01 timestamps, UNIX regular
file attributes 0o100644, no data descriptors, no comments, and ZIP64 structures exactly where a size, offset
or count reaches the limit of its 32- or 16-bit field.

:class:`CanonicalZipWriter` writes such an archive; :func:`read_canonical` streams the members of one back and
refuses any archive that differs in a single byte from what the writer produces for the same members, so a
verifier never has to reason about the many other ways of encoding the same files in a ZIP.

Throughput: the writer computes CRC-32 and writes on a worker thread while the calling thread computes SHA-256;
the reader reads ahead and computes CRC-32 on a worker thread while the caller hashes the piece it was given.
Both overlap because ``crc32``, ``hashlib`` and file I/O release the GIL on large buffers. CRC-32 is zlib-ng's
(SIMD, three times zlib's speed here): it is a third of the work of reading a package.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import struct
import unicodedata
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO, NamedTuple

from zlib_ng.zlib_ng import crc32

from hanoinet.errors import ValidationError

_LOCAL_SIG = 0x04034B50
_CENTRAL_SIG = 0x02014B50
_ZIP64_END_SIG = 0x06064B50
_ZIP64_LOCATOR_SIG = 0x07064B50
_END_SIG = 0x06054B50

#: General purpose bit 11: names are UTF-8 (APPNOTE 4.4.4, appendix D). No other flag is ever set.
_FLAGS = 0x0800
_STORED = 0
#: MS-DOS time and date of 1980-01-01 00:00:00, the earliest the format can express.
_DOS_TIME = 0x0000
_DOS_DATE = 0x0021
_VERSION = 20
#: "4.5 - File uses ZIP64 format extensions" (APPNOTE 4.4.3.2).
_VERSION_ZIP64 = 45
#: Upper byte 3: UNIX, so that the external attributes are read as a UNIX mode; lower byte 30: version 3.0.
_MADE_BY = 0x031E
#: Regular file, rw-r--r--: no symbolic links, directories, devices or executables.
_EXTERNAL_ATTR = 0o100644 << 16
_ZIP64_EXTRA_ID = 0x0001
#: A 32-bit size or offset field holding this value means "see the ZIP64 structures" (APPNOTE 4.4.1.4).
_SENTINEL32 = 0xFFFFFFFF
_SENTINEL16 = 0xFFFF
#: Sizes and offsets at or above this value move to ZIP64 fields. Always the sentinel itself, as a value equal
#: to the sentinel cannot be stored in the 32-bit field; a module constant so that tests can lower it.
_ZIP64_LIMIT = _SENTINEL32
#: Member counts at or above this value move to the ZIP64 end of central directory record.
_COUNT_LIMIT = _SENTINEL16
_MAX_SIZE = 2**64 - 1
_MAX_NAME_BYTES = 255

_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_ZIP64_END = struct.Struct("<IQHHIIQQQQ")
_ZIP64_LOCATOR = struct.Struct("<IIQI")
_END = struct.Struct("<IHHHHIIH")
_EXTRA_HEADER = struct.Struct("<HH")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_CRC_OFFSET = 14

#: Data is handed to the worker thread in blocks of at least this size: smaller hand-offs cost more in thread
#: switches than they gain.
_BLOCK = 1 << 20
#: Blocks queued for the worker at once: enough to keep both threads busy, few enough to bound memory.
_DEPTH = 2

# Field layouts, (offset, width, label), used only to say which field of a record differs.
_Fields = tuple[tuple[int, int, str], ...]
_LOCAL_FIELDS: _Fields = (
    (0, 4, "signature"),
    (4, 2, "version needed to extract"),
    (6, 2, "general purpose bit flag"),
    (8, 2, "compression method"),
    (10, 2, "last mod file time"),
    (12, 2, "last mod file date"),
    (14, 4, "CRC-32"),
    (18, 4, "compressed size"),
    (22, 4, "uncompressed size"),
    (26, 2, "file name length"),
    (28, 2, "extra field length"),
    (30, 0, "file name"),
)
_CENTRAL_FIELDS: _Fields = (
    (0, 4, "signature"),
    (4, 2, "version made by"),
    (6, 2, "version needed to extract"),
    (8, 2, "general purpose bit flag"),
    (10, 2, "compression method"),
    (12, 2, "last mod file time"),
    (14, 2, "last mod file date"),
    (16, 4, "CRC-32"),
    (20, 4, "compressed size"),
    (24, 4, "uncompressed size"),
    (28, 2, "file name length"),
    (30, 2, "extra field length"),
    (32, 2, "file comment length"),
    (34, 2, "disk number start"),
    (36, 2, "internal file attributes"),
    (38, 4, "external file attributes"),
    (42, 4, "relative offset of local header"),
    (46, 0, "file name"),
)
_ZIP64_END_FIELDS: _Fields = (
    (0, 4, "signature"),
    (4, 8, "size of zip64 end of central directory record"),
    (12, 2, "version made by"),
    (14, 2, "version needed to extract"),
    (16, 4, "number of this disk"),
    (20, 4, "number of the disk with the start of the central directory"),
    (24, 8, "total number of entries in the central directory on this disk"),
    (32, 8, "total number of entries in the central directory"),
    (40, 8, "size of the central directory"),
    (48, 8, "offset of start of central directory"),
)
_ZIP64_LOCATOR_FIELDS: _Fields = (
    (0, 4, "signature"),
    (4, 4, "number of the disk with the start of the zip64 end of central directory"),
    (8, 8, "relative offset of the zip64 end of central directory record"),
    (16, 4, "total number of disks"),
)
_END_FIELDS: _Fields = (
    (0, 4, "signature"),
    (4, 2, "number of this disk"),
    (6, 2, "number of the disk with the start of the central directory"),
    (8, 2, "total number of entries in the central directory on this disk"),
    (10, 2, "total number of entries in the central directory"),
    (12, 4, "size of the central directory"),
    (16, 4, "offset of start of central directory"),
    (20, 2, ".ZIP file comment length"),
)
_NOTES = {
    "general purpose bit flag": "only bit 11 (UTF-8 names) is allowed: no data descriptor, encryption or patch flags",
    "compression method": "members are stored (method 0), never compressed",
    "external file attributes": "every member is a regular file with mode 0o100644: no symbolic links or directories",
    "last mod file time": "timestamps are fixed at 1980-01-01 00:00",
    "last mod file date": "timestamps are fixed at 1980-01-01 00:00",
    "extra field": "the only extra field allowed is the ZIP64 one, and only where a value needs it",
    "extra field length": "the only extra field allowed is the ZIP64 one, and only where a value needs it",
}
_HINT_ARCHIVE = (
    "The archive is not in the canonical layout: it was altered, damaged in transfer, or written by another "
    "tool. Obtain the package again from its sender; do not repair it."
)
_HINT_NAME = "Member names are relative UTF-8 (NFC) paths of 1 to 255 bytes; see docs/evidence.md."

# C0 and C1 controls (Unicode category Cc, a set fixed across Unicode versions), backslash and colon.
_BAD_CHAR = re.compile(r"[\x00-\x1f\x7f-\x9f\\:]")


class ZipLayoutError(ValidationError):
    """An archive departs from the canonical ZIP layout, or a member given to the writer cannot be stored in it.

    The message says what differs and where: byte offset, record and member name.
    """

    code = "zip_layout"


@dataclass(frozen=True)
class Member:
    """A member as written: its name, size in bytes, CRC-32, SHA-256, and the byte offset of its local header."""

    name: str
    size: int
    crc32: int
    sha256: bytes
    offset: int


class _Entry(NamedTuple):
    raw: bytes
    size: int
    crc: int
    offset: int


# --- names ---------------------------------------------------------------------------------------------------


def name_problem(name: str) -> str | None:
    """Why ``name`` may not be a member name, or None."""
    if not unicodedata.is_normalized("NFC", name):
        return "is not in Unicode normalization form NFC"
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return "contains a lone surrogate, which has no UTF-8 encoding"
    if not 1 <= size <= _MAX_NAME_BYTES:
        return f"is {size} bytes long in UTF-8; names have 1 to {_MAX_NAME_BYTES}"
    bad = _BAD_CHAR.search(name)
    if bad is not None:
        return f"contains {bad.group()!r} at character {bad.start()}: no control characters, '\\' or ':'"
    if name.startswith("/"):
        return "is absolute (starts with '/')"
    if name.endswith("/"):
        return "ends with '/' (directory entries are not allowed)"
    for part in name.split("/"):
        if part in ("", ".", ".."):
            return f"has a {part!r} path component" if part else "has an empty path component ('//')"
    return None


class _Names:
    """Names seen so far: refuses duplicates and a name that is also a directory of another name."""

    def __init__(self) -> None:
        self._files: set[str] = set()
        self._dirs: set[str] = set()

    def problem(self, name: str) -> str | None:
        if name in self._files:
            return "is a duplicate of an earlier member"
        if name in self._dirs:
            return "is a directory of an earlier member"
        for directory in _directories(name):
            if directory in self._files:
                return f"lies under the earlier member {directory!r}, which is a file"
        return None

    def add(self, name: str) -> None:
        self._files.add(name)
        self._dirs.update(_directories(name))


def _directories(name: str) -> Iterator[str]:
    at = name.find("/")
    while at != -1:
        yield name[:at]
        at = name.find("/", at + 1)


# --- records -------------------------------------------------------------------------------------------------


def _zip64_extra(values: list[int]) -> bytes:
    if not values:
        return b""
    return _EXTRA_HEADER.pack(_ZIP64_EXTRA_ID, 8 * len(values)) + b"".join(_U64.pack(v) for v in values)


def _is_zip64(size: int, offset: int) -> bool:
    """Whether a member's sizes are in ZIP64 fields, in both of its headers.

    Also when only the offset is large: UnZip 6.0 keeps the size fields of the previous local header when it
    parses a ZIP64 field, so a central ZIP64 field holding only an offset is misread after a member of
    exactly 0xFFFFFFFF bytes. With the sizes always present, every reader parses the field the same way.
    """
    return size >= _ZIP64_LIMIT or offset >= _ZIP64_LIMIT


def _local_header(raw: bytes, size: int, crc: int, offset: int) -> bytes:
    # A local ZIP64 field has no offset, but it must hold both sizes (APPNOTE 4.5.3).
    zip64 = _is_zip64(size, offset)
    field = _SENTINEL32 if zip64 else size
    extra = _zip64_extra([size, size] if zip64 else [])
    fixed = _LOCAL.pack(
        _LOCAL_SIG, _VERSION_ZIP64 if zip64 else _VERSION, _FLAGS, _STORED, _DOS_TIME, _DOS_DATE, crc,
        field, field, len(raw), len(extra),
    )  # fmt: skip
    return fixed + raw + extra


def _central_header(entry: _Entry) -> bytes:
    raw, size, crc, offset = entry
    zip64 = _is_zip64(size, offset)
    far = offset >= _ZIP64_LIMIT
    field = _SENTINEL32 if zip64 else size
    extra = _zip64_extra(([size, size] if zip64 else []) + ([offset] if far else []))
    fixed = _CENTRAL.pack(
        _CENTRAL_SIG, _MADE_BY, _VERSION_ZIP64 if zip64 else _VERSION, _FLAGS, _STORED, _DOS_TIME, _DOS_DATE,
        crc, field, field, len(raw), len(extra), 0, 0, 0, _EXTERNAL_ATTR, _SENTINEL32 if far else offset,
    )  # fmt: skip
    return fixed + raw + extra


def _trailer(entries: Iterable[_Entry], cd_offset: int) -> Iterator[tuple[str, _Fields, bytes]]:
    """The records after the last member's data, in file order: (description, field layout, bytes)."""
    count = 0
    cd_size = 0
    for entry in entries:
        record = _central_header(entry)
        count += 1
        cd_size += len(record)
        fields = (*_CENTRAL_FIELDS, (46 + len(entry.raw), 0, "extra field"))
        yield f"central directory header of member {_show(entry.raw)}", fields, record
    if count >= _COUNT_LIMIT or cd_size >= _ZIP64_LIMIT or cd_offset >= _ZIP64_LIMIT:
        zip64_end = _ZIP64_END.pack(
            _ZIP64_END_SIG, _ZIP64_END.size - 12, _MADE_BY, _VERSION_ZIP64, 0, 0, count, count, cd_size, cd_offset
        )
        yield "zip64 end of central directory record", _ZIP64_END_FIELDS, zip64_end
        locator = _ZIP64_LOCATOR.pack(_ZIP64_LOCATOR_SIG, 0, cd_offset + cd_size, 1)
        yield "zip64 end of central directory locator", _ZIP64_LOCATOR_FIELDS, locator
    end = _END.pack(
        _END_SIG, 0, 0,
        _SENTINEL16 if count >= _COUNT_LIMIT else count, _SENTINEL16 if count >= _COUNT_LIMIT else count,
        _SENTINEL32 if cd_size >= _ZIP64_LIMIT else cd_size, _SENTINEL32 if cd_offset >= _ZIP64_LIMIT else cd_offset,
        0,
    )  # fmt: skip
    yield "end of central directory record", _END_FIELDS, end


def _show(raw: bytes) -> str:
    return repr(raw.decode("utf-8", "backslashreplace"))


def _truncated(what: str, at: int, end: int) -> ZipLayoutError:
    return ZipLayoutError(
        f"the file ends at byte {end}, inside the {what} starting at byte {at}: it is truncated", hint=_HINT_ARCHIVE
    )


def _mismatch(what: str, at: int, fields: _Fields, expected: bytes, found: bytes) -> ZipLayoutError:
    """The error for a record at byte ``at`` that is ``found`` where the canonical layout has ``expected``."""
    index = next((i for i, (x, y) in enumerate(zip(expected, found, strict=False)) if x != y), len(found))
    if index >= len(found):
        return _truncated(what, at, at + len(found))
    start, width, label = next(f for f in reversed(fields) if f[0] <= index)
    if width and start + width <= min(len(expected), len(found)):
        exp = int.from_bytes(expected[start : start + width], "little")
        got = int.from_bytes(found[start : start + width], "little")
        detail = f"is {got:#x} where the canonical layout has {exp:#x}"
    else:
        start = index
        detail = f"has byte {found[index]:#04x} where the canonical layout has {expected[index]:#04x}"
    note = _NOTES.get(label)
    return ZipLayoutError(
        f"{what} at byte {at}: the {label} at byte {at + start} {detail}" + (f" ({note})" if note else ""),
        hint=_HINT_ARCHIVE,
    )


# --- writer --------------------------------------------------------------------------------------------------


class CanonicalZipWriter:
    """Writes a canonical ZIP archive to ``out``, a seekable binary file opened for writing at position 0.

    Members are written in the order of the :meth:`add` calls; :meth:`close` writes the central directory and
    end records. A failed :meth:`add` (bad name, wrong size, an error from the data source) removes what it
    wrote, so the archive can still be completed with other members.
    """

    def __init__(self, out: BinaryIO) -> None:
        """Start an archive at the current position of ``out``, which must be 0."""
        if out.tell() != 0:
            raise ValueError("a canonical ZIP archive starts at byte 0 of its file; the output is not at position 0")
        self._out = out
        self._offset = 0
        self._names = _Names()
        self._entries: list[_Entry] = []
        self._members: list[Member] = []
        self._executor: ThreadPoolExecutor | None = None
        self._state = "open"

    def add(self, name: str, chunks: Iterable[bytes], *, size: int) -> Member:
        """Append the member ``name`` whose data is the concatenation of ``chunks``, ``size`` bytes in all.

        ``size`` is declared up front because it decides the header layout (ZIP64 or not); a source that yields
        more or fewer bytes is refused. Chunks are streamed, so memory stays constant; they must not be changed
        after being yielded. Refuses [``zip_layout``] names that are not canonical (docs/evidence.md).
        """
        self._check_open()
        problem = name_problem(name) or self._names.problem(name)
        if problem is not None:
            raise ZipLayoutError(f"member name {name!r} {problem}", hint=_HINT_NAME)
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= _MAX_SIZE:
            raise ZipLayoutError(f"member {name!r}: size {size!r} is not an integer in 0..2^64-1")
        raw = name.encode("utf-8")
        offset = self._offset
        header = _local_header(raw, size, 0, offset)
        try:
            self._out.write(header)
            crc, sha256 = self._stream(name, chunks, size)
            self._out.seek(offset + _CRC_OFFSET)
            self._out.write(_U32.pack(crc))
            self._out.seek(offset + len(header) + size)
        except BaseException:
            self._roll_back(offset)
            raise
        self._offset = offset + len(header) + size
        self._names.add(name)
        self._entries.append(_Entry(raw, size, crc, offset))
        member = Member(name, size, crc, sha256, offset)
        self._members.append(member)
        return member

    def add_bytes(self, name: str, data: bytes) -> Member:
        """Append the member ``name`` holding ``data``."""
        return self.add(name, (data,), size=len(data))

    def close(self) -> list[Member]:
        """Write the central directory and end records, flush and fsync the file; return the members in order."""
        self._check_open()
        self._state = "closed"
        if self._executor is not None:
            self._executor.shutdown()
        buffer = bytearray()
        for _what, _fields, record in _trailer(self._entries, self._offset):
            buffer += record
            if len(buffer) >= _BLOCK:
                self._out.write(buffer)
                buffer.clear()
        self._out.write(buffer)
        # Nothing may follow the end record, even if the file was longer when it was opened.
        self._out.truncate()
        self._out.flush()
        try:
            fileno = self._out.fileno()
        except io.UnsupportedOperation:
            # An in-memory output has nothing to sync.
            return list(self._members)
        os.fsync(fileno)
        return list(self._members)

    def _check_open(self) -> None:
        if self._state != "open":
            raise RuntimeError(f"the archive writer is {self._state}")

    def _roll_back(self, offset: int) -> None:
        try:
            self._out.seek(offset)
            self._out.truncate()
        except OSError:
            self._state = "unusable after a failed write"
            raise

    def _stream(self, name: str, chunks: Iterable[bytes], size: int) -> tuple[int, bytes]:
        """Write the data; return its CRC-32 and SHA-256. CRC-32 and writes run on the worker thread."""
        out = self._out
        sha = hashlib.sha256()
        crc = 0
        pending: deque[Future[None]] = deque()

        def crc_and_write(block: bytes | bytearray) -> None:
            # Runs on the single worker thread, so blocks are processed in the order submitted.
            nonlocal crc
            crc = crc32(block, crc)
            out.write(block)

        def hand_off(block: bytes | bytearray) -> None:
            if len(block) >= _BLOCK:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(1, thread_name_prefix="canonzip-writer")
                pending.append(self._executor.submit(crc_and_write, block))
                sha.update(block)
                if len(pending) > _DEPTH:
                    pending.popleft().result()
            else:
                while pending:
                    pending.popleft().result()
                crc_and_write(block)
                sha.update(block)

        written = 0
        block = bytearray()
        try:
            for chunk in chunks:
                written += len(chunk)
                if written > size:
                    raise ZipLayoutError(f"member {name!r}: the data is longer than the declared {size} bytes")
                if not block and len(chunk) >= _BLOCK:
                    hand_off(chunk)
                    continue
                block += chunk
                if len(block) >= _BLOCK:
                    hand_off(block)
                    block = bytearray()
            if block:
                hand_off(block)
        finally:
            while pending:
                pending.popleft().result()
        if written != size:
            raise ZipLayoutError(f"member {name!r}: the data has {written} bytes, {size} were declared")
        return crc, sha.digest()


# --- reader --------------------------------------------------------------------------------------------------


def read_canonical(source: BinaryIO, *, piece: int = 1 << 20) -> Iterator[tuple[str, int, Iterator[bytes]]]:
    """Stream the members of the canonical ZIP archive ``source`` (a seekable binary file), checking it.

    Yields ``(name, size, chunks)`` per member in archive order; ``chunks`` yields the data in pieces of at most
    ``piece`` bytes. The caller must consume ``chunks`` to the end before asking for the next member
    (``RuntimeError`` otherwise): the end of ``chunks`` is where the data's CRC-32 is checked.

    Raises [``zip_layout``] as soon as a byte differs from what :class:`CanonicalZipWriter` writes for the
    members seen: each local header is compared with the canonical one for its name, size and CRC-32, the CRC-32
    is recomputed over the data, and once the last member is read, the central directory, any ZIP64 end records
    and the end of central directory record are compared byte for byte, and the file must end there. A caller
    must treat members as verified only once the iteration completes without error.
    """
    if piece < 1:
        raise ValueError(f"piece must be at least 1 byte, not {piece}")
    return _Reader(source, piece).members()


class _Reader:
    def __init__(self, source: BinaryIO, piece: int) -> None:
        self.source = source
        self.piece = piece
        self.executor: ThreadPoolExecutor | None = None

    def members(self) -> Iterator[tuple[str, int, Iterator[bytes]]]:
        try:
            yield from self._members()
        finally:
            if self.executor is not None:
                self.executor.shutdown(cancel_futures=True)

    def _members(self) -> Iterator[tuple[str, int, Iterator[bytes]]]:
        source = self.source
        end = source.seek(0, os.SEEK_END)
        self._check_tail(end)
        names = _Names()
        entries: list[_Entry] = []
        pos = 0
        while True:
            source.seek(pos)
            fixed = _read_exact(source, _LOCAL.size)
            if fixed[:4] != _U32.pack(_LOCAL_SIG):
                break
            if len(fixed) < _LOCAL.size:
                raise _truncated("local file header", pos, end)
            _sig, _v, _f, _m, _t, _d, crc, _c, usize, name_len, extra_len = _LOCAL.unpack(fixed)
            tail = _read_exact(source, name_len + extra_len)
            if len(tail) < name_len + extra_len:
                raise _truncated("local file header", pos, end)
            raw, extra = tail[:name_len], tail[name_len:]
            name = self._check_name(raw, pos, names)
            size = _U64.unpack(extra[4:12])[0] if usize == _SENTINEL32 and len(extra) >= 12 else usize
            expected = _local_header(raw, size, crc, pos)
            header = fixed + tail
            if header != expected:
                fields = (*_LOCAL_FIELDS, (30 + name_len, 0, "extra field"))
                raise _mismatch(f"local file header of member {name!r}", pos, fields, expected, header)
            start = pos + len(header)
            if start + size > end:
                raise ZipLayoutError(
                    f"member {name!r} at byte {pos}: its {size} bytes of data would end at byte {start + size}, "
                    f"past the end of the file at byte {end}: the file is truncated",
                    hint=_HINT_ARCHIVE,
                )
            data = _MemberData(self, name, pos, size, crc)
            yield name, size, data
            data.finish()
            names.add(name)
            entries.append(_Entry(raw, size, crc, pos))
            pos = start + size
        self._check_trailer(entries, pos, end)

    def _check_tail(self, end: int) -> None:
        # Fails fast on a truncated file or appended bytes, before streaming members that may be hundreds of GB.
        if end < _END.size:
            raise ZipLayoutError(
                f"the file has {end} bytes, fewer than an end of central directory record: it is not a ZIP archive",
                hint=_HINT_ARCHIVE,
            )
        self.source.seek(end - _END.size)
        last = _read_exact(self.source, _END.size)
        if last[:4] != _U32.pack(_END_SIG) or last[-2:] != b"\0\0":
            raise ZipLayoutError(
                f"the last {_END.size} bytes of the file (from byte {end - _END.size}) are not an end of central "
                "directory record without comment: the file is truncated, has bytes appended, or has a comment",
                hint=_HINT_ARCHIVE,
            )

    @staticmethod
    def _check_name(raw: bytes, pos: int, names: _Names) -> str:
        where = f"the member name at byte {pos + _LOCAL.size} (local file header at byte {pos})"
        try:
            name = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ZipLayoutError(f"{where} is not valid UTF-8: {exc.reason}", hint=_HINT_ARCHIVE) from None
        problem = name_problem(name) or names.problem(name)
        if problem is not None:
            raise ZipLayoutError(f"{where}, {name!r}, {problem}", hint=_HINT_ARCHIVE)
        return name

    def _check_trailer(self, entries: list[_Entry], pos: int, end: int) -> None:
        source = self.source
        source.seek(pos)
        for what, fields, expected in _trailer(entries, pos):
            found = _read_exact(source, len(expected))
            if found != expected:
                raise _mismatch(what, pos, fields, expected, found)
            pos += len(expected)
        if pos != end:
            raise ZipLayoutError(
                f"{end - pos} bytes follow the end of central directory record at byte {pos}", hint=_HINT_ARCHIVE
            )


class _MemberData(Iterator[bytes]):
    """The data of one member, read ahead and CRC-checked on the reader's worker thread."""

    def __init__(self, reader: _Reader, name: str, offset: int, size: int, crc: int) -> None:
        self._reader = reader
        self._name = name
        self._offset = offset
        self._expected_crc = crc
        self._crc = 0
        self._size = size
        self._unread = size  # not yet scheduled for reading
        self._undelivered = size  # not yet handed to the caller
        self._pending: deque[Future[bytes]] = deque()
        self._done = False

    def __next__(self) -> bytes:
        if self._undelivered == 0:
            self._check_crc()
            raise StopIteration
        reader = self._reader
        if self._size <= reader.piece:
            self._unread = 0
            chunk = self._read(self._size)
        else:
            if reader.executor is None:
                reader.executor = ThreadPoolExecutor(1, thread_name_prefix="canonzip-reader")
            while self._unread and len(self._pending) <= _DEPTH:
                length = min(reader.piece, self._unread)
                self._unread -= length
                self._pending.append(reader.executor.submit(self._read, length))
            chunk = self._pending.popleft().result()
        self._undelivered -= len(chunk)
        return chunk

    def _read(self, length: int) -> bytes:
        # On the worker thread for large members: tasks run one at a time, in order, so reads stay sequential.
        chunk = _read_exact(self._reader.source, length)
        if len(chunk) != length:
            raise ZipLayoutError(
                f"member {self._name!r} at byte {self._offset}: the file ended while reading its data "
                "(it shrank while being read)",
                hint=_HINT_ARCHIVE,
            )
        self._crc = crc32(chunk, self._crc)
        return chunk

    def _check_crc(self) -> None:
        if self._done:
            return
        if self._crc != self._expected_crc:
            raise ZipLayoutError(
                f"member {self._name!r} at byte {self._offset}: the CRC-32 of its data is {self._crc:#010x}, "
                f"its headers say {self._expected_crc:#010x}: the data or the header was altered",
                hint=_HINT_ARCHIVE,
            )
        self._done = True

    def finish(self) -> None:
        """Check the CRC-32 if all data was handed out; refuse to move on otherwise."""
        if self._undelivered:
            raise RuntimeError(
                f"member {self._name!r}: {self._undelivered} bytes of its data were not consumed before asking for "
                "the next member"
            )
        self._check_crc()


def _read_exact(source: BinaryIO, length: int) -> bytes:
    """``length`` bytes from ``source``, fewer only at the end of the file (raw files may return short reads)."""
    data = source.read(length)
    if len(data) == length or not data:
        return data
    parts = [data]
    missing = length - len(data)
    while missing:
        more = source.read(missing)
        if not more:
            break
        parts.append(more)
        missing -= len(more)
    return b"".join(parts)
