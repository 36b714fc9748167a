"""hanoinet blob format v1, STREAM over AES-256-GCM: docs/evidence.md, section "Encryption at rest (STREAM)"."""

from __future__ import annotations

import hashlib
import itertools
import random
import struct

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given
from hypothesis import strategies as st

from hanoinet.errors import ValidationError
from hanoinet.evidence.stream import (
    DEFAULT_CHUNK_SIZE,
    HEADER_SIZE,
    MAX_CHUNKS,
    TAG_SIZE,
    BlobHeader,
    BlobIntegrityError,
    Decryptor,
    Encryptor,
    chunk_count,
    chunk_span,
    ciphertext_size,
    decrypt_bytes,
    decrypt_chunk,
    encrypt_bytes,
    new_data_key,
    plaintext_size,
)

CS = 4096
FULL = CS + TAG_SIZE
KEY = bytes(range(32))
PREFIX = bytes(range(0xA0, 0xA7))
HEADER = BlobHeader(CS, PREFIX)


def pattern(n: int) -> bytes:
    """The documented plaintext of the test vectors."""
    return bytes(i % 251 for i in range(n))


def seal(data: bytes, header: BlobHeader = HEADER, key: bytes = KEY) -> bytes:
    encryptor = Encryptor(key, header)
    return b"".join([encryptor.start(), *encryptor.update(data), encryptor.finish()])


def reference_seal(key: bytes, prefix: bytes, chunk_size: int, data: bytes) -> bytes:
    """The format written out from the spec's steps with the bare primitive, independently of the module."""
    header = b"HNBLOB" + b"\x01\x00" + chunk_size.to_bytes(4, "big") + prefix + bytes(5)
    aead = AESGCM(key)
    pieces = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)] or [b""]
    out = [header]
    for i, piece in enumerate(pieces):
        nonce = prefix + i.to_bytes(4, "big") + (b"\x01" if i == len(pieces) - 1 else b"\x00")
        out.append(aead.encrypt(nonce, piece, header))
    return b"".join(out)


def raw_chunk(index: int, data: bytes, *, last: bool, header: BlobHeader = HEADER) -> bytes:
    nonce = header.nonce_prefix + struct.pack(">IB", index, last)
    return AESGCM(KEY).encrypt(nonce, data, header.encode())


def integrity_error(blob: bytes, key: bytes = KEY) -> BlobIntegrityError:
    with pytest.raises(BlobIntegrityError) as caught:
        decrypt_bytes(key, blob)
    return caught.value


# --- Known answers (the vectors of the spec) ----------------------------------------------------------------


def test_vector_empty_plaintext_is_header_and_one_empty_final_chunk() -> None:
    blob = seal(b"")
    assert blob.hex() == (
        "484e424c4f42010000001000a0a1a2a3a4a5a60000000000ff197597e6f65b57241c8b937e34e728"
    )
    assert decrypt_bytes(KEY, blob) == b""


@pytest.mark.parametrize(
    ("size", "plain_sha256", "blob_size", "blob_sha256", "last16"),
    [
        (
            5000,
            "69dbee893909fa17d1be397e0c07691336fe42049c29d403467d3d4a1fc3b5a1",
            5056,
            "53aaae4d53a5909f68e69dae01f9c3a4234a1e34050de0b8cf13e206b18576f5",
            "ac1cd6aa94787cab86de5e9438ff00b3",
        ),
        (
            8192,
            "25df2449b2e5a35fea14e02a7158e283801a1069c9f84631b9a9dacb2f809a7f",
            8248,
            "a67ffaa04cd355f2a3bfd5f44bfa75a1f413b382afe68cf2876f975d4c1e999a",
            "a836190e8b11d9b2824a707661639a61",
        ),
    ],
)
def test_vectors_with_two_chunks(size: int, plain_sha256: str, blob_size: int, blob_sha256: str, last16: str) -> None:
    plain = pattern(size)
    assert hashlib.sha256(plain).hexdigest() == plain_sha256
    blob = seal(plain)
    assert len(blob) == blob_size
    assert hashlib.sha256(blob).hexdigest() == blob_sha256
    # Chunk 0 is a full non-final chunk in both, so both blobs start alike.
    assert blob[:64].hex() == (
        "484e424c4f42010000001000a0a1a2a3a4a5a600000000000ad01eaa9251433a642ace8b950d5864c2d05d566f72eb16174ee0f9"
        "28d253ea687121a478e7aecc"
    )
    assert blob[-16:].hex() == last16
    assert decrypt_bytes(KEY, blob) == plain


