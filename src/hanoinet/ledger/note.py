"""C2SP signed notes (c2sp.org/signed-note): text signed by one or more named keys.

A signed note is the note text (UTF-8, ending in a newline), a blank line, then one or more signature lines::

    If you think cryptography is the answer to your problem,
    then you don't know what your problem is.

    — PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=

Each signature line is an em dash (U+2014), a space, the key name, a space, and the base64 of the 4-byte
big-endian key ID followed by the signature. The key ID is the first four bytes of
``SHA-256(key name || 0x0A || signature type || public key)``; this module signs with type ``0x01`` (Ed25519
over the note text) and lets other signature types plug in through :class:`NoteSigner` and
:class:`NoteVerifier` (``hanoinet.ledger.cosignature`` adds the type ``0x04`` witness cosignature).

Pure code: bytes in, parsed and verified objects out. Behaviour follows golang.org/x/mod/sumdb/note (the
reference implementation) except where noted as stricter: canonical base64 and lowercase hex only, no
control characters in key names, a size limit on the whole note, and refusal of two different signature
values by the same known key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hanoinet.errors import ValidationError

#: Signature type byte of plain Ed25519 note signatures (c2sp.org/signed-note, "Signature types").
ALG_ED25519 = 0x01

#: Refuse notes larger than this. The spec asks verifiers to bound a note and to accept at least 16
#: signatures of up to ~5 kB (post-quantum); 1 MB is torchwood's bound on a checkpoint (maxCheckpointSize).
MAX_NOTE_BYTES = 1_000_000

#: Refuse notes with more signature lines than this (the bound golang.org/x/mod/sumdb/note uses; the spec
#: requires at least 16 to be accepted).
MAX_SIGNATURES = 100

#: The prefix of every signature line: em dash U+2014 and a space.
SIGNATURE_PREFIX = "\u2014 "

ED25519_PUBLIC_KEY_SIZE = 32
ED25519_SIGNATURE_SIZE = 64

# Unicode White_Space characters (what Go's unicode.IsSpace tests): a key name "MUST NOT contain any Unicode
# spaces" (c2sp.org/signed-note, "Format").
_UNICODE_SPACES = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_HEX8 = re.compile(r"[0-9a-f]{8}", re.ASCII)


class NoteError(ValidationError):
    """A signed note, a signature line or a key string is malformed; ``code`` names the rule broken."""

    code = "note_malformed"


class NoteVerificationError(NoteError):
    """A note is well formed but its signatures do not establish it: none verifies, or one is wrong."""

    code = "note_unverified"


# --- signer and verifier interfaces ---------------------------------------------------------------------------


@runtime_checkable
class NoteSigner(Protocol):
    """Anything that can add one signature line to a note: a log key, a witness key."""

    @property
    def name(self) -> str:
        """The key name written on the signature line."""
        ...

    @property
    def key_id(self) -> int:
        """The 32-bit key ID written before the signature."""
        ...

    def sign(self, text: bytes) -> bytes:
        """The signature bytes (without the key ID) over the note text ``text``, which ends in a newline."""
        ...


@runtime_checkable
class NoteVerifier(Protocol):
    """Anything that can check the signature lines of one known key."""

    @property
    def name(self) -> str:
        """The key name that signature lines of this key carry."""
        ...

    @property
    def key_id(self) -> int:
        """The 32-bit key ID that signature lines of this key carry."""
        ...

    def verify(self, text: bytes, signature: bytes) -> bool:
        """Whether ``signature`` (without the key ID) is this key's valid signature of the note text."""
        ...


# --- names and key IDs ----------------------------------------------------------------------------------------


def is_valid_key_name(name: str) -> bool:
    """Whether ``name`` may name a key: non-empty, no Unicode space, no ``+``, no control character, valid UTF-8.

    The spec forbids spaces and ``+`` (c2sp.org/signed-note, "Format"); control characters are refused too,
    because a note containing one can never be opened.
    """
    if not name or "+" in name or any(c in _UNICODE_SPACES for c in name) or _CONTROL.search(name):
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


