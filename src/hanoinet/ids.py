"""UUIDv7 message identifiers (RFC 9562, section 5.7): time-ordered, 74 random bits."""

from __future__ import annotations

import os
import re
import time
import uuid

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def uuid7(unix_ms: int | None = None) -> str:
    """A new UUIDv7 as its lowercase text form."""
    ts = time.time_ns() // 1_000_000 if unix_ms is None else unix_ms
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ts & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a (12 bits)
    value |= 0b10 << 62  # variant
    value |= rand & 0x3FFF_FFFF_FFFF_FFFF  # rand_b (62 bits)
    return str(uuid.UUID(int=value))


def is_uuid7(text: object) -> bool:
    """Whether ``text`` is the lowercase text form of a UUIDv7."""
    return isinstance(text, str) and bool(_UUID.fullmatch(text))