@given(
    size=st.integers(0, 4 * CS + 3),
    key=st.binary(min_size=32, max_size=32),
    prefix=st.binary(min_size=7, max_size=7),
)
def test_output_is_the_spec_written_with_the_bare_primitive(size: int, key: bytes, prefix: bytes) -> None:
    data = pattern(size)
    assert seal(data, BlobHeader(CS, prefix), key) == reference_seal(key, prefix, CS, data)


# --- Round trips -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, CS - 1, CS, CS + 1, 3 * CS])
def test_round_trip_and_sizes_at_chunk_edges(size: int) -> None:
    data = pattern(size)
    blob = encrypt_bytes(KEY, data, CS)
    assert len(blob) == ciphertext_size(size, CS)
    assert plaintext_size(len(blob), CS) == size
    assert decrypt_bytes(KEY, blob) == data


def test_exact_multiple_ends_with_a_full_final_chunk_not_an_empty_one() -> None:
    blob = seal(pattern(2 * CS))
    assert chunk_count(2 * CS, CS) == 2
    assert len(blob) == HEADER_SIZE + 2 * FULL
    assert decrypt_chunk(KEY, HEADER, 1, blob[HEADER_SIZE + FULL :], last=True) == pattern(2 * CS)[CS:]


def write_splits(total: int) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(0, 3 * CS), max_size=12).map(lambda cuts: sorted(min(c, total) for c in cuts))


@st.composite
def data_and_splits(draw: st.DrawFn) -> tuple[bytes, list[int], list[int]]:
    data = random.Random(draw(st.integers())).randbytes(draw(st.integers(0, 5 * CS + 17)))
    return data, draw(write_splits(len(data))), draw(write_splits(len(data) + 200))


def pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    edges = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


@given(case=data_and_splits(), kind=st.sampled_from([bytes, bytearray, memoryview]))
def test_any_write_split_gives_the_same_blob_and_plaintext(
    case: tuple[bytes, list[int], list[int]], kind: type[bytes] | type[bytearray] | type[memoryview]
) -> None:
    data, enc_cuts, dec_cuts = case
    encryptor = Encryptor(KEY, HEADER)
    out = [encryptor.start()]
    for piece in pieces(data, enc_cuts):
        out.extend(encryptor.update(kind(piece)))
    out.append(encryptor.finish())
    blob = b"".join(out)
    assert blob == seal(data)
    assert len(blob) == ciphertext_size(len(data), CS)
    decryptor = Decryptor(KEY)
    plain: list[bytes] = []
    for piece in pieces(blob, [min(c, len(blob)) for c in dec_cuts]):
        plain.extend(decryptor.update(kind(piece)))
    plain.append(decryptor.finish())
    assert b"".join(plain) == data
    assert decryptor.header == HEADER


@given(case=data_and_splits(), kind=st.sampled_from([bytes, bytearray, memoryview]))
def test_sealing_into_reserved_memory_gives_the_same_blob(
    case: tuple[bytes, list[int], list[int]], kind: type[bytes] | type[bytearray] | type[memoryview]
) -> None:
    data, cuts, _ = case
    blob = bytearray()
    sizes: list[int] = []

    def reserve(size: int) -> memoryview:
        sizes.append(size)
        blob.extend(bytes(size))
        return memoryview(blob)[len(blob) - size:]

    encryptor = Encryptor(KEY, HEADER)
    blob += encryptor.start()
    for piece in pieces(data, cuts):
        encryptor.update_into(kind(piece), reserve)
    encryptor.finish_into(reserve)
    assert bytes(blob) == seal(data)
    assert all(size == FULL for size in sizes[:-1])  # one reservation per chunk, tag included


