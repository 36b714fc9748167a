"""The registry of hash kinds the bank holds: how each kind's hashes are written, compared and admitted.

States share perceptual hashes, never images, of child sexual abuse material (Convention, Art. 14) and of
intimate images shared without consent (Art. 16); platforms hash their uploads and match them against the bank.
Each kind of hash is a :class:`HashKind` added with :func:`register`; the bank refuses a kind it does not know
(:func:`get`), so a State never stores hashes no member can match.

PDQ is Meta's 256-bit image hash (``pdq/README.md`` and ``hashing.pdf`` in facebook/ThreatExchange): written as
64 hexadecimal digits, most significant first; two images match when the Hamming distance of their hashes is at
most 31 (inclusive), and a hash whose quality (0-100, from the image's gradients) is below 50 is too unreliable
to share. These are the values of ThreatExchange's own ``PdqSignal`` (``PDQ_CONFIDENT_MATCH_THRESHOLD``,
``QUALITY_THRESHOLD``), so the bank agrees with the hashes and matches of the platforms that use it.

Kinds whose text form is not fixed-width hexadecimal (vPDQ's per-frame lists, TMK+PDQF's feature vectors)
subclass :class:`HashKind` and override :meth:`HashKind.parse` and :meth:`HashKind.format`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hanoinet.errors import ValidationError

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_QUALITY = re.compile(r"^[0-9]{1,3}$")
#: Quality is a score out of 100 for every kind (PDQ, and vPDQ per frame).
MAX_QUALITY = 100


@dataclass(frozen=True, slots=True)
class HashKind:
    """A kind of perceptual hash: a fixed number of bits, written as hexadecimal, matched by Hamming distance.

    ``max_distance`` is inclusive: two hashes match when they differ in at most that many bits. Hashes whose
    quality is below ``min_quality`` are refused for the bank (:meth:`require_quality`).
    """

    name: str
    bits: int
    max_distance: int
    min_quality: int
    summary: str

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"hash kind name {self.name!r} must be lower-case letters, digits and '_'")
        if self.bits <= 0 or self.bits % 8:
            raise ValueError(f"hash kind {self.name!r}: bits must be a positive multiple of 8, not {self.bits}")
        if not 0 <= self.max_distance <= self.bits:
            raise ValueError(f"hash kind {self.name!r}: max_distance must be within 0..{self.bits}")
        if not 0 <= self.min_quality <= MAX_QUALITY:
            raise ValueError(f"hash kind {self.name!r}: min_quality must be within 0..{MAX_QUALITY}")

    @property
    def _label(self) -> str:
        return self.name.upper()

    def parse(self, text: str) -> bytes:
        """The hash written as ``text`` (hexadecimal, either case), as bytes; ``bad_hash`` saying where it is wrong.

        Nothing is trimmed: a space or a ``0x`` prefix is refused with its position (1-based).
        """
        digits = self.bits // 4
        hint = f"a {self._label} hash is {digits} hexadecimal characters (0-9, a-f), with no prefix or spaces"
        if not isinstance(text, str):
            raise ValidationError(f"a {self._label} hash must be text, not {type(text).__name__}", hint=hint,
                                  code="bad_hash")
        # Where it goes wrong within the expected length first (the more useful message), but never a walk
        # through an arbitrarily long text.
        for position, char in enumerate(text[:digits + 1], start=1):
            if char not in _HEX_DIGITS:
                raise ValidationError(f"{self._label} hash: character {position} is {char!r}, not hexadecimal",
                                      hint=hint, code="bad_hash")
        if len(text) != digits:
            raise ValidationError(f"{self._label} hash: {len(text)} characters, a {self._label} hash has {digits}",
                                  hint=hint, code="bad_hash")
        return bytes.fromhex(text)

    def format(self, code: bytes) -> str:
        """The text form of a hash: lower-case hexadecimal, most significant bit first."""
        if len(code) * 8 != self.bits:
            raise ValidationError(f"a {self._label} hash is {self.bits // 8} bytes, not {len(code)}",
                                  hint="pass the bytes returned by parse() or by the hasher", code="bad_hash")
        return code.hex()

    def parse_quality(self, value: object) -> int:
        """A quality score: an integer (or its decimal digits) from 0 to 100; ``bad_quality`` otherwise."""
        hint = f"the quality of a {self._label} hash is an integer from 0 to {MAX_QUALITY}, as the hasher reports it"
        if isinstance(value, str) and _QUALITY.fullmatch(value):
            value = int(value)
        # bool is an int subclass, but True is no score.
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValidationError(f"{self._label} quality {value!r} is not an integer", hint=hint, code="bad_quality")
        if not 0 <= value <= MAX_QUALITY:
            raise ValidationError(f"{self._label} quality {value} is outside 0..{MAX_QUALITY}", hint=hint,
                                  code="bad_quality")
        return value

    def require_quality(self, value: object) -> int:
        """A quality good enough for the bank (at least ``min_quality``); ``bad_quality`` or ``low_quality``."""
        quality = self.parse_quality(value)
        if quality < self.min_quality:
            raise ValidationError(
                f"{self._label} quality {quality} is below {self.min_quality}: the hash is too unreliable to share",
                hint="hash a larger or more detailed copy of the image (flat or tiny images have low quality)",
                code="low_quality",
            )
        return quality


_REGISTRY: dict[str, HashKind] = {}


def register(kind: HashKind) -> HashKind:
    """Add a kind; names are unique."""
    if kind.name in _REGISTRY and _REGISTRY[kind.name] is not kind:
        raise ValueError(f"hash kind {kind.name!r} is already registered")
    _REGISTRY[kind.name] = kind
    return kind


def get(name: str) -> HashKind:
    """The registered kind ``name``; ``unknown_hash_kind`` (listing the known ones) otherwise."""
    kind = _REGISTRY.get(name)
    if kind is None:
        raise ValidationError(f"hash kind {name!r} is not known to this node",
                              hint=f"known hash kinds: {', '.join(names())}", code="unknown_hash_kind")
    return kind


def names() -> list[str]:
    """Registered kind names, sorted."""
    return sorted(_REGISTRY)


PDQ = register(HashKind(
    name="pdq", bits=256, max_distance=31, min_quality=50,
    summary="PDQ image hash (Meta): 256 bits, match at Hamming distance <= 31, quality >= 50",
))
