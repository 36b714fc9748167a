"""The one rule for text and numbers that reach the node, from a person or a peer.

Text is a sequence of Unicode scalar values (no lone surrogate: Python's ``json`` reads ``"\\ud800"`` into a
``str`` that has no UTF-8 form, which the node could store but never write back out), without noncharacters
(I-JSON, RFC 7493 section 2.1) and without control characters (Unicode category Cc: U+0000-U+001F,
U+007F-U+009F). PostgreSQL cannot store NUL; the other controls rewrite a terminal or hide text from the person
reading it. The one exception: text that may span lines keeps tab (U+0009) and line feed (U+000A). That is
every string value of a JSON document unless its field says it is one line (names, references, cases,
subjects: :func:`check_line`); a member name is always one line. A carriage return is refused everywhere: on a
terminal it moves back over what was written; lines end in LF.

Numbers stay within I-JSON's safe range (RFC 7493 section 2.2): integers, and any other number, within
±(2^53 - 1), so JavaScript and every double-based reader see the same value; NaN and infinities are not JSON.
Each field may bound its numbers further.

Every refusal is a :class:`~hanoinet.errors.ValidationError` (HTTP 422) naming the field, with the code
``invalid_text`` or ``invalid_number``. The API applies :func:`parse_json` and :func:`check_value` to every
body, path and query (``api/inputs.py``); protocol JSON applies them to every document
(``crypto/canonical.py``, docs/protocol.md section 2.1).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from hanoinet.errors import ValidationError

#: I-JSON (RFC 7493 s. 2.2): integers beyond this cannot be represented exactly by every implementation.
MAX_SAFE_INTEGER = 2**53 - 1

#: Never in text: controls but tab and line feed, lone surrogates, noncharacters of the BMP.
_NEVER = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")
#: Not in one line: the above, tab and line feed too.
_NOT_IN_LINE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")
#: Characters beyond the BMP, among which the noncharacters U+1FFFE ... U+10FFFF are looked for. A set
#: listing those 32 code points makes the search ten times slower than this range.
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def _first_refused(text: str, *, lines: bool) -> int | None:
    found = (_NEVER if lines else _NOT_IN_LINE).search(text)
    first = found.start() if found is not None else None
    if not text.isascii():
        for astral in _ASTRAL.finditer(text, 0, len(text) if first is None else first):
            if ord(astral.group()) & 0xFFFE == 0xFFFE:
                return astral.start()
    return first


def refused_character(text: str, *, lines: bool) -> tuple[int, str] | None:
    """The position and a description of the first character ``text`` may not hold, or None.

    ``lines``: the text may span lines (tab and line feed allowed).
    """
    position = _first_refused(text, lines=lines)
    if position is None:
        return None
    point = ord(text[position])
    if 0xD800 <= point <= 0xDFFF:
        what = "a lone surrogate, which is not Unicode text"
    elif point in (0x09, 0x0A):
        what = "a line break or tab in a one-line field"
    elif point == 0x0D:
        what = "a carriage return, a line break that can overwrite a line (lines end in a line feed alone)"
    elif point < 0x20 or 0x7F <= point <= 0x9F:
        what = "a control character"
    else:
        what = "a Unicode noncharacter"
    return position, f"U+{point:04X} ({what})"


def check_text(value: str, field: str, *, lines: bool = False) -> str:
    """``value`` if it is text that ``field`` may hold (``lines``: it may span lines); ``invalid_text`` otherwise."""
    bad = refused_character(value, lines=lines)
    if bad is not None:
        position, what = bad
        allowed = "Unicode text, with no control character but tab and line feed" if lines else \
            "one line of Unicode text, with no control character, tab or line break"
        raise ValidationError(f"{field}: character {position + 1} is {what}",
                              hint=f"correct {field}: {allowed}", code="invalid_text")
    return value


def check_line(value: str, field: str = "the field") -> str:
    """``value`` if it is one line of text (:func:`check_text` without line breaks).

    Also a pydantic validator: the error is a ``ValueError``, reported under the field's name.
    """
    return check_text(value, field, lines=False)


def check_number(value: int | float, field: str) -> int | float:
    """``value`` if it is finite and within ±(2^53 - 1); ``invalid_number`` otherwise."""
    if (isinstance(value, float) and not math.isfinite(value)) or abs(value) > MAX_SAFE_INTEGER:
        raise ValidationError(
            f"{field}: the number {_short(value)} is outside the I-JSON safe range, ±(2^53 - 1) = "
            f"±{MAX_SAFE_INTEGER} (RFC 7493 section 2.2)",
            hint=f"correct {field}", code="invalid_number")
    return value


def _short(value: int | float) -> str:
    shown = repr(value)
    return shown if len(shown) <= 24 or isinstance(value, _Oversized) else f"{shown[:10]}... ({len(shown)} digits)"


def member(path: str, name: str) -> str:
    """The path of member ``name`` of the object at ``path`` ('' is the document itself)."""
    return f"{path}.{name}" if path else name


def _fine(value: object, floats: bool) -> bool:
    kind = type(value)
    if kind is str:
        return _first_refused(value, lines=True) is None  # type: ignore[arg-type]
    if kind is int:
        return -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER  # type: ignore[operator]
    if value is None or kind is bool:
        return True
    if kind is float:
        return floats and math.isfinite(value) and abs(value) <= MAX_SAFE_INTEGER  # type: ignore[arg-type]
    if kind is list:
        return all(_fine(item, floats) for item in value)  # type: ignore[attr-defined]
    if kind is dict:
        return all(type(key) is str and _first_refused(key, lines=False) is None and _fine(item, floats)
                   for key, item in value.items())  # type: ignore[attr-defined]
    return False


def check_value(value: object, path: str = "", *, floats: bool = True) -> None:
    """Check every string and number of a decoded JSON value with the rule of this module, naming its path.

    String values may span lines; member names are one line. ``floats``: numbers with a fraction are allowed
    (the API's few seconds-and-fractions fields); protocol JSON has none (docs/protocol.md section 2.1).
    """
    if _fine(value, floats):
        return  # the common case, walked without building a path; a refusal is walked again to name it
    where = path or "the document"
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        check_text(value, where, lines=True)
    elif isinstance(value, int):
        check_number(value, where)
    elif isinstance(value, float):
        if not floats:
            raise ValidationError(f"{where}: floating-point number {value!r} is not allowed in the protocol",
                                  hint="use an integer (e.g. milliseconds, minor currency units) or a decimal string",
                                  code="invalid_number")
        check_number(value, where)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_value(item, f"{path}[{i}]" if path else f"[{i}]", floats=floats)
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValidationError(f"{where}: object key {key!r} is not a string", code="invalid_text")
            check_text(key, f"{where}: the member name {key[:40]!r}", lines=False)
            check_value(item, member(path, key), floats=floats)
    else:
        raise ValidationError(f"{where}: {type(value).__name__} cannot be written as JSON")


def _no_constant(text: str) -> Any:
    raise ValueError(f"{text} is not valid JSON")


class _Oversized(int):
    """An integer too long to read (Python refuses over 4300 digits), kept only to be refused with its path.

    Its value is just outside the safe range, so every check of the range refuses it; it shows its digits.
    """

    shown: str

    def __new__(cls, digits: str) -> _Oversized:
        value = super().__new__(cls, -(MAX_SAFE_INTEGER + 1) if digits.startswith("-") else MAX_SAFE_INTEGER + 1)
        value.shown = f"{digits[:10]}... ({len(digits.lstrip('-'))} digits)"
        return value

    def __repr__(self) -> str:
        return self.shown

    __str__ = __repr__


def _integer(digits: str) -> int:
    # Any integer over 16 digits is out of range: it is not converted, however long it is.
    return _Oversized(digits) if len(digits.lstrip("-")) > 16 else int(digits)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicate member name {key[:40]!r}")
        obj[key] = value
    return obj


def _no_float(text: str) -> Any:
    raise ValueError(f"floating-point number {text} is not allowed in the protocol")


def decode(data: bytes | str, *, floats: bool = True) -> Any:
    """Parse I-JSON strictly, without :func:`check_value`; a ``ValueError`` saying what is wrong otherwise.

    Refused: not UTF-8, not JSON, ``NaN`` or ``Infinity``, a member name twice (RFC 7493 section 2.3);
    ``floats=False`` also refuses numbers with a fraction or an exponent.
    """
    if isinstance(data, bytes):
        # json.loads would also detect UTF-16 and UTF-32; I-JSON (RFC 7493 s. 2.1) is UTF-8 only.
        data = data.decode("utf-8")
    if floats:
        return json.loads(data, parse_constant=_no_constant, parse_int=_integer, object_pairs_hook=_no_duplicates)
    return json.loads(data, parse_constant=_no_constant, parse_int=_integer, object_pairs_hook=_no_duplicates,
                      parse_float=_no_float)


def parse_json(data: bytes | str, *, what: str = "the body", floats: bool = True) -> Any:
    """Parse I-JSON strictly (:func:`decode`, refused as ``invalid``), then :func:`check_value` it.

    Strings and numbers outside the rule are refused as ``invalid_text`` or ``invalid_number``, naming the
    member (``fields.facts``, ``images[0].quality``).
    """
    try:
        value = decode(data, floats=floats)
    except (ValueError, RecursionError) as exc:
        raise ValidationError(f"{what} is not valid JSON: {exc}", hint="send UTF-8 I-JSON (RFC 7493)") from None
    check_value(value, floats=floats)
    return value