def test_a_reused_input_buffer_does_not_change_held_data() -> None:
    # A reader filling one bytearray again and again must not alter what the encryptor holds back.
    buffer = bytearray(pattern(CS))
    encryptor = Encryptor(KEY, HEADER)
    out = [encryptor.start(), *encryptor.update(buffer)]
    buffer[:] = bytes(CS)
    out += encryptor.update(buffer)
    out.append(encryptor.finish())
    assert decrypt_bytes(KEY, b"".join(out)) == pattern(CS) + bytes(CS)


def test_defaults_fresh_keys_and_prefixes() -> None:
    assert DEFAULT_CHUNK_SIZE == 1 << 20
    assert len(new_data_key()) == 32
    assert new_data_key() != new_data_key()
    assert BlobHeader.new().nonce_prefix != BlobHeader.new().nonce_prefix
    blob = encrypt_bytes(KEY, b"evidence")
    assert BlobHeader.parse(blob).chunk_size == DEFAULT_CHUNK_SIZE
    assert encrypt_bytes(KEY, b"evidence") != blob  # fresh nonce prefix each time
    assert decrypt_bytes(KEY, blob) == b"evidence"


# --- Sizes, offsets and random access ---------------------------------------------------------------------------


@given(size=st.integers(0, 6 * CS), chunk_size=st.sampled_from([CS, 2 * CS]))
def test_spans_tile_the_blob_and_each_chunk_opens_alone(size: int, chunk_size: int) -> None:
    data = pattern(size)
    header = BlobHeader(chunk_size, PREFIX)
    blob = seal(data, header)
    count = chunk_count(size, chunk_size)
    end = HEADER_SIZE
    for i in range(count):
        start, stop = chunk_span(i, size, chunk_size)
        assert start == end
        end = stop
        last = i == count - 1
        assert decrypt_chunk(KEY, header, i, blob[start:stop], last=last) == data[i * chunk_size : (i + 1) * chunk_size]
    assert end == len(blob) == ciphertext_size(size, chunk_size)
    assert plaintext_size(len(blob), chunk_size) == size
    with pytest.raises(ValidationError, match="does not exist"):
        chunk_span(count, size, chunk_size)


WRITTEN_SIZES = frozenset(len(reference_seal(KEY, PREFIX, CS, bytes(n))) for n in range(5 * CS + 1))


@given(blob_size=st.integers(0, 5 * FULL))
def test_plaintext_size_accepts_exactly_the_sizes_a_writer_produces(blob_size: int) -> None:
    if blob_size in WRITTEN_SIZES:
        assert ciphertext_size(plaintext_size(blob_size, CS), CS) == blob_size
    else:
        with pytest.raises(BlobIntegrityError) as caught:
            plaintext_size(blob_size, CS)
        assert caught.value.reason == "malformed"


def test_size_limits() -> None:
    assert chunk_count(MAX_CHUNKS * CS, CS) == MAX_CHUNKS
    with pytest.raises(ValidationError, match="more than the 2\\*\\*32"):
        chunk_count(MAX_CHUNKS * CS + 1, CS)
    with pytest.raises(ValidationError, match="negative"):
        ciphertext_size(-1, CS)
    for bad in (0, 2048, 4097, 3 * CS, 1 << 25):
        with pytest.raises(ValidationError, match="not allowed"):
            BlobHeader.new(bad)
    with pytest.raises(ValidationError, match="32 bytes"):
        Encryptor(bytes(16))
    with pytest.raises(ValidationError, match="nonce prefix"):
        BlobHeader(CS, bytes(8))


def test_encryptor_refuses_a_chunk_index_beyond_the_u32_counter() -> None:
    encryptor = Encryptor(KEY, HEADER)
    encryptor.start()
    encryptor._index = MAX_CHUNKS - 1  # reaching it for real would take 16 TiB
    encryptor.finish()
    encryptor = Encryptor(KEY, HEADER)
    encryptor.start()
    encryptor._index = MAX_CHUNKS
    with pytest.raises(ValidationError, match="more than 2\\*\\*32 chunks"):
        encryptor.finish()


