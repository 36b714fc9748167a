"""The registry of hash kinds, and PDQ's text form and quality checked at the boundary."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hanoinet.errors import ValidationError
from hanoinet.hashbank import kinds
from hanoinet.hashbank.kinds import PDQ, HashKind

# bridge-mods/aaa-orig.jpg in ThreatExchange's PDQ test images.
BRIDGE = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
PDQ_TEXT = re.compile(r"[0-9a-fA-F]{64}")
# Characters a hexadecimal parser might wrongly take for digits: other scripts' digits, full-width letters,
# superscripts, whitespace and prefixes.
LOOKALIKES = "0123456789abcdefABCDEFxX \t\n\u0663\u06f4\u07c2\u0966\uff21\uff46\u00b2_-+gG"


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """A private copy of the registry, so kinds registered by a test do not outlive it."""
    monkeypatch.setattr(kinds, "_REGISTRY", dict(kinds._REGISTRY))


def test_pdq_is_registered_with_meta_parameters() -> None:
    assert kinds.get("pdq") is PDQ
    assert "pdq" in kinds.names()
    assert (PDQ.bits, PDQ.max_distance, PDQ.min_quality) == (256, 31, 50)


def test_unknown_kind_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValidationError) as info:
        kinds.get("photodna")
    assert info.value.code == "unknown_hash_kind"
    assert "'photodna'" in info.value.message
    assert "pdq" in info.value.hint


@pytest.mark.usefixtures("registry")
def test_register_adds_a_kind_and_refuses_a_second_one_with_the_same_name() -> None:
    video = HashKind(name="vpdq", bits=256, max_distance=31, min_quality=50, summary="video")
    assert kinds.register(video) is video
    assert kinds.get("vpdq") is video
    assert kinds.names() == sorted(["pdq", "vpdq"])
    assert kinds.register(video) is video  # registering the same object again is harmless
    with pytest.raises(ValueError, match="already registered"):
        kinds.register(HashKind(name="vpdq", bits=64, max_distance=5, min_quality=0, summary="other"))
    assert kinds.get("vpdq") is video


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"name": "PDQ"}, "lower-case"),
        ({"name": "pdq-2"}, "lower-case"),
        ({"bits": 0}, "multiple of 8"),
        ({"bits": 12}, "multiple of 8"),
        ({"max_distance": 257}, "max_distance"),
        ({"max_distance": -1}, "max_distance"),
        ({"min_quality": 101}, "min_quality"),
    ],
)
def test_a_kind_checks_its_parameters(fields: dict[str, object], error: str) -> None:
    values: dict[str, object] = {"name": "x", "bits": 256, "max_distance": 31, "min_quality": 50, "summary": ""}
    with pytest.raises(ValueError, match=error):
        HashKind(**{**values, **fields})  # type: ignore[arg-type]


def test_parse_accepts_either_case_and_formats_lower_case() -> None:
    code = PDQ.parse(BRIDGE.upper())
    assert code == bytes.fromhex(BRIDGE)
    assert len(code) == 32
    assert PDQ.format(code) == BRIDGE


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (BRIDGE[:63], "63 characters, a PDQ hash has 64"),
        (BRIDGE + "0", "65 characters, a PDQ hash has 64"),
        ("", "0 characters, a PDQ hash has 64"),
        (BRIDGE[:16] + "g" + BRIDGE[17:], "character 17 is 'g', not hexadecimal"),
        ("0x" + BRIDGE, "character 2 is 'x', not hexadecimal"),
        (BRIDGE + "\n", "character 65 is '\\n', not hexadecimal"),
        (" " + BRIDGE[1:], "character 1 is ' ', not hexadecimal"),
        (BRIDGE[:63] + "\u0663", "character 64 is '\u0663', not hexadecimal"),
    ],
)
def test_parse_says_what_is_wrong_and_where(text: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        PDQ.parse(text)
    assert info.value.code == "bad_hash"
    assert message in info.value.message
    assert "64 hexadecimal" in info.value.hint


def test_parse_refuses_bytes() -> None:
    with pytest.raises(ValidationError) as info:
        PDQ.parse(BRIDGE.encode())  # type: ignore[arg-type]
    assert info.value.code == "bad_hash"
    assert "not bytes" in info.value.message


@pytest.mark.parametrize("size", [0, 31, 33])
def test_format_refuses_a_code_of_the_wrong_size(size: int) -> None:
    with pytest.raises(ValidationError) as info:
        PDQ.format(bytes(size))
    assert info.value.code == "bad_hash"


@given(
    st.one_of(
        st.text(),
        st.text(alphabet=LOOKALIKES, min_size=62, max_size=66),
        st.text(alphabet="0123456789abcdefABCDEF", min_size=63, max_size=65),
        st.tuples(st.text(alphabet="0123456789abcdefABCDEF", min_size=64, max_size=64),
                  st.integers(0, 63), st.sampled_from(LOOKALIKES)).map(lambda t: t[0][:t[1]] + t[2] + t[0][t[1] + 1:]),
    )
)
def test_parse_accepts_exactly_64_hexadecimal_characters(text: str) -> None:
    if PDQ_TEXT.fullmatch(text):
        assert PDQ.format(PDQ.parse(text)) == text.lower()
    else:
        with pytest.raises(ValidationError) as info:
            PDQ.parse(text)
        assert info.value.code == "bad_hash"


@given(st.binary(min_size=32, max_size=32))
def test_format_then_parse_round_trips(code: bytes) -> None:
    text = PDQ.format(code)
    assert PDQ_TEXT.fullmatch(text)
    assert text == text.lower()
    assert PDQ.parse(text) == code


@pytest.mark.parametrize(("value", "expected"), [(0, 0), (49, 49), (100, 100), ("50", 50), ("007", 7)])
def test_parse_quality_accepts_integers_0_to_100(value: object, expected: int) -> None:
    assert PDQ.parse_quality(value) == expected


@pytest.mark.parametrize(
    "value", [-1, 101, 1000, "101", "-1", " 50", "5 0", "", "\u0665\u0660", True, 50.0, None, "fifty"],
)
def test_parse_quality_refuses_anything_else(value: object) -> None:
    with pytest.raises(ValidationError) as info:
        PDQ.parse_quality(value)
    assert info.value.code == "bad_quality"


def test_require_quality_refuses_hashes_below_50_for_the_bank() -> None:
    assert PDQ.require_quality(50) == 50
    assert PDQ.require_quality("100") == 100
    with pytest.raises(ValidationError) as info:
        PDQ.require_quality(49)
    assert info.value.code == "low_quality"
    assert "49 is below 50" in info.value.message
    with pytest.raises(ValidationError) as info:
        PDQ.require_quality(150)
    assert info.value.code == "bad_quality"
