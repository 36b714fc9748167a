"""Canonical ZIP: known-answer bytes, interoperability with zipfile and Info-ZIP, ZIP64, and the reader refusing
every deviation (bad names, attributes, flags, CRC, truncation, appended bytes, any single flipped byte)."""

from __future__ import annotations

import hashlib
import io
import itertools
import re
import shutil
import struct
import subprocess
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from hanoinet.evidence import canonzip
from hanoinet.evidence.canonzip import CanonicalZipWriter, Member, ZipLayoutError, read_canonical

# The example archive of docs/evidence.md, "Canonical ZIP layout": "a.txt" = "hello\n", then "d/é" empty.
VECTOR = bytes.fromhex(
    "504b03041400000800000000210020303a36060000000600000005000000612e74787468656c6c6f0a"
    "504b03041400000800000000210000000000000000000000000004000000642fc3a9"
    "504b01021e031400000800000000210020303a360600000006000000050000000000000000000000a48100000000612e747874"
    "504b01021e0314000008000000002100000000000000000000000000040000000000000000000000a48129000000642fc3a9"
    "504b0506000000000200020065000000" + "4b0000000000"
)
VECTOR_SHA256 = "f8bcdfa77d15ed64ae176af2478b7248797519f3bea10898789606431076c7ec"

MEMBERS = [("manifest.json", b'{"v":1}'), ("files/0001/été.bin", bytes(range(256)) * 3), ("files/empty", b"")]