def test_misuse_of_the_incremental_objects_is_reported() -> None:
    encryptor = Encryptor(KEY, HEADER)
    with pytest.raises(ValidationError, match="start"):
        encryptor.update(b"x")
    with pytest.raises(ValidationError, match="start"):
        encryptor.update_into(b"x", lambda size: memoryview(bytearray(size)))
    with pytest.raises(ValidationError, match="start"):
        encryptor.finish_into(lambda size: memoryview(bytearray(size)))
    encryptor.start()
    encryptor.finish()
    with pytest.raises(ValidationError, match="already finished"):
        encryptor.update(b"x")
    with pytest.raises(ValidationError, match="already finished"):
        encryptor.finish()
    with pytest.raises(ValidationError, match="outside"):
        decrypt_chunk(KEY, HEADER, MAX_CHUNKS, bytes(FULL), last=False)


# --- Header ---------------------------------------------------------------------------------------------------


@given(exponent=st.integers(12, 24), prefix=st.binary(min_size=7, max_size=7))
def test_header_round_trip(exponent: int, prefix: bytes) -> None:
    header = BlobHeader(1 << exponent, prefix)
    encoded = header.encode()
    assert len(encoded) == HEADER_SIZE
    assert encoded[:8] == b"HNBLOB\x01\x00"
    assert BlobHeader.parse(encoded + b"rest of the blob") == header


@pytest.mark.parametrize(
    ("offset", "value", "where"),
    [
        (0, b"X", 0),  # magic
        (5, b"b", 0),
        (6, b"\x02", 6),  # version
        (6, b"\x00", 6),
        (7, b"\x01", 7),  # reserved
        (8, (2048).to_bytes(4, "big"), 8),  # chunk size too small
        (8, (1 << 25).to_bytes(4, "big"), 8),  # too large
        (8, (4097).to_bytes(4, "big"), 8),  # not a power of two
        (8, bytes(4), 8),
        (19, b"\x01", 19),  # reserved tail
        (23, b"\x80", 19),
    ],
)
def test_bad_headers_are_rejected_before_any_chunk(offset: int, value: bytes, where: int) -> None:
    blob = bytearray(seal(pattern(10)))
    blob[offset : offset + len(value)] = value
    error = integrity_error(bytes(blob))
    assert (error.reason, error.offset, error.code) == ("header", where, "blob_integrity")
    assert isinstance(error, ValidationError)


def test_an_altered_nonce_prefix_fails_chunk_zero() -> None:
    blob = bytearray(seal(pattern(10)))
    blob[12] ^= 1
    error = integrity_error(bytes(blob))
    assert (error.reason, error.chunk_index, error.offset) == ("authentication", 0, HEADER_SIZE)
    assert "header" in error.message


# --- Detection --------------------------------------------------------------------------------------------------


def test_wrong_key() -> None:
    error = integrity_error(seal(pattern(3 * CS)), key=bytes(32))
    assert (error.reason, error.chunk_index, error.offset) == ("authentication", 0, HEADER_SIZE)
    assert "key is wrong" in error.message


def test_tampered_chunk_names_it_and_rules_out_the_key() -> None:
    blob = bytearray(seal(pattern(3 * CS)))
    blob[HEADER_SIZE + FULL + 100] ^= 0x40
    error = integrity_error(bytes(blob))
    assert (error.reason, error.chunk_index, error.offset) == ("authentication", 1, HEADER_SIZE + FULL)
    assert "key" not in error.message


@given(data=st.data())
def test_any_flipped_bit_is_detected(data: st.DataObject) -> None:
    size = data.draw(st.integers(0, 3 * CS))
    blob = bytearray(seal(pattern(size)))
    position = data.draw(st.integers(0, len(blob) - 1))
    blob[position] ^= 1 << data.draw(st.integers(0, 7))
    integrity_error(bytes(blob))


