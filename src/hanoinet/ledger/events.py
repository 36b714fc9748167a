"""Custody events: what the ledger records, and the leaf each one becomes (pure).

A custody event says who did what to which object, when, where and for which case. Its record is RFC 8785
canonical JSON; the ledger's leaf is the SHA-256 of that record, never the record itself, so a record holding
personal data can later be redacted or shredded while every proof over the log stays valid (docs/ledger.md).

Records are written on every custody change, so they take a fast path through the standard library's C JSON
encoder where its output is provably the RFC 8785 form (see :func:`_canonical`); anything else goes through
the general canonical encoder (``hanoinet.crypto.canonical``).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hanoinet.clock import Instant
from hanoinet.crypto.canonical import canonical_json, parse_json
from hanoinet.errors import ValidationError
from hanoinet.states import StateCode

#: What can happen to an object in custody. Later capabilities add theirs with :func:`register_action`.
ACTIONS: set[str] = {"collected", "ingested", "sealed", "sent", "received", "opened", "exported", "shredded",
                     "redacted"}
#: A retention period set on a file by the State that holds it (docs/privacy.md, "Retention").
ACTIONS.add("retention_set")
_ACTION = re.compile(r"^[a-z][a-z_]{2,31}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SAFE_INTEGER = 2**53 - 1
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False,
                            check_circular=False)


def register_action(name: str) -> str:
    """Add a custody action (lower snake case, 3-32 characters); returns it."""
    if not _ACTION.fullmatch(name):
        raise ValueError(f"custody action {name!r} must be lower snake case, 3-32 characters")
    ACTIONS.add(name)
    return name


class CustodyEvent(BaseModel):
    """One custody event as recorded; field names are the record's JSON names."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    type: Literal["hanoinet-custody-event"] = "hanoinet-custody-event"
    v: Literal[1] = 1
    action: str
    at: Instant
    #: The State whose node recorded the event (where it happened).
    node: StateCode
    #: Who: ``officer:ID``, ``peer:STATE`` or ``system``.
    actor: str = Field(min_length=1, max_length=100)
    #: Which object: the SHA-256 (hex) of the evidence file, envelope or package concerned, if any.
    object_sha256: str | None = None
    case: str | None = Field(default=None, max_length=128)
    #: Anything else the action needs, flat and without floats (the protocol has none).
    detail: dict[str, str | int | bool] = Field(default_factory=dict)

    @field_validator("action")
    @classmethod
    def _action(cls, value: str) -> str:
        if value not in ACTIONS:
            raise ValueError(f"unknown custody action {value!r}; known: {', '.join(sorted(ACTIONS))}")
        return value

    @field_validator("object_sha256")
    @classmethod
    def _sha256(cls, value: str | None) -> str | None:
        if value is not None and not _SHA256.fullmatch(value):
            raise ValueError("object_sha256 must be 64 lower-case hexadecimal characters")
        return value

    @field_validator("detail")
    @classmethod
    def _detail(cls, value: dict[str, str | int | bool]) -> dict[str, str | int | bool]:
        for name, item in value.items():
            # I-JSON (RFC 7493): integers beyond 2**53 - 1 do not survive every JSON reader.
            if isinstance(item, int) and not isinstance(item, bool) and abs(item) > _SAFE_INTEGER:
                raise ValueError(f"detail {name!r}: {item} is outside the I-JSON safe integer range")
        return value

    def record(self) -> bytes:
        """The canonical record (RFC 8785), the bytes the leaf commits to."""
        return _canonical(self.model_dump(mode="json"))


def _plain(value: object) -> bool:
    if type(value) is int:
        return abs(value) <= _SAFE_INTEGER
    return value is None or type(value) is str or type(value) is bool


def _canonical(record: dict[str, Any]) -> bytes:
    r"""RFC 8785 form of a record: the C ``json`` encoder where its output is the same bytes, else the general one.

    The fast path takes a record whose members (fixed ASCII names) are exact ``str``, ``bool``, ``None`` or
    safe ``int`` values and one ``detail`` object of such values whose names have no code point above U+FFFF.
    For those, ``json`` with these options writes what RFC 8785 section 3.2 prescribes: no whitespace;
    ``null``, ``true``, ``false``; integers in plain decimal (the ECMAScript form of every integer below
    10^21); strings with only ``"``, ``\`` and U+0000..U+001F escaped, as ``\b \t \n \f \r`` or ``\u00xx``
    in lower-case hexadecimal, and everything else (DEL, U+2028, non-ASCII) as itself in UTF-8; members
    sorted by code point, which is the UTF-16 code unit order of section 3.2.3 as long as no name needs a
    surrogate pair. A lone surrogate fails the strict UTF-8 encoding; the general encoder then reports it.
    tests/ledger/test_events.py compares the two encoders on generated records (hypothesis).
    """
    detail = record.get("detail")
    if (type(detail) is dict and all(_plain(v) for k, v in record.items() if k != "detail")
            and all(type(k) is str and (k.isascii() or max(k) <= "\uffff") and _plain(v) for k, v in detail.items())):
        try:
            return _ENCODER.encode(record).encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: the general encoder says where
    return canonical_json(record)


def leaf_data(record: bytes) -> bytes:
    """The ledger entry for a record: its SHA-256 (32 bytes). The Merkle leaf hash is taken over these bytes."""
    return hashlib.sha256(record).digest()


def parse_record(record: bytes) -> CustodyEvent:
    """Read a record back, refusing anything that is not exactly its canonical form."""
    try:
        event = CustodyEvent.model_validate(parse_json(record, what="custody record"))
    except ValueError as exc:
        raise ValidationError(f"not a custody record: {exc}", code="bad_record") from None
    if event.record() != record:
        raise ValidationError("the custody record is not in canonical form (RFC 8785)", code="bad_record",
                              hint="a record is hashed byte for byte; re-encoding it changes its leaf")
    return event
