"""UUIDv7 message identifiers (RFC 9562, section 5.7)."""

from __future__ import annotations

import time
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hanoinet.ids import is_uuid7, uuid7

MAX_MS = 2**48 - 1
unix_ms = st.integers(min_value=0, max_value=MAX_MS)


def test_layout_of_a_known_timestamp() -> None:
    text = uuid7(0x0123_4567_89AB)
    value = uuid.UUID(text)
    assert text == str(value)
    assert text.startswith("01234567-89ab-7")
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert value.int >> 80 == 0x0123_4567_89AB
    assert text[19] in "89ab"


def test_default_timestamp_is_now() -> None:
    before = time.time_ns() // 1_000_000
    text = uuid7()
    after = time.time_ns() // 1_000_000
    assert before <= uuid.UUID(text).int >> 80 <= after


def test_ids_are_random_within_one_millisecond() -> None:
    ids = {uuid7(1_700_000_000_000) for _ in range(1000)}
    assert len(ids) == 1000


def test_random_bits_are_used() -> None:
    # 74 random bits: over many ids every random nibble position takes more than one value.
    values = [uuid.UUID(uuid7(5)).int for _ in range(64)]
    rand_a = {(v >> 64) & 0xFFF for v in values}
    rand_b = {v & 0x3FFF_FFFF_FFFF_FFFF for v in values}
    assert len(rand_a) > 1
    assert len(rand_b) == 64


@settings(max_examples=200)
@given(unix_ms)
def test_any_timestamp_gives_a_valid_uuid7(ms: int) -> None:
    text = uuid7(ms)
    value = uuid.UUID(text)
    assert is_uuid7(text)
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert value.int >> 80 == ms
    assert text == text.lower()


@settings(max_examples=200)
@given(unix_ms, unix_ms)
def test_ids_sort_by_timestamp(a: int, b: int) -> None:
    if a < b:
        assert uuid7(a) < uuid7(b)
    elif a > b:
        assert uuid7(a) > uuid7(b)
    else:
        assert uuid7(a)[:13] == uuid7(b)[:13]


def test_increasing_clock_gives_increasing_ids() -> None:
    stamps = [1_700_000_000_000 + i for i in range(0, 5000, 7)]
    ids = [uuid7(ms) for ms in stamps]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize(
    "text",
    [
        "01890a5d-ac96-774b-bcce-b302099a8057",
        "00000000-0000-7000-8000-000000000000",
        "ffffffff-ffff-7fff-bfff-ffffffffffff",
    ],
)
def test_is_uuid7_accepts(text: str) -> None:
    assert is_uuid7(text)


@pytest.mark.parametrize(
    "text",
    [
        "01890A5D-AC96-774B-BCCE-B302099A8057",  # upper case
        str(uuid.UUID(int=0x0189_0A5D_AC96_474B_BCCE_B302_099A_8057)),  # version 4
        "01890a5d-ac96-774b-7cce-b302099a8057",  # variant 0
        "01890a5d-ac96-774b-ccce-b302099a8057",  # variant 110
        "01890a5dac96774bbcceb302099a8057",  # no hyphens
        "{01890a5d-ac96-774b-bcce-b302099a8057}",
        "01890a5d-ac96-774b-bcce-b302099a805",
        "01890a5d-ac96-774b-bcce-b302099a8057\n",  # trailing newline
        "",
        None,
        12,
        b"01890a5d-ac96-774b-bcce-b302099a8057",
    ],
)
def test_is_uuid7_refuses(text: object) -> None:
    assert not is_uuid7(text)


def test_uuid4_is_not_a_uuid7() -> None:
    assert not is_uuid7(str(uuid.uuid4()))


def test_trailing_newline_is_refused_regression() -> None:
    # Regression: the pattern ended in "$", which also matches before a final newline.
    assert not is_uuid7(uuid7() + "\n")