@given(data=st.data())
def test_any_truncation_or_extension_is_detected(data: st.DataObject) -> None:
    blob = seal(pattern(data.draw(st.integers(0, 3 * CS))))
    cut = data.draw(st.integers(0, len(blob) - 1))
    integrity_error(blob[:cut])
    integrity_error(blob + data.draw(st.binary(min_size=1, max_size=FULL + 1)))


def test_truncation_exactly_at_a_chunk_boundary() -> None:
    blob = seal(pattern(3 * CS))
    error = integrity_error(blob[: HEADER_SIZE + 2 * FULL])
    assert (error.reason, error.chunk_index, error.offset) == ("truncated", 2, HEADER_SIZE + 2 * FULL)


def test_truncation_inside_the_header_after_it_and_inside_a_tag() -> None:
    blob = seal(pattern(3 * CS))
    for cut in (0, 10, HEADER_SIZE - 1):
        error = integrity_error(blob[:cut])
        assert (error.reason, error.offset) == ("truncated", cut)
    error = integrity_error(blob[:HEADER_SIZE])
    assert (error.reason, error.chunk_index, error.offset) == ("truncated", 0, HEADER_SIZE)
    error = integrity_error(blob[: HEADER_SIZE + 2 * FULL + 5])
    assert (error.reason, error.chunk_index) == ("truncated", 2)


def test_truncation_inside_a_chunk_names_the_chunk_and_truncation() -> None:
    blob = seal(pattern(3 * CS))
    error = integrity_error(blob[: HEADER_SIZE + FULL + 1000])
    assert (error.reason, error.chunk_index, error.offset) == ("authentication", 1, HEADER_SIZE + FULL)
    assert "truncated" in error.message


@pytest.mark.parametrize("size", [0, 2 * CS, 3 * CS])
@pytest.mark.parametrize("extra_kind", ["byte", "copy of the final chunk"])
def test_extension_after_a_full_final_chunk_is_named_from_the_bytes_alone(size: int, extra_kind: str) -> None:
    blob = seal(pattern(size))
    last_index = chunk_count(size, CS) - 1
    start, _ = chunk_span(last_index, size, CS)
    extra = b"\x00" if extra_kind == "byte" else blob[start:]
    error = integrity_error(blob + extra)
    if size == 0:  # the appended bytes join the empty final chunk
        assert (error.reason, error.chunk_index) == ("authentication", 0)
        assert "appended" in error.message
    else:
        assert (error.reason, error.chunk_index, error.offset) == ("extended", last_index, len(blob))


