"""JWS and JWE as the protocol uses them, on ``joserfc`` with explicit, minimal algorithm registries.

- Signatures: JWS compact serialization, ``alg`` = ``Ed25519`` (RFC 9864, the fully specified successor of
  RFC 8037's ``EdDSA``). joserfc's default registry refuses EdDSA algorithms, so ours names exactly one.
- Encryption: JWE compact serialization, ``alg`` = ``ECDH-ES+A256KW`` over X25519 (RFC 8037 s. 3.2),
  ``enc`` = ``A256GCM``; the recipient key is named by ``kid``.

Every header is checked against an allow-list before any key is used, and each JWS carries a ``typ`` so
that one kind of signed object (a receipt, say) can never be passed off as another (an envelope).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from joserfc import jwe, jws
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

from hanoinet.crypto.canonical import parse_json
from hanoinet.crypto.keys import KeyPair
from hanoinet.errors import HanoinetError, ValidationError

JWS_ALG = "Ed25519"
JWE_ALG = "ECDH-ES+A256KW"
JWE_ENC = "A256GCM"

_JWS_REGISTRY = jws.JWSRegistry(algorithms=[JWS_ALG])
_JWE_REGISTRY = jwe.JWERegistry(algorithms=[JWE_ALG, JWE_ENC])
#: joserfc caps a JWS payload at 128 000 bytes and a JWE ciphertext at 64 KiB by default, which a directory
#: of every State or an envelope within the node's max_envelope_bytes exceeds. The callers bound sizes
#: (open_envelope checks its limit before any cryptography), so the library caps are raised out of the way.
_MAX_OBJECT_BYTES = 1 << 30
_JWS_REGISTRY.max_payload_length = _MAX_OBJECT_BYTES
_JWE_REGISTRY.max_ciphertext_length = _MAX_OBJECT_BYTES

_JWS_HEADER_MEMBERS = frozenset({"alg", "kid", "typ"})
_JWE_HEADER_MEMBERS = frozenset({"alg", "enc", "kid", "cty", "epk"})


class JoseFailure(HanoinetError):
    """A JWS or JWE failed to parse, verify or decrypt; ``code`` says which step."""

    code = "bad_jose"


_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def b64url_decode(text: str) -> bytes:
    """Strict base64url without padding (RFC 7515 s. 2), in its canonical form only (RFC 4648 s. 3.5).

    Refused: ``=``, any character outside ``A-Z a-z 0-9 - _`` (whitespace and line ends included), a length
    of 1 modulo 4, and unused trailing bits that are not zero, so that exactly one text encodes given bytes
    and every implementation accepts the same segments (docs/protocol.md section 2.7).
    """
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii") != text:
        raise ValueError("not canonical base64url: unused trailing bits are not zero")
    return data


def _check_segments(segments: list[str], what: str) -> None:
    """Every segment must be strict base64url, checked before anything is parsed or any key used."""
    for position, segment in enumerate(segments, start=1):
        try:
            b64url_decode(segment)
        except (ValueError, binascii.Error):
            raise JoseFailure(f"{what} part {position} is not unpadded base64url (RFC 7515 s. 2)",
                              code="malformed") from None


def _protected_header(compact: str, parts: int, what: str) -> dict[str, Any]:
    segments = compact.split(".")
    if len(segments) != parts:
        raise JoseFailure(f"{what} must have {parts} dot-separated parts, found {len(segments)}",
                          code="malformed")
    _check_segments(segments, what)
    try:
        header = parse_json(b64url_decode(segments[0]), what=f"{what} protected header")
    except (ValueError, binascii.Error, ValidationError) as exc:
        raise JoseFailure(f"{what} protected header is unreadable: {exc}", code="malformed") from None
    if not isinstance(header, dict):
        raise JoseFailure(f"{what} protected header is not a JSON object", code="malformed")
    return header


def sign(payload: bytes, key: KeyPair, *, typ: str) -> str:
    """Sign ``payload`` (already canonical JSON) as a compact JWS with header {alg, kid, typ}."""
    if key.use != "sig":
        raise ValueError("signing needs a 'sig' key")
    header = {"alg": JWS_ALG, "kid": key.kid, "typ": typ}
    return jws.serialize_compact(header, payload, key.key, registry=_JWS_REGISTRY)


def peek_jws(compact: str, *, typ: str) -> tuple[dict[str, Any], bytes]:
    """Header and payload of a compact JWS *without* verifying it; only to find the key to verify with."""
    header = _protected_header(compact, 3, "JWS")
    if set(header) != _JWS_HEADER_MEMBERS or header["alg"] != JWS_ALG or header["typ"] != typ:
        raise JoseFailure(
            f"JWS header must be exactly alg={JWS_ALG}, kid, typ={typ}; got {header}", code="bad_header"
        )
    if not isinstance(header["kid"], str):
        raise JoseFailure("JWS kid must be a string", code="bad_header")
    return header, b64url_decode(compact.split(".")[1])


def verify(compact: str, public_key: OKPKey, *, typ: str) -> bytes:
    """Verify a compact JWS with the given Ed25519 public key and return its payload bytes."""
    peek_jws(compact, typ=typ)
    try:
        obj = jws.deserialize_compact(compact, public_key, registry=_JWS_REGISTRY)
    except (JoseError, ValueError) as exc:
        raise JoseFailure(f"signature does not verify: {exc}", code="bad_signature") from None
    return bytes(obj.payload)


def encrypt(plaintext: bytes, recipient: OKPKey, *, kid: str, cty: str) -> str:
    """Encrypt to a recipient's X25519 public key as a compact JWE (ECDH-ES+A256KW, A256GCM)."""
    header = {"alg": JWE_ALG, "enc": JWE_ENC, "kid": kid, "cty": cty}
    return jwe.encrypt_compact(header, plaintext, recipient, registry=_JWE_REGISTRY)


