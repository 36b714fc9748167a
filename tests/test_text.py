"""The one rule for text and numbers (hanoinet.text), against a reference written from its definition."""

from __future__ import annotations

import json
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hanoinet import text
from hanoinet.errors import ValidationError
from hanoinet.text import MAX_SAFE_INTEGER


def allowed(char: str, *, lines: bool) -> bool:
    """The rule as the module docstring states it, one character at a time."""
    point = ord(char)
    if lines and char in "\t\n":
        return True
    noncharacter = 0xFDD0 <= point <= 0xFDEF or point & 0xFFFE == 0xFFFE
    return unicodedata.category(char) not in ("Cc", "Cs") and not noncharacter


@given(st.text(), st.booleans())
def test_the_checker_agrees_with_the_definition(value: str, lines: bool) -> None:
    expected = next((i for i, c in enumerate(value) if not allowed(c, lines=lines)), None)
    found = text.refused_character(value, lines=lines)
    assert (found[0] if found else None) == expected


def refused() -> st.SearchStrategy[str]:
    return st.one_of(st.characters(max_codepoint=0x1F).filter(lambda c: c not in "\t\n"),
                     st.characters(min_codepoint=0x7F, max_codepoint=0x9F), st.characters(categories=["Cs"]),
                     st.sampled_from(["\ufdd0", "\ufdef", "\ufffe", "\uffff", "\U0001fffe", "\U0010ffff"]))


@given(st.text(max_size=20), refused(), st.text(max_size=20), st.booleans())
def test_a_refused_character_is_named_with_its_field_and_position(before: str, bad: str, after: str,
                                                                  lines: bool) -> None:
    with pytest.raises(ValidationError) as info:
        text.check_text(before + bad + after, "fields.facts", lines=lines)
    assert info.value.code == "invalid_text"
    first = text.refused_character(before + bad, lines=lines)
    assert first is not None
    assert info.value.message.startswith(f"fields.facts: character {first[0] + 1} is U+")


@pytest.mark.parametrize("value", ["Xin chào\nCảm ơn\tbạn", "emoji \U0001f600", "مرحبا", "\u200d", ""])
def test_text_of_any_script_with_lines_passes(value: str) -> None:
    assert text.check_text(value, "text", lines=True) == value


@pytest.mark.parametrize("value", ["a\nb", "a\tb", "a\rb"])
def test_one_line_refuses_breaks_and_tabs(value: str) -> None:
    with pytest.raises(ValidationError, match="name: character 2"):
        text.check_line(value, "name")


def test_a_carriage_return_is_refused_even_where_lines_are_allowed() -> None:
    with pytest.raises(ValidationError, match="carriage return"):
        text.check_text("one\r\ntwo", "text", lines=True)


@given(st.integers())
def test_integers_within_the_safe_range_and_no_others(n: int) -> None:
    if abs(n) <= MAX_SAFE_INTEGER:
        assert text.check_number(n, "n") == n
    else:
        with pytest.raises(ValidationError, match="I-JSON safe range") as info:
            text.check_number(n, "n")
        assert info.value.code == "invalid_number"


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), 1e30, -(2.0**53)])
def test_numbers_with_a_fraction_are_bounded_too(value: float) -> None:
    with pytest.raises(ValidationError):
        text.check_number(value, "n")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20)


def reference_ok(value: object) -> bool:
    if isinstance(value, str):
        return all(allowed(c, lines=True) for c in value)
    if isinstance(value, list):
        return all(reference_ok(v) for v in value)
    if isinstance(value, dict):
        return all(all(allowed(c, lines=False) for c in k) and reference_ok(v) for k, v in value.items())
    return True


@given(json_values)
def test_parsing_refuses_exactly_what_the_rule_refuses(value: object) -> None:
    data = json.dumps(value, ensure_ascii=True)  # lone surrogates as escapes, as a client may send them
    if reference_ok(value):
        assert text.parse_json(data) == value
    else:
        with pytest.raises(ValidationError) as info:
            text.parse_json(data)
        assert info.value.code == "invalid_text"


@pytest.mark.parametrize(("data", "where"), [('{"a":[1,{"b":"\\u0000"}]}', "a[1].b"), ('["\\ud800"]', "[0]"),
                                             ('{"x\\n":1}', "the member name"), ('{"n":-9007199254740992}', "n"),
                                             ('{"n":1' + "0" * 5000 + "}", "n: the number 1000000000... (5001")])
def test_a_refusal_names_the_member(data: str, where: str) -> None:
    with pytest.raises(ValidationError) as info:
        text.parse_json(data)
    assert where in info.value.message, info.value.message


@pytest.mark.parametrize("data", ["NaN", '{"a":Infinity}', '{"a":1,"a":2}', "1.5e400", b"\xff", b'"\xed\xa0\x80"'])
def test_what_is_not_i_json_is_refused(data: str | bytes) -> None:
    with pytest.raises(ValidationError):
        text.parse_json(data)


def test_protocol_json_has_no_fractions() -> None:
    assert text.parse_json("1.5") == 1.5
    with pytest.raises(ValidationError, match="floating-point"):
        text.parse_json("1.5", floats=False)