@pytest.mark.parametrize("size", [0, CS // 2, 2 * CS, 2 * CS + 7])
def test_extension_is_named_by_position_given_the_expected_size(size: int) -> None:
    blob = seal(pattern(size))
    with pytest.raises(BlobIntegrityError) as caught:
        decrypt_bytes(KEY, blob + b"\x00", expected_size=size)
    error = caught.value
    assert (error.reason, error.chunk_index, error.offset) == ("extended", chunk_count(size, CS) - 1, len(blob))
    if size % CS:  # without the expected size, the byte joins the short final chunk: detected, not named
        error = integrity_error(blob + b"\x00")
        assert (error.reason, error.chunk_index) == ("authentication", size // CS)
        assert "appended" in error.message


def test_truncation_is_named_by_position_given_the_expected_size() -> None:
    blob = seal(pattern(3 * CS))
    cut = HEADER_SIZE + FULL + 1000
    with pytest.raises(BlobIntegrityError) as caught:
        decrypt_bytes(KEY, blob[:cut], expected_size=3 * CS)
    assert (caught.value.reason, caught.value.chunk_index, caught.value.offset) == ("truncated", 1, cut)
    assert decrypt_bytes(KEY, blob, expected_size=3 * CS) == pattern(3 * CS)
    with pytest.raises(BlobIntegrityError, match="goes on past byte"):
        decrypt_bytes(KEY, blob, expected_size=3 * CS - 1)
    with pytest.raises(ValidationError, match="negative"):
        Decryptor(KEY, -1)


def test_reordered_chunks() -> None:
    blob = seal(pattern(3 * CS))
    chunks = [blob[HEADER_SIZE + i * FULL : HEADER_SIZE + (i + 1) * FULL] for i in range(3)]
    error = integrity_error(blob[:HEADER_SIZE] + chunks[1] + chunks[0] + chunks[2])
    assert (error.reason, error.chunk_index, error.offset) == ("reordered", 0, HEADER_SIZE)
    assert "chunk 1" in error.message


def test_duplicated_chunk() -> None:
    blob = seal(pattern(3 * CS))
    first = blob[HEADER_SIZE : HEADER_SIZE + FULL]
    error = integrity_error(blob[: HEADER_SIZE + FULL] + first + blob[HEADER_SIZE + FULL :])
    assert (error.reason, error.chunk_index, error.offset) == ("reordered", 1, HEADER_SIZE + FULL)


def test_chunk_from_another_blob_with_the_same_key_does_not_fit() -> None:
    other = seal(pattern(3 * CS), BlobHeader(CS, bytes(7)))
    blob = seal(pattern(3 * CS))
    spliced = blob[: HEADER_SIZE + FULL] + other[HEADER_SIZE + FULL : HEADER_SIZE + 2 * FULL] + blob[-FULL:]
    error = integrity_error(spliced)
    assert (error.reason, error.chunk_index) == ("authentication", 1)


def test_an_authentic_empty_final_chunk_after_full_ones_is_refused() -> None:
    # Another writer could end an exact multiple with an extra empty chunk; the format allows one encoding only.
    blob = HEADER.encode() + raw_chunk(0, pattern(CS), last=False) + raw_chunk(1, b"", last=True)
    error = integrity_error(blob)
    assert (error.reason, error.chunk_index, error.offset) == ("malformed", 1, HEADER_SIZE + FULL)
    with pytest.raises(BlobIntegrityError, match="empty final chunk"):
        decrypt_chunk(KEY, HEADER, 1, raw_chunk(1, b"", last=True), last=True)


def test_decryptor_refuses_input_after_a_failure_and_beyond_the_chunk_limit() -> None:
    blob = bytearray(seal(pattern(3 * CS)))
    blob[HEADER_SIZE] ^= 1
    decryptor = Decryptor(KEY)
    with pytest.raises(BlobIntegrityError):
        decryptor.update(bytes(blob))
    with pytest.raises(ValidationError, match="already failed"):
        decryptor.update(b"more")
    with pytest.raises(ValidationError, match="already failed"):
        decryptor.finish()
    decryptor = Decryptor(KEY)
    decryptor.update(HEADER.encode() + bytes(FULL))
    decryptor._index = MAX_CHUNKS  # reaching it for real would take 16 TiB
    with pytest.raises(BlobIntegrityError, match="more than 2\\*\\*32") as caught:
        decryptor.finish()
    assert caught.value.reason == "malformed"


# --- Random access ----------------------------------------------------------------------------------------------


def test_random_access_detects_a_wrong_last_flag_and_wrong_lengths() -> None:
    blob = seal(pattern(3 * CS))
    start, stop = chunk_span(1, 3 * CS, CS)
    middle, final = blob[start:stop], blob[-FULL:]
    cases = [
        (1, middle, True, ("truncated", 2, stop)),
        (2, final, False, ("extended", 2, len(blob))),
        (1, middle[:-1], False, ("truncated", 1, stop - 1)),
        (1, middle + b"x", False, ("extended", 1, stop)),
        (2, middle[:15], True, ("truncated", 2, start + FULL + 15)),
        (0, middle, False, ("reordered", 0, HEADER_SIZE)),
    ]
    for index, chunk, last, expected in cases:
        with pytest.raises(BlobIntegrityError) as caught:
            decrypt_chunk(KEY, HEADER, index, chunk, last=last)
        assert (caught.value.reason, caught.value.chunk_index, caught.value.offset) == expected
