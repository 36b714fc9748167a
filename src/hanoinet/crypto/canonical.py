"""RFC 8785 canonical JSON, restricted to the protocol's value space.

The protocol carries no floats (their canonical form is a classic source of cross-language mismatches), and
integers stay within the I-JSON safe range (RFC 7493, section 2.2) so every language reads them exactly.
"""

from __future__ import annotations

from typing import Any

import rfc8785

from hanoinet.errors import ValidationError
from hanoinet.text import MAX_SAFE_INTEGER, decode

__all__ = ["MAX_SAFE_INTEGER", "JSONValue", "canonical_json", "parse_json"]

JSONValue = None | bool | int | str | list["JSONValue"] | dict[str, "JSONValue"]


def _check_text(text: str, path: str) -> None:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError(f"{path}: text contains a lone surrogate, which I-JSON forbids") from None


def _check(value: object, path: str) -> None:
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        _check_text(value, path)
        return
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise ValidationError(f"{path}: integer {value} is outside the I-JSON safe range")
        return
    if isinstance(value, float):
        raise ValidationError(
            f"{path}: floating-point number {value!r} is not allowed in the protocol",
            hint="use an integer (e.g. milliseconds, minor currency units) or a decimal string",
        )
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check(item, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValidationError(f"{path}: object key {key!r} is not a string")
            _check_text(key, path)
            _check(item, f"{path}.{key}")
        return
    raise ValidationError(f"{path}: {type(value).__name__} cannot be written as protocol JSON")


def canonical_json(value: Any) -> bytes:
    """Serialise ``value`` as RFC 8785 canonical JSON (UTF-8), refusing floats and unsafe integers."""
    _check(value, "$")
    return bytes(rfc8785.dumps(value))


def parse_json(data: bytes | str, *, what: str = "document") -> Any:
    """Parse protocol JSON strictly: UTF-8 only, no floats, no NaN/Infinity, no duplicate names (RFC 7493)."""
    try:
        value = decode(data, floats=False)
        _check(value, "$")
    except (ValueError, RecursionError) as exc:
        raise ValidationError(f"{what} is not valid protocol JSON: {exc}") from None
    return value
