"""RFC 8785 canonical JSON and the strict protocol JSON parser."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hanoinet.crypto.canonical import MAX_SAFE_INTEGER, canonical_json, parse_json
from hanoinet.errors import ValidationError

safe_ints = st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER)
scalars = st.none() | st.booleans() | safe_ints | st.text()
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5),
    max_leaves=25,
)
bmp_text = st.text(alphabet=st.characters(max_codepoint=0xFFFF, exclude_categories=("Cs",)))
bmp_values = st.recursive(
    st.none() | st.booleans() | safe_ints | bmp_text,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(bmp_text, children, max_size=5),
    max_leaves=25,
)


# --- RFC 8785 examples -------------------------------------------------------------------------------------


def test_rfc8785_sorting_example_orders_keys_by_utf16_code_units() -> None:
    # RFC 8785, section 3.2.3: the emoji (surrogate pair D83D DE00) sorts before U+FB33, unlike code-point order.
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    keys = list(parse_json(canonical_json(value)))
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


def test_brief_ordering_example() -> None:
    assert canonical_json({"\u20ac": 1, "\r": 2, "1": 3, "\u00f6": 4}) == (
        '{"\\r":2,"1":3,"\u00f6":4,"\u20ac":1}'.encode()
    )


def test_rfc8785_string_escaping_and_literals() -> None:
    # RFC 8785, section 3.2.2 (without the numbers, which the protocol does not carry).
    value = {"string": "\u20ac$\u000f\u000aA'\u0042\u0022\u005c\\\"/", "literals": [None, True, False]}
    expected = '{"literals":[null,true,false],"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'.encode()
    assert canonical_json(value) == expected


@pytest.mark.parametrize(
    ("text", "encoded"),
    [
        ("\b", b'"\\b"'),
        ("\f", b'"\\f"'),
        ("\n", b'"\\n"'),
        ("\r", b'"\\r"'),
        ("\t", b'"\\t"'),
        ("\u0000", b'"\\u0000"'),
        ("\u001f", b'"\\u001f"'),
        ("\u007f", b'"\x7f"'),
        ("/", b'"/"'),
        ("\u00e9", '"\u00e9"'.encode()),
        ("\U0001f600", '"\U0001f600"'.encode()),
    ],
)
def test_string_escapes(text: str, encoded: bytes) -> None:
    assert canonical_json(text) == encoded


def test_no_whitespace_and_nested_objects_sorted() -> None:
    assert canonical_json({"b": [1, {"d": 0, "c": None}], "a": "x"}) == b'{"a":"x","b":[1,{"c":null,"d":0}]}'


def test_output_is_utf8_bytes() -> None:
    out = canonical_json({"k": "\u00f6"})
    assert isinstance(out, bytes)
    assert out.decode("utf-8") == '{"k":"\u00f6"}'


# --- the protocol's value space ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", [1.0, 0.5, float("nan"), float("inf"), {"a": [1, {"b": 2.5}]}, [0.0]])
def test_floats_are_refused(value: object) -> None:
    with pytest.raises(ValidationError, match="floating-point"):
        canonical_json(value)


def test_float_refusal_names_the_path_and_hints() -> None:
    with pytest.raises(ValidationError, match=r"\$\.a\[1\]\.b") as info:
        canonical_json({"a": [1, {"b": 2.5}]})
    assert info.value.hint


def test_integers_up_to_the_safe_limit_are_accepted() -> None:
    assert canonical_json(MAX_SAFE_INTEGER) == b"9007199254740991"
    assert canonical_json(-MAX_SAFE_INTEGER) == b"-9007199254740991"


@pytest.mark.parametrize("value", [2**53, -(2**53), 10**30, [2**63], {"n": -(2**60)}])
def test_integers_beyond_the_safe_range_are_refused(value: object) -> None:
    with pytest.raises(ValidationError, match="I-JSON safe range"):
        canonical_json(value)


@pytest.mark.parametrize("value", [(1, 2), {1, 2}, b"bytes", object(), {1: "a"}, {"a": {None: 1}}])
def test_other_python_values_are_refused(value: object) -> None:
    with pytest.raises(ValidationError):
        canonical_json(value)


def test_booleans_are_not_integers() -> None:
    assert canonical_json([True, False, 1, 0]) == b"[true,false,1,0]"


@pytest.mark.parametrize("value", ["\ud800", {"\udc00": 1}, ["ok", "a\udfffb"]])
def test_lone_surrogates_are_refused_as_validation_errors(value: object) -> None:
    # Regression: a lone surrogate used to escape canonical_json as rfc8785.CanonicalizationError (not a
    # ValidationError), and parse_json accepted "\ud800" escapes; I-JSON (RFC 7493 s. 2.1) forbids them.
    with pytest.raises(ValidationError, match="surrogate"):
        canonical_json(value)


# --- parse_json --------------------------------------------------------------------------------------------


def test_parse_json_reads_protocol_json() -> None:
    assert parse_json(b'{"a":[1,-2,"x",true,false,null],"b":{}}') == {
        "a": [1, -2, "x", True, False, None], "b": {},
    }
    assert parse_json('"text"') == "text"


@pytest.mark.parametrize("doc", [b'{"a":1,"a":2}', b'{"x":{"a":1,"a":1}}', b'[{"k":null,"k":null}]'])
def test_parse_json_refuses_duplicate_names(doc: bytes) -> None:
    with pytest.raises(ValidationError, match="duplicate member name"):
        parse_json(doc)


@pytest.mark.parametrize("doc", [b"NaN", b"Infinity", b"-Infinity", b'{"a":NaN}', b"[Infinity]"])
def test_parse_json_refuses_nan_and_infinity(doc: bytes) -> None:
    with pytest.raises(ValidationError, match="not valid JSON"):
        parse_json(doc)


@pytest.mark.parametrize("doc", [b"1.0", b"1e3", b"-0.0", b'{"a":2.5}', b"[1E-7]"])
def test_parse_json_refuses_floats(doc: bytes) -> None:
    with pytest.raises(ValidationError, match="floating-point"):
        parse_json(doc)


@pytest.mark.parametrize("doc", [b"9007199254740992", b"-9007199254740992", b'{"n":100000000000000000000}'])
def test_parse_json_refuses_unsafe_integers(doc: bytes) -> None:
    with pytest.raises(ValidationError, match="I-JSON safe range"):
        parse_json(doc)


@pytest.mark.parametrize("doc", [b"", b"{", b"{'a':1}", b"[1,]", b"\xff\xfe\x00", b"\xc3\x28", b"[" * 100_000])
def test_parse_json_refuses_garbage(doc: bytes) -> None:
    with pytest.raises(ValidationError, match="thing is not valid protocol JSON"):
        parse_json(doc, what="thing")


def test_parse_json_refuses_escaped_lone_surrogates() -> None:
    with pytest.raises(ValidationError, match="surrogate"):
        parse_json(b'{"text":"\\ud800"}')


def test_parse_json_accepts_escaped_surrogate_pairs() -> None:
    assert parse_json(b'"\\ud83d\\ude00"') == "\U0001f600"


# --- properties --------------------------------------------------------------------------------------------


@settings(max_examples=150)
@given(json_values)
def test_canonical_round_trip(value: Any) -> None:
    encoded = canonical_json(value)
    assert parse_json(encoded) == value
    assert canonical_json(parse_json(encoded)) == encoded


@settings(max_examples=100)
@given(st.dictionaries(st.text(), safe_ints, min_size=1, max_size=12))
def test_keys_are_sorted_by_utf16_code_units(value: dict[str, int]) -> None:
    keys = list(parse_json(canonical_json(value)))
    assert keys == sorted(value, key=lambda k: k.encode("utf-16-be"))


@settings(max_examples=100)
@given(bmp_values)
def test_matches_sorted_compact_json_for_bmp_text(value: Any) -> None:
    # Within the Basic Multilingual Plane code-point order equals UTF-16 order, and RFC 8785 escapes
    # exactly what Python's json module escapes when ensure_ascii is off.
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert canonical_json(value) == expected


@settings(max_examples=50)
@given(json_values, st.sampled_from([0.5, -1.25, 1e300]))
def test_a_float_anywhere_is_refused(value: Any, number: float) -> None:
    with pytest.raises(ValidationError):
        canonical_json([value, {"deep": [number]}])


def test_utf16_json_is_refused_regression() -> None:
    # json.loads detects UTF-16/32 on its own; protocol JSON is UTF-8 only (RFC 7493 s. 2.1).
    with pytest.raises(ValidationError):
        parse_json('{"a":"b"}'.encode("utf-16"))