def _is_x25519_key(x: object) -> bool:
    if not isinstance(x, str):
        return False
    try:
        return len(b64url_decode(x)) == 32
    except (ValueError, binascii.Error):
        return False


@dataclass(frozen=True, slots=True)
class Decrypted:
    """The plaintext of a JWE and the key id it was encrypted to."""

    kid: str
    plaintext: bytes


def decrypt(
    compact: str, keys: Mapping[str, KeyPair] | Callable[[str], KeyPair | None], *, cty: str
) -> Decrypted:
    """Decrypt a compact JWE with one of our X25519 keys, chosen by the header's ``kid``."""
    header = _protected_header(compact, 5, "JWE")
    if (
        set(header) != _JWE_HEADER_MEMBERS
        or header.get("alg") != JWE_ALG
        or header.get("enc") != JWE_ENC
        or header.get("cty") != cty
        or not isinstance(header.get("kid"), str)
    ):
        raise JoseFailure(
            f"JWE header must be exactly alg={JWE_ALG}, enc={JWE_ENC}, kid, cty={cty}, epk; got "
            f"{ {k: v for k, v in header.items() if k != 'epk'} }",
            code="bad_header",
        )
    epk = header["epk"]
    if not (isinstance(epk, dict) and set(epk) == {"kty", "crv", "x"} and epk["kty"] == "OKP"
            and epk["crv"] == "X25519" and _is_x25519_key(epk["x"])):
        raise JoseFailure("JWE epk must be an OKP X25519 public key {kty, crv, x} with x the base64url of "
                          "32 bytes", code="bad_header")
    kid = header["kid"]
    key = keys(kid) if callable(keys) else keys.get(kid)
    if key is None:
        raise JoseFailure(f"JWE is encrypted to key {kid}, which this node does not hold",
                          code="unknown_recipient_key")
    try:
        obj = jwe.decrypt_compact(compact, key.key, registry=_JWE_REGISTRY)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise JoseFailure(f"JWE does not decrypt: {exc!r}", code="decrypt_failed") from None
    assert obj.plaintext is not None
    return Decrypted(kid=kid, plaintext=bytes(obj.plaintext))