def write(members: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    writer = CanonicalZipWriter(out)
    for name, data in members:
        writer.add_bytes(name, data)
    writer.close()
    return out.getvalue()


def read(archive: bytes, piece: int = 1 << 20) -> list[tuple[str, bytes]]:
    result = []
    for name, size, chunks in read_canonical(io.BytesIO(archive), piece=piece):
        data = b"".join(chunks)
        assert len(data) == size
        result.append((name, data))
    return result


def forge(members: list[tuple[bytes, bytes]]) -> bytes:
    """An archive laid out canonically around arbitrary name bytes, to test the reader's own name checks."""
    out = bytearray()
    entries = []
    for raw, data in members:
        entry = canonzip._Entry(raw, len(data), zlib.crc32(data), len(out))
        entries.append(entry)
        out += canonzip._local_header(raw, entry.size, entry.crc, entry.offset) + data
    for _what, _fields, record in canonzip._trailer(entries, len(out)):
        out += record
    return bytes(out)


def refused(archive: bytes, piece: int = 1 << 20) -> ZipLayoutError:
    with pytest.raises(ZipLayoutError) as caught:
        read(archive, piece)
    assert caught.value.code == "zip_layout"
    return caught.value


def central_offset(archive: bytes, index: int) -> int:
    """Byte offset of the index-th central directory header."""
    at = -1
    for _ in range(index + 1):
        at = archive.index(b"PK\x01\x02", at + 1)
    return at


def patched(archive: bytes, at: int, value: bytes) -> bytes:
    return archive[:at] + value + archive[at + len(value) :]


@pytest.fixture
def zip64_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """ZIP64 thresholds lowered so that small archives have ZIP64 members, offsets and end records."""
    monkeypatch.setattr(canonzip, "_ZIP64_LIMIT", 100)
    monkeypatch.setattr(canonzip, "_COUNT_LIMIT", 3)


# --- writing -----------------------------------------------------------------------------------------------------


def test_known_answer() -> None:
    archive = write([("a.txt", b"hello\n"), ("d/é", b"")])
    assert archive == VECTOR
    assert hashlib.sha256(archive).hexdigest() == VECTOR_SHA256
    assert read(VECTOR) == [("a.txt", b"hello\n"), ("d/é", b"")]
    assert forge([(b"a.txt", b"hello\n"), ("d/é".encode(), b"")]) == VECTOR


def test_members_returned() -> None:
    out = io.BytesIO()
    writer = CanonicalZipWriter(out)
    first = writer.add_bytes("a", b"abc")
    second = writer.add("b/c", iter([b"de", b"", b"f"]), size=3)
    assert writer.close() == [first, second]
    assert first == Member("a", 3, zlib.crc32(b"abc"), hashlib.sha256(b"abc").digest(), 0)
    assert second.offset == 30 + 1 + 3
    assert out.getvalue()[second.offset : second.offset + 4] == b"PK\x03\x04"


def test_round_trip_and_empty_archive() -> None:
    assert read(write(MEMBERS)) == MEMBERS
    empty = write([])
    assert empty == b"PK\x05\x06" + bytes(18)
    assert read(empty) == []


@given(
    data=st.binary(max_size=200),
    cuts=st.lists(st.integers(0, 200), max_size=6),
    block=st.sampled_from([1, 7, 64]),
)
def test_chunking_does_not_change_the_bytes(data: bytes, cuts: list[int], block: int) -> None:
    # A small block size sends the data through the worker thread in the same way as megabyte chunks would.
    bounds = sorted({0, len(data), *(c for c in cuts if c <= len(data))})
    chunks = [data[a:b] for a, b in itertools.pairwise(bounds)]
    reference = write([("x", data)])
    with mock.patch.object(canonzip, "_BLOCK", block):
        out = io.BytesIO()
        writer = CanonicalZipWriter(out)
        member = writer.add("x", iter(chunks), size=len(data))
        writer.close()
    assert out.getvalue() == reference
    assert member.sha256 == hashlib.sha256(data).digest()


def test_deterministic_and_megabyte_members(tmp_path: Path) -> None:
    big = bytes(range(251)) * 12_000  # 3 MB: written and read through the worker threads
    members = [*MEMBERS, ("big.bin", big)]
    first = write(members)
    path = tmp_path / "p.zip"
    with path.open("wb") as out:
        writer = CanonicalZipWriter(out)
        for name, data in members[:-1]:
            writer.add_bytes(name, data)
        writer.add("big.bin", (big[i : i + 100_000] for i in range(0, len(big), 100_000)), size=len(big))
        writer.close()
    assert path.read_bytes() == first
    assert read(first, piece=1 << 20) == members
    assert read(first, piece=4096) == members


def test_writer_refuses_wrong_sizes_and_stays_usable() -> None:
    out = io.BytesIO()
    writer = CanonicalZipWriter(out)
    writer.add_bytes("a", b"1")
    with pytest.raises(ZipLayoutError, match="longer than the declared 2 bytes"):
        writer.add("b", [b"12", b"3"], size=2)
    with pytest.raises(ZipLayoutError, match="has 2 bytes, 3 were declared"):
        writer.add("b", [b"12"], size=3)
    with pytest.raises(ZipLayoutError, match="not an integer"):
        writer.add("b", [], size=-1)

    def failing() -> Iterator[bytes]:
        yield b"x" * 100
        raise OSError("source went away")

    with pytest.raises(OSError, match="source went away"):
        writer.add("b", failing(), size=200)
    writer.add_bytes("b", b"2")
    writer.close()
    assert out.getvalue() == write([("a", b"1"), ("b", b"2")])


def test_writer_misuse() -> None:
    out = io.BytesIO(b"junk")
    out.seek(4)
    with pytest.raises(ValueError, match="position 0"):
        CanonicalZipWriter(out)
    writer = CanonicalZipWriter(io.BytesIO())
    writer.close()
    with pytest.raises(RuntimeError, match="closed"):
        writer.add_bytes("a", b"")


BAD_NAMES = [
    ("", "1 to 255"),
    ("é" * 128, "256 bytes"),
    ("/etc/passwd", "absolute"),
    ("a/../../b", "'..'"),
    ("..", "'..'"),
    ("./a", "'.'"),
    ("a/./b", "'.'"),
    ("a//b", "empty path component"),
    ("dir/", "directory entries"),
    ("a\\b", "'\\\\'"),
    ("C:x", "':'"),
    ("a\x00b", "control"),
    ("a\nb", "control"),
    ("a\x7f", "control"),
    ("a\x85", "control"),
    ("e\u0301", "NFC"),
]


@pytest.mark.parametrize(("name", "reason"), BAD_NAMES)
def test_writer_refuses_bad_names(name: str, reason: str) -> None:
    writer = CanonicalZipWriter(io.BytesIO())
    with pytest.raises(ZipLayoutError, match=re.escape(reason)):
        writer.add_bytes(name, b"")


@pytest.mark.parametrize(
    ("first", "second", "reason"),
    [("a", "a", "duplicate"), ("a/b", "a", "directory of an earlier"), ("a", "a/b", "under the earlier member")],
)
def test_writer_refuses_name_conflicts(first: str, second: str, reason: str) -> None:
    writer = CanonicalZipWriter(io.BytesIO())
    writer.add_bytes(first, b"")
    with pytest.raises(ZipLayoutError, match=reason):
        writer.add_bytes(second, b"")


def test_writer_refuses_a_lone_surrogate() -> None:
    with pytest.raises(ZipLayoutError, match="surrogate"):
        CanonicalZipWriter(io.BytesIO()).add_bytes("a\udc80", b"")


def test_writes_and_syncs_a_real_file(tmp_path: Path) -> None:
    path = tmp_path / "p.zip"
    path.write_bytes(b"older and longer content" * 100)
    with path.open("r+b") as out:
        writer = CanonicalZipWriter(out)
        writer.add_bytes("a.txt", b"hello\n")
        writer.add_bytes("d/é", b"")
        writer.close()
    assert path.read_bytes() == VECTOR


# --- interoperability ------------------------------------------------------------------------------------------


def test_zipfile_reads_canonical_archives() -> None:
    with zipfile.ZipFile(io.BytesIO(write(MEMBERS))) as archive:
        assert archive.testzip() is None
        infos = archive.infolist()
        assert [(i.filename, archive.read(i)) for i in infos] == MEMBERS
        for info in infos:
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.compress_type == zipfile.ZIP_STORED
            assert info.flag_bits == 0x0800
            assert info.external_attr == 0o100644 << 16
            assert (info.create_system, info.create_version, info.extract_version) == (3, 30, 20)
            assert info.extra == b""
            assert info.comment == b""


@pytest.mark.usefixtures("zip64_everywhere")
def test_zip64_structures() -> None:
    members = [("small", b"s" * 20), ("at-limit", b"L" * 100), ("late", b"x"), ("last", b"")]
    archive = write(members)
    assert read(archive) == members

    def local(offset: int) -> tuple[int, ...]:
        return struct.unpack_from("<IHHHHHIIIHH", archive, offset)

    def central(index: int) -> tuple[tuple[int, ...], bytes]:
        at = central_offset(archive, index)
        fields = struct.unpack_from("<IHHHHHHIIIHHHHHII", archive, at)
        return fields, archive[at + 46 + fields[10] : at + 46 + fields[10] + fields[11]]

    # Below the size and offset limit: plain headers.
    assert local(0)[1] == 20
    assert local(0)[7:] == (20, 20, 5, 0)
    assert central(0) == ((*central(0)[0][:8], 20, 20, 5, 0, 0, 0, 0, 0o100644 << 16, 0), b"")
    # At the size limit: version 45, sentinels, both sizes in the ZIP64 field of both headers.
    at = 30 + 5 + 20
    assert local(at)[1] == 45
    assert local(at)[7:] == (0xFFFFFFFF, 0xFFFFFFFF, 8, 20)
    assert archive[at + 38 : at + 58] == struct.pack("<HHQQ", 1, 16, 100, 100)
    fields, extra = central(1)
    assert (fields[2], fields[8], fields[9], fields[16]) == (45, 0xFFFFFFFF, 0xFFFFFFFF, at)
    assert extra == struct.pack("<HHQQ", 1, 16, 100, 100)
    # A small member whose local header is past the offset limit is a ZIP64 member too, with its offset added in
    # the central directory.
    late = at + 58 + 100
    assert local(late)[1] == 45
    assert local(late)[7:] == (0xFFFFFFFF, 0xFFFFFFFF, 4, 20)
    assert archive[late + 34 : late + 54] == struct.pack("<HHQQ", 1, 16, 1, 1)
    fields, extra = central(2)
    assert (fields[2], fields[8], fields[9], fields[16]) == (45, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
    assert extra == struct.pack("<HHQQQ", 1, 24, 1, 1, late)
    # The end: zip64 record and locator, then an end record holding sentinels only where the value overflows.
    end = archive[-22:]
    assert struct.unpack("<IHHHHIIH", end)[3:] == (0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    zip64_end = struct.unpack("<IQHHIIQQQQ", archive[-98:-42])
    assert zip64_end[:8] == (0x06064B50, 44, 0x031E, 45, 0, 0, 4, 4)
    assert struct.unpack("<IIQI", archive[-42:-22]) == (0x07064B50, 0, len(archive) - 98, 1)

    with zipfile.ZipFile(io.BytesIO(archive)) as parsed:
        assert parsed.testzip() is None
        assert [(i.filename, parsed.read(i)) for i in parsed.infolist()] == members
        assert [i.header_offset for i in parsed.infolist()] == [0, at, late, late + 30 + 4 + 20 + 1]


def test_zip64_end_records_only_when_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(canonzip, "_COUNT_LIMIT", 3)
    assert b"PK\x06\x06" not in write(MEMBERS[:2])
    archive = write(MEMBERS)
    assert archive[-98:-94] == b"PK\x06\x06"
    cd_offset = central_offset(archive, 0)
    cd_size = len(archive) - 98 - cd_offset
    assert struct.unpack("<IHHHHIIH", archive[-22:])[3:] == (0xFFFF, 0xFFFF, cd_size, cd_offset, 0)
    assert read(archive) == MEMBERS
    with zipfile.ZipFile(io.BytesIO(archive)) as parsed:
        assert parsed.namelist() == [name for name, _ in MEMBERS]


@pytest.mark.skipif(shutil.which("unzip") is None, reason="Info-ZIP unzip is not installed")
@pytest.mark.parametrize("limits", ["real", "lowered"])
def test_unzip_tests_canonical_archives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limits: str) -> None:
    if limits == "lowered":
        monkeypatch.setattr(canonzip, "_ZIP64_LIMIT", 100)
        monkeypatch.setattr(canonzip, "_COUNT_LIMIT", 2)
    path = tmp_path / "p.zip"
    path.write_bytes(write(MEMBERS))
    result = subprocess.run(["unzip", "-t", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No errors detected" in result.stdout
    assert "warning" not in (result.stdout + result.stderr).lower()


# --- the reader refuses deviations --------------------------------------------------------------------------


def test_refuses_an_archive_written_by_zipfile() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for name, data in MEMBERS:
            archive.writestr(name, data)
    assert "local file header of member 'manifest.json' at byte 0" in refused(out.getvalue()).message


def test_refuses_a_zipfile_archive_with_canonical_fields_but_version_made_by() -> None:
    # zipfile sets the UTF-8 flag only for names that are not ASCII.
    members = [("é.json", b"{}"), ("ü/ß", b"data")]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o100644 << 16
            info.create_system = 3
            archive.writestr(info, data)
    forged = out.getvalue()
    canonical = write(members)
    # Everything but "version made by": 3.0 here, 2.0 from zipfile.
    assert [i for i, (a, b) in enumerate(zip(forged, canonical, strict=True)) if a != b] == [
        central_offset(canonical, 0) + 4,
        central_offset(canonical, 1) + 4,
    ]
    error = refused(forged)
    at = central_offset(canonical, 0)
    assert error.message.startswith(f"central directory header of member 'é.json' at byte {at}: the version made by")


def test_refuses_appended_and_prepended_bytes() -> None:
    archive = write(MEMBERS)
    assert "not an end of central directory record" in refused(archive + b"\0").message
    assert "22 bytes follow the end of central directory record" in refused(archive + b"PK\x05\x06" + bytes(18)).message
    refused(b"\0" + archive)
    refused(b"PK\x05\x06" + bytes(18) + archive)


def test_refuses_every_truncation() -> None:
    archive = write(MEMBERS)
    for length in range(len(archive)):
        refused(archive[:length])


def test_refuses_bad_crc() -> None:
    archive = write(MEMBERS)
    data_at = 30 + len("manifest.json")
    error = refused(patched(archive, data_at, b"["))
    assert "CRC-32 of its data" in error.message
    assert "'manifest.json' at byte 0" in error.message
    # The same CRC changed in both headers still disagrees with the data.
    crc = struct.pack("<I", zlib.crc32(b"other"))
    both = patched(patched(archive, 14, crc), central_offset(archive, 0) + 16, crc)
    assert "CRC-32 of its data" in refused(both).message


def test_refuses_a_changed_name() -> None:
    archive = write(MEMBERS)
    in_local = patched(archive, 30, b"M")
    assert "central directory header of member 'Manifest.json'" in refused(in_local).message
    in_central = patched(archive, central_offset(archive, 0) + 46, b"M")
    assert "the file name at byte" in refused(in_central).message


@pytest.mark.parametrize(("name", "reason"), [(n.encode("utf-8"), r) for n, r in BAD_NAMES])
def test_reader_refuses_bad_names(name: bytes, reason: str) -> None:
    error = refused(forge([(b"ok", b"1"), (name, b"2")]))
    assert "the member name at byte" in error.message
    assert reason in error.message


@pytest.mark.parametrize("raw", [b"\xff", b"a\xc3", b"\xed\xa0\x80", b"\xc0\xaf"])
def test_reader_refuses_names_that_are_not_utf8(raw: bytes) -> None:
    assert "not valid UTF-8" in refused(forge([(raw, b"")])).message


@pytest.mark.parametrize(("first", "second"), [(b"a", b"a"), (b"a/b", b"a"), (b"a", b"a/b/c")])
def test_reader_refuses_duplicates_and_file_directory_clashes(first: bytes, second: bytes) -> None:
    assert "earlier member" in refused(forge([(first, b"1"), (second, b"2")])).message


@pytest.mark.parametrize(
    "attributes",
    [
        0o120777 << 16,  # symbolic link
        0o040755 << 16 | 0x10,  # directory, with the MS-DOS directory bit
        0o100755 << 16,  # executable
        0o100644 << 16 | 0x01,  # MS-DOS read-only bit
        0,
    ],
)
def test_refuses_other_attributes(attributes: int) -> None:
    archive = write(MEMBERS)
    at = central_offset(archive, 1) + 38
    error = refused(patched(archive, at, struct.pack("<I", attributes)))
    assert "external file attributes" in error.message
    assert "no symbolic links" in error.message


def test_refuses_a_data_descriptor_flag() -> None:
    archive = write(MEMBERS)
    flagged = patched(archive, 6, struct.pack("<H", 0x0808))
    message = refused(flagged).message
    assert "general purpose bit flag at byte 6 is 0x808 where the canonical layout has 0x800" in message
    # Also set in the central directory, and with a descriptor appended after the data, as zip writers do.
    descriptor = b"PK\x07\x08" + struct.pack("<III", zlib.crc32(MEMBERS[0][1]), 7, 7)
    end_of_data = 30 + 13 + 7
    full = flagged[:end_of_data] + descriptor + flagged[end_of_data:]
    refused(full)


def test_refuses_compression_timestamps_and_comments() -> None:
    archive = write(MEMBERS)
    assert "never compressed" in refused(patched(archive, 8, b"\x08")).message
    assert "1980-01-01" in refused(patched(archive, 12, b"\x22")).message
    commented = archive[:-2] + b"\x02\x00hi"
    refused(commented)


def test_caller_must_consume_each_member() -> None:
    members = read_canonical(io.BytesIO(write(MEMBERS)))
    next(members)
    with pytest.raises(RuntimeError, match="not consumed"):
        next(members)


@pytest.mark.parametrize("piece", [1 << 20, 5])
def test_data_read_to_the_last_byte_is_checked_on_moving_on(piece: int) -> None:
    archive = write(MEMBERS)
    members = read_canonical(io.BytesIO(archive), piece=piece)
    _name, size, chunks = next(members)
    assert len(b"".join(next(chunks) for _ in range(-(-size // piece)))) == size
    assert next(members)[0] == "files/0001/été.bin"

    corrupt = read_canonical(io.BytesIO(patched(archive, 43, b"[")), piece=piece)
    _name, size, chunks = next(corrupt)
    for _ in range(-(-size // piece)):
        next(chunks)
    with pytest.raises(ZipLayoutError, match="CRC-32"):
        next(corrupt)


def test_reader_refuses_a_piece_below_one() -> None:
    with pytest.raises(ValueError, match="piece"):
        read_canonical(io.BytesIO(VECTOR), piece=0)


# --- properties ------------------------------------------------------------------------------------------------

_NAME = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)) | st.sampled_from("/./"),
    min_size=1,
    max_size=12,
).filter(lambda name: canonzip.name_problem(name) is None)


@given(st.lists(st.tuples(_NAME, st.binary(max_size=64)), max_size=6, unique_by=lambda member: member[0]))
def test_round_trip_property(members: list[tuple[str, bytes]]) -> None:
    names = canonzip._Names()
    for name, _ in members:
        assume(names.problem(name) is None)
        names.add(name)
    archive = write(members)
    assert read(archive) == members
    assert read(archive, piece=3) == members
    with zipfile.ZipFile(io.BytesIO(archive)) as parsed:
        assert [(i.filename, parsed.read(i)) for i in parsed.infolist()] == members


def _flip_every_byte(archive: bytes, masks: list[int]) -> None:
    assert read(archive) is not None
    for position in range(len(archive)):
        for mask in masks:
            damaged = patched(archive, position, bytes([archive[position] ^ mask]))
            with pytest.raises(ZipLayoutError):
                read(damaged, piece=4)


def test_every_flipped_byte_is_refused() -> None:
    _flip_every_byte(write([*MEMBERS[:1], ("d/é", b""), ("x", b"0123456789")]), [0x01, 0x80, 0xFF])


@pytest.mark.usefixtures("zip64_everywhere")
def test_every_flipped_byte_is_refused_in_zip64_structures() -> None:
    archive = write([("a", b"x" * 100), ("b", b""), ("c", b"yz")])
    assert b"\x01\x00\x18\x00" in archive and b"PK\x06\x06" in archive
    _flip_every_byte(archive, [0x01, 0xFF])


@given(st.lists(st.binary(max_size=20), min_size=1, max_size=3), st.data())
def test_flipped_bytes_property(datas: list[bytes], draw: st.DataObject) -> None:
    archive = write([(f"m{i}", data) for i, data in enumerate(datas)])
    position = draw.draw(st.integers(0, len(archive) - 1))
    mask = draw.draw(st.integers(1, 255))
    with pytest.raises(ZipLayoutError):
        read(patched(archive, position, bytes([archive[position] ^ mask])))


# --- real ZIP64 --------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_real_zip64_member_and_offsets(tmp_path: Path) -> None:
    if shutil.disk_usage(tmp_path).free < 12 << 30:
        pytest.skip("needs 12 GiB free for a real 4 GiB ZIP64 archive (the ZIP64 layout is also tested in small)")
    # A member of exactly 0xFFFFFFFF bytes (the sentinel itself, so ZIP64) pushes the next header past 4 GiB.
    size = 0xFFFFFFFF
    zeros = bytes(1 << 20)

    def data() -> Iterator[bytes]:
        left = size
        while left:
            yield zeros[: min(left, len(zeros))]
            left -= min(left, len(zeros))

    path = tmp_path / "big.zip"
    try:
        with path.open("wb") as out:
            writer = CanonicalZipWriter(out)
            big = writer.add("big.bin", data(), size=size)
            late = writer.add_bytes("late.txt", b"late")
            writer.close()
        assert late.offset == 30 + 7 + 20 + size
        with zipfile.ZipFile(path) as parsed:
            infos = parsed.infolist()
            assert [(i.filename, i.file_size, i.header_offset) for i in infos] == [
                ("big.bin", size, 0),
                ("late.txt", 4, late.offset),
            ]
            assert parsed.read("late.txt") == b"late"
        if shutil.which("unzip") is not None:
            # UnZip 6.0 misreads a central ZIP64 field that holds only an offset after a member of this size.
            result = subprocess.run(["unzip", "-t", str(path)], capture_output=True, text=True, check=False)
            assert result.returncode == 0, result.stdout + result.stderr
            assert "No errors detected" in result.stdout and "warning" not in result.stdout + result.stderr
            listing = subprocess.run(["unzip", "-l", str(path)], capture_output=True, text=True, check=True).stdout
            lengths = [line.split()[0] for line in listing.splitlines() if line.endswith((".bin", ".txt"))]
            assert lengths == [str(size), "4"]
        digests = {}
        with path.open("rb") as source:
            for name, member_size, chunks in read_canonical(source):
                sha = hashlib.sha256()
                for chunk in chunks:
                    sha.update(chunk)
                digests[name] = (member_size, sha.digest())
        assert digests == {"big.bin": (size, big.sha256), "late.txt": (4, late.sha256)}
    finally:
        path.unlink(missing_ok=True)  # 4 GiB: not left for pytest's retained temporary directories