def check_key_name(name: str) -> None:
    """Refuse a key name :func:`is_valid_key_name` rejects, with code ``note_key_name``."""
    if not isinstance(name, str) or not is_valid_key_name(name):
        raise NoteError(
            f"{name!r} is not a valid key name",
            hint="use a non-empty name without spaces or '+', such as a schema-less URL (example.org/log)",
            code="note_key_name",
        )


def compute_key_id(name: str, signature_type: int, public_key: bytes) -> int:
    """``SHA-256(name || 0x0A || signature type || public key)[:4]`` as a big-endian integer.

    The key ID the spec recommends, and requires for Ed25519 (c2sp.org/signed-note, "Signatures").
    Preconditions: ``name`` is a valid key name; ``signature_type`` is a byte (0..255).
    """
    check_key_name(name)
    if not 0 <= signature_type <= 0xFF:
        raise NoteError(f"signature type {signature_type} is not a byte", code="note_signature_type")
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([signature_type]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def encode_verifier_key(name: str, signature_type: int, public_key: bytes) -> str:
    """The verifier key string ``<name>+<hex key ID>+<base64(signature type || public key)>``.

    The format of golang.org/x/mod/sumdb/note (``NewVerifier``), used for every C2SP key type ("vkey").
    """
    key_id = compute_key_id(name, signature_type, public_key)
    return f"{name}+{key_id:08x}+{base64.b64encode(bytes([signature_type]) + public_key).decode('ascii')}"


def decode_verifier_key(vkey: str) -> tuple[str, int, int, bytes]:
    """Split a verifier key string into ``(name, key ID, signature type, public key)``.

    Checks the syntax and that the key ID is the one computed from the other parts; the caller checks the
    signature type and key length it supports.
    """
    if not isinstance(vkey, str):
        raise NoteError("a verifier key must be a string", code="verifier_key_malformed")
    name, _, rest = vkey.partition("+")
    hex_id, _, key64 = rest.partition("+")
    if not _HEX8.fullmatch(hex_id):
        raise NoteError(
            f"verifier key {vkey!r} does not have the form <name>+<8 lowercase hex digits>+<base64 key>",
            hint="copy the verifier key exactly as its owner published it",
            code="verifier_key_malformed",
        )
    if not is_valid_key_name(name):
        raise NoteError(f"verifier key {vkey!r} has an invalid key name {name!r}",
                        hint="a key name is non-empty and has no spaces or '+'", code="verifier_key_malformed")
    raw = strict_b64decode(key64)
    if raw is None or not raw:
        raise NoteError(f"the key of verifier key {vkey!r} is not canonical base64", code="verifier_key_malformed")
    key_id = int(hex_id, 16)
    if compute_key_id(name, raw[0], raw[1:]) != key_id:
        raise NoteError(
            f"verifier key {vkey!r}: the key ID {hex_id} does not match the name and key",
            hint="the verifier key was altered or mistyped; obtain it again from its owner",
            code="verifier_key_id_mismatch",
        )
    return name, key_id, raw[0], raw[1:]


def strict_b64decode(text: str) -> bytes | None:
    """Standard base64 (RFC 4648, section 4) with padding, or ``None`` if ``text`` is not its canonical form.

    Canonical means re-encoding gives back ``text``: non-zero unused bits in the last character are refused,
    so that one byte string has exactly one encoding and no byte of a signed note can change unnoticed.
    """
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None
    return raw if base64.b64encode(raw).decode("ascii") == text else None


# --- Ed25519 keys -----------------------------------------------------------------------------------------------


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True, slots=True, kw_only=True)
class Verifier:
    """An Ed25519 (type ``0x01``) note verifier: a key name and a 32-byte public key.

    Build it from a verifier key string with :meth:`from_vkey`, or from the parts.
    """

    name: str
    public_key: bytes
    key_id: int = field(init=False)
    _key: Ed25519PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if not isinstance(self.public_key, bytes) or len(self.public_key) != ED25519_PUBLIC_KEY_SIZE:
            raise NoteError("an Ed25519 public key is 32 bytes", code="verifier_key_malformed")
        object.__setattr__(self, "key_id", compute_key_id(self.name, ALG_ED25519, self.public_key))
        object.__setattr__(self, "_key", Ed25519PublicKey.from_public_bytes(self.public_key))

    @classmethod
    def from_vkey(cls, vkey: str) -> Verifier:
        """Parse ``<name>+<hex key ID>+<base64(0x01 || public key)>`` (golang.org/x/mod/sumdb/note format)."""
        name, _, signature_type, key = decode_verifier_key(vkey)
        if signature_type != ALG_ED25519:
            raise NoteError(
                f"verifier key {vkey!r} has signature type {signature_type:#04x}, not Ed25519 (0x01)",
                hint="a witness key (type 0x04) belongs in hanoinet.ledger.cosignature.CosignatureVerifier",
                code="verifier_key_algorithm",
            )
        if len(key) != ED25519_PUBLIC_KEY_SIZE:
            raise NoteError(f"verifier key {vkey!r} does not hold a 32-byte Ed25519 key", code="verifier_key_malformed")
        return cls(name=name, public_key=key)

    @property
    def vkey(self) -> str:
        """The verifier key string to publish."""
        return encode_verifier_key(self.name, ALG_ED25519, self.public_key)

    def verify(self, text: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is a valid Ed25519 signature of ``text`` by this key (RFC 8032)."""
        if len(signature) != ED25519_SIGNATURE_SIZE:
            return False
        try:
            self._key.verify(signature, text)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True, slots=True, kw_only=True)
class Signer:
    """An Ed25519 (type ``0x01``) note signer: a key name and a private key. Keep it secret."""

    name: str
    private_key: Ed25519PrivateKey = field(repr=False)
    key_id: int = field(init=False)

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if not isinstance(self.private_key, Ed25519PrivateKey):
            raise NoteError("a note signer needs an Ed25519 private key", code="signer_key")
        object.__setattr__(self, "key_id", compute_key_id(self.name, ALG_ED25519, self.public_key))

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte public key."""
        return _raw_public(self.private_key.public_key())

    @property
    def verifier(self) -> Verifier:
        """The matching verifier (publish ``verifier.vkey``)."""
        return Verifier(name=self.name, public_key=self.public_key)

    def sign(self, text: bytes) -> bytes:
        """The 64-byte Ed25519 signature of the note text."""
        return self.private_key.sign(text)


# --- parsed notes -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One signature line: key name, key ID, and the signature bytes that follow the key ID."""

    name: str
    key_id: int
    signature: bytes

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if not 0 <= self.key_id <= 0xFFFFFFFF:
            raise NoteError(f"key ID {self.key_id} does not fit in 32 bits", code="note_signature_line")
        if not self.signature:
            raise NoteError("a signature line carries at least one signature byte", code="note_signature_line")

    @property
    def encoded(self) -> str:
        """``base64(key ID || signature)`` as written on the line."""
        return base64.b64encode(self.key_id.to_bytes(4, "big") + self.signature).decode("ascii")

    @property
    def line(self) -> str:
        """The whole signature line, newline included."""
        return f"{SIGNATURE_PREFIX}{self.name} {self.encoded}\n"


@dataclass(frozen=True, slots=True)
class SignedNote:
    """A note as written: text and signature lines, in order, none of them checked yet."""

    text: str
    signatures: tuple[NoteSignature, ...]

    def to_bytes(self) -> bytes:
        """Serialise (the inverse of :func:`parse_signed_note`)."""
        return format_signed_note(self.text, self.signatures)


@dataclass(frozen=True, slots=True)
class Note:
    """An opened note: its text, the signatures that verified, and those by keys the reader does not know."""

    text: str
    signatures: tuple[NoteSignature, ...]
    unverified: tuple[NoteSignature, ...] = ()

    def to_bytes(self) -> bytes:
        """Serialise with the verified signatures first, then the unverified ones (as Go's ``note.Sign``)."""
        return format_signed_note(self.text, self.signatures + self.unverified)


def check_note_text(text: str) -> None:
    """Refuse a note text that cannot be signed: it must end in a newline and hold no control character.

    c2sp.org/signed-note, "Format": "a text ending in newline"; "MUST NOT contain any ASCII control
    characters (those below U+0020) other than newline".
    """
    if not isinstance(text, str) or not text.endswith("\n"):
        raise NoteError("the note text must end with a newline", code="note_text")
    if _CONTROL.search(text):
        raise NoteError("the note text contains a control character", hint="only newline is allowed",
                        code="note_control_character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise NoteError("the note text is not valid Unicode (lone surrogate)", code="note_not_utf8") from None


def parse_signed_note(data: bytes) -> SignedNote:
    """Split a signed note into text and signature lines, checking the format but no signature.

    Refuses (``NoteError``, code in brackets): more than :data:`MAX_NOTE_BYTES` [``note_too_large``], invalid
    UTF-8 [``note_not_utf8``], a control character other than newline [``note_control_character``], no blank
    line before a signature block ending in newline [``note_malformed``], a line that is not
    ``— <name> <base64>`` with a valid name and canonical base64 of at least five bytes
    [``note_signature_line``], more than :data:`MAX_SIGNATURES` lines [``note_too_many_signatures``].
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise NoteError("a signed note is bytes", code="note_malformed")
    data = bytes(data)
    if len(data) > MAX_NOTE_BYTES:
        raise NoteError(f"the note is {len(data)} bytes, more than the {MAX_NOTE_BYTES} accepted",
                        code="note_too_large")
    try:
        message = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NoteError(f"the note is not valid UTF-8 (byte {exc.start})", code="note_not_utf8") from None
    if (bad := _CONTROL.search(message)) is not None:
        raise NoteError(f"the note contains control character {bad.group()!r} at {bad.start()}",
                        hint="only newline is allowed (c2sp.org/signed-note)", code="note_control_character")
    # "the text is separated from the signatures by the last empty line in the note"
    split = message.rfind("\n\n")
    if split < 0:
        raise NoteError("the note has no blank line before its signatures", code="note_malformed")
    text, block = message[: split + 1], message[split + 2 :]
    if not block or not block.endswith("\n"):
        raise NoteError("the note has no signature lines, or its last line does not end in a newline",
                        code="note_malformed")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"the note has {len(lines)} signature lines, more than the {MAX_SIGNATURES} accepted",
                        code="note_too_many_signatures")
    return SignedNote(text, tuple(_parse_signature_line(line) for line in lines))


def _parse_signature_line(line: str) -> NoteSignature:
    bad = NoteError(f"{line[:80]!r} is not a signature line '— <key name> <base64 signature>'",
                    code="note_signature_line")
    if not line.startswith(SIGNATURE_PREFIX):
        raise bad
    name, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
    raw = strict_b64decode(encoded)
    if not is_valid_key_name(name) or raw is None or len(raw) < 5:
        raise bad
    return NoteSignature(name, int.from_bytes(raw[:4], "big"), raw[4:])


def format_signed_note(text: str, signatures: Sequence[NoteSignature]) -> bytes:
    """The signed note bytes: ``text``, a blank line, and one line per signature, in the given order.

    Preconditions: ``text`` passes :func:`check_note_text`; there are 1..:data:`MAX_SIGNATURES` signatures; the
    result is at most :data:`MAX_NOTE_BYTES`.
    """
    check_note_text(text)
    if not signatures:
        raise NoteError("a signed note needs at least one signature", code="note_malformed")
    if len(signatures) > MAX_SIGNATURES:
        raise NoteError(f"more than {MAX_SIGNATURES} signatures", code="note_too_many_signatures")
    data = (text + "\n" + "".join(s.line for s in signatures)).encode("utf-8")
    if len(data) > MAX_NOTE_BYTES:
        raise NoteError(f"the signed note would be {len(data)} bytes, more than {MAX_NOTE_BYTES}",
                        code="note_too_large")
    return data


# --- signing and opening ----------------------------------------------------------------------------------------


def sign_note(text: str, signers: Sequence[NoteSigner], *, keep: Sequence[NoteSignature] = ()) -> bytes:
    """Sign ``text`` with every signer and return the signed note.

    ``keep`` lists signatures already on the note (a witness adding its cosignature keeps the log's); they are
    written first, in order, except those by a key (name and key ID) that signs again here, which are
    replaced -- the behaviour of golang.org/x/mod/sumdb/note ``Sign``.

    Preconditions: ``text`` ends in a newline and has no control character; at least one signer; no two
    signers with the same name and key ID.
    """
    check_note_text(text)
    if not signers:
        raise NoteError("sign_note needs at least one signer", code="note_no_signers")
    fresh: list[NoteSignature] = []
    seen: set[tuple[str, int]] = set()
    body = text.encode("utf-8")
    for signer in signers:
        check_key_name(signer.name)
        ident = (signer.name, signer.key_id)
        if ident in seen:
            raise NoteError(f"two signers share the name {signer.name!r} and key ID {signer.key_id:08x}",
                            code="note_duplicate_signer")
        seen.add(ident)
        fresh.append(NoteSignature(signer.name, signer.key_id, signer.sign(body)))
    kept = [s for s in keep if (s.name, s.key_id) not in seen]
    return format_signed_note(text, kept + fresh)


def open_note(data: bytes, verifiers: Iterable[NoteVerifier]) -> Note:
    """Parse a signed note and verify it against known keys.

    Follows c2sp.org/signed-note, "Signatures": a line is by a known key when both its name and key ID match
    a verifier; lines by unknown keys are ignored but kept (``Note.unverified``); a line by a known key must
    verify, or the whole note is refused; at least one must verify. Identical repeated lines count once.

    Refuses with :class:`NoteError` for the format (see :func:`parse_signed_note`), for an empty verifier list
    [``note_no_verifiers``], or for two different verifiers with the same name and key ID
    [``note_ambiguous_verifiers``]; with :class:`NoteVerificationError` when a known key's signature fails
    [``note_signature_invalid``], a known key signed twice with different values [``note_conflicting_signatures``],
    or no known key signed [``note_unverified``].
    """
    known: dict[tuple[str, int], NoteVerifier] = {}
    for verifier in verifiers:
        ident = (verifier.name, verifier.key_id)
        if ident in known and known[ident] != verifier:
            raise NoteError(f"two different verifiers have the name {verifier.name!r} and key ID "
                            f"{verifier.key_id:08x}", hint="remove one of them from the trusted keys",
                            code="note_ambiguous_verifiers")
        known[ident] = verifier
    if not known:
        raise NoteError("no verifier was given, so no note can be opened", code="note_no_verifiers")
    note = parse_signed_note(data)
    text = note.text.encode("utf-8")
    verified: dict[tuple[str, int], NoteSignature] = {}
    unverified: dict[NoteSignature, None] = {}  # ordered set
    for sig in note.signatures:
        ident = (sig.name, sig.key_id)
        key = known.get(ident)
        if key is None:
            unverified.setdefault(sig)
            continue
        if ident in verified:
            if verified[ident] != sig:
                raise NoteVerificationError(
                    f"key {sig.name}+{sig.key_id:08x} signed the note twice with different signatures",
                    code="note_conflicting_signatures")
            continue
        if not key.verify(text, sig.signature):
            raise NoteVerificationError(
                f"the signature by key {sig.name}+{sig.key_id:08x} does not verify",
                hint="the note was altered after signing, or it was signed with another key of the same name",
                code="note_signature_invalid")
        verified[ident] = sig
    if not verified:
        names = ", ".join(sorted({f"{s.name}+{s.key_id:08x}" for s in note.signatures}))
        raise NoteVerificationError(f"the note carries no signature by a trusted key (signed by {names})",
                                    hint="check that the signer's verifier key is configured",
                                    code="note_unverified")
    return Note(note.text, tuple(verified.values()), tuple(unverified))
