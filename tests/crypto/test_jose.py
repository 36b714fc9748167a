"""JWS (Ed25519) and JWE (ECDH-ES+A256KW / A256GCM over X25519) as the protocol uses them."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc.errors import UnsupportedAlgorithmError
from joserfc.jwk import OKPKey

from hanoinet.crypto import jose
from hanoinet.crypto.jose import JoseFailure, b64url_decode, decrypt, encrypt, peek_jws, sign, verify
from hanoinet.crypto.keys import KeyPair, import_public_jwk

TYP = "test+jws"
CTY = "test+jws"
PAYLOAD = b'{"hello":"world","n":1}'

SIGNER = KeyPair.generate("sig")
OTHER_SIGNER = KeyPair.generate("sig")
RECIPIENT = KeyPair.generate("enc")
OTHER_RECIPIENT = KeyPair.generate("enc")
SIGNED = sign(PAYLOAD, SIGNER, typ=TYP)
ENCRYPTED = encrypt(b"secret plaintext", import_public_jwk(RECIPIENT.public, use="enc"), kid=RECIPIENT.kid, cty=CTY)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def header_of(compact: str) -> dict[str, Any]:
    return json.loads(b64url_decode(compact.split(".", 1)[0]))  # type: ignore[no-any-return]


def with_header(compact: str, header: dict[str, Any]) -> str:
    parts = compact.split(".")
    parts[0] = b64(json.dumps(header).encode())
    return ".".join(parts)


def raw_jws(header: dict[str, Any], payload: bytes, key: KeyPair) -> str:
    """A JWS with any header, signed with Ed25519 outside joserfc's algorithm checks."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(payload)}"
    raw = key.key.private_key
    signature = raw.sign(signing_input.encode())  # type: ignore[union-attr]
    return f"{signing_input}.{b64(signature)}"


def sig_public(pair: KeyPair) -> OKPKey:
    return import_public_jwk(pair.public, use="sig")


# --- base64url ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "data"), [("", b""), ("Zg", b"f"), ("Zm8", b"fo"), ("Zm9v", b"foo"), ("-_8", b"\xfb\xff")]
)
def test_b64url_decode(text: str, data: bytes) -> None:
    assert b64url_decode(text) == data


@pytest.mark.parametrize("text", ["Zg==", "Zm8=", "+/8", "Zm9v!", "Zm 9v", "Zm9v\n", "Zm9vé", "Z", "Zm9vY"])
def test_b64url_decode_refuses_padding_and_other_alphabets(text: str) -> None:
    with pytest.raises(ValueError):
        b64url_decode(text)


@pytest.mark.parametrize("text", ["Zh", "Zm9", "-_9"])
def test_b64url_decode_refuses_non_zero_unused_bits(text: str) -> None:
    """``Zh`` decodes to ``f`` like ``Zg`` in lenient decoders; only the canonical text is accepted."""
    with pytest.raises(ValueError):
        b64url_decode(text)


# --- JWS ---------------------------------------------------------------------------------------------------


def test_sign_verify_round_trip() -> None:
    assert verify(SIGNED, sig_public(SIGNER), typ=TYP) == PAYLOAD
    assert verify(SIGNED, SIGNER.key, typ=TYP) == PAYLOAD


def test_header_is_exactly_alg_kid_typ() -> None:
    assert header_of(SIGNED) == {"alg": "Ed25519", "kid": SIGNER.kid, "typ": TYP}


def test_payload_travels_as_is() -> None:
    assert b64url_decode(SIGNED.split(".")[1]) == PAYLOAD


def test_signature_is_plain_ed25519_over_the_signing_input() -> None:
    # Any JOSE library (or a bare Ed25519 implementation) can check our signatures.
    header, payload, signature = SIGNED.split(".")
    public = Ed25519PublicKey.from_public_bytes(b64url_decode(SIGNER.public["x"]))
    public.verify(b64url_decode(signature), f"{header}.{payload}".encode())


def test_peek_returns_header_and_payload_without_verifying() -> None:
    header, payload = peek_jws(SIGNED, typ=TYP)
    assert header["kid"] == SIGNER.kid
    assert payload == PAYLOAD


def test_verify_with_another_key_fails() -> None:
    with pytest.raises(JoseFailure) as info:
        verify(SIGNED, sig_public(OTHER_SIGNER), typ=TYP)
    assert info.value.code == "bad_signature"


def test_sign_refuses_an_encryption_key() -> None:
    with pytest.raises(ValueError, match="'sig' key"):
        sign(PAYLOAD, RECIPIENT, typ=TYP)


def test_wrong_typ_is_refused() -> None:
    with pytest.raises(JoseFailure) as info:
        verify(SIGNED, sig_public(SIGNER), typ="other+jws")
    assert info.value.code == "bad_header"


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "EdDSA", "kid": SIGNER.kid, "typ": TYP},
        {"alg": "none", "kid": SIGNER.kid, "typ": TYP},
        {"alg": "ES256", "kid": SIGNER.kid, "typ": TYP},
        {"alg": "Ed25519", "kid": SIGNER.kid, "typ": TYP, "crit": ["b64"], "b64": False},
        {"alg": "Ed25519", "kid": SIGNER.kid, "typ": TYP, "jwk": SIGNER.public},
        {"alg": "Ed25519", "kid": SIGNER.kid, "typ": TYP, "cty": "json"},
        {"alg": "Ed25519", "typ": TYP},
        {"alg": "Ed25519", "kid": SIGNER.kid},
        {"alg": "Ed25519", "kid": 5, "typ": TYP},
        {"alg": "Ed25519", "kid": None, "typ": TYP},
    ],
)
def test_header_outside_the_allow_list_is_refused(header: dict[str, Any]) -> None:
    compact = raw_jws(header, PAYLOAD, SIGNER)
    with pytest.raises(JoseFailure) as info:
        verify(compact, sig_public(SIGNER), typ=TYP)
    assert info.value.code == "bad_header"


def test_raw_jws_helper_makes_valid_signatures() -> None:
    # The crafted-header tests above would be meaningless if raw_jws produced bad signatures.
    compact = raw_jws({"alg": "Ed25519", "kid": SIGNER.kid, "typ": TYP}, PAYLOAD, SIGNER)
    assert verify(compact, sig_public(SIGNER), typ=TYP) == PAYLOAD


@pytest.mark.parametrize(
    "compact",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        SIGNED + ".x",
        "!!!." + SIGNED.split(".", 1)[1],
        b64(b"[1,2]") + "." + SIGNED.split(".", 1)[1],
        b64(b"not json") + "." + SIGNED.split(".", 1)[1],
        b64(b'{"alg":"Ed25519","alg":"Ed25519","kid":"k","typ":"test+jws"}') + "." + SIGNED.split(".", 1)[1],
    ],
)
def test_malformed_jws_is_refused(compact: str) -> None:
    with pytest.raises(JoseFailure) as info:
        verify(compact, sig_public(SIGNER), typ=TYP)
    assert info.value.code == "malformed"


def test_payload_that_is_not_base64url_is_malformed() -> None:
    header, _, signature = SIGNED.split(".")
    with pytest.raises(JoseFailure) as info:
        peek_jws(f"{header}.a=b.{signature}", typ=TYP)
    assert info.value.code == "malformed"


_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _with_unused_bit(last: str) -> str:
    """The last character of an 86-character segment (64 bytes) with its lowest, unused bit set."""
    return _ALPHABET[_ALPHABET.index(last) | 1]


@pytest.mark.parametrize(
    "change",
    [
        lambda jws: jws + "==",  # the 64-byte signature padded as standard base64 would
        lambda jws: jws + "\n",
        lambda jws: jws[:-1] + _with_unused_bit(jws[-1]),  # the same bytes to a lenient decoder
    ],
    ids=["padded_signature", "trailing_newline", "non_canonical_signature"],
)
def test_signature_segment_that_is_not_strict_base64url_is_malformed(change: Any) -> None:
    with pytest.raises(JoseFailure) as info:
        verify(change(SIGNED), sig_public(SIGNER), typ=TYP)
    assert info.value.code == "malformed"


def test_substituted_payload_fails() -> None:
    header, _, signature = SIGNED.split(".")
    other = b64(b'{"hello":"mallory","n":1}')
    forged = f"{header}.{other}.{signature}"
    with pytest.raises(JoseFailure) as info:
        verify(forged, sig_public(SIGNER), typ=TYP)
    assert info.value.code == "bad_signature"


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_single_bit_flip_breaks_the_jws(data: st.DataObject) -> None:
    position = data.draw(st.integers(min_value=0, max_value=len(SIGNED) - 1), label="position")
    bit = data.draw(st.integers(min_value=0, max_value=6), label="bit")  # stays within ASCII
    flipped = SIGNED[:position] + chr(ord(SIGNED[position]) ^ (1 << bit)) + SIGNED[position + 1:]
    with pytest.raises(JoseFailure):
        verify(flipped, sig_public(SIGNER), typ=TYP)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=len(SIGNED) - 1), st.integers(min_value=0x80, max_value=0x10FFFF))
def test_any_non_ascii_substitution_breaks_the_jws(position: int, codepoint: int) -> None:
    if 0xD800 <= codepoint <= 0xDFFF:
        codepoint = 0xE9
    changed = SIGNED[:position] + chr(codepoint) + SIGNED[position + 1:]
    with pytest.raises(JoseFailure):
        verify(changed, sig_public(SIGNER), typ=TYP)


# --- JWE ---------------------------------------------------------------------------------------------------


def test_encrypt_decrypt_round_trip() -> None:
    result = decrypt(ENCRYPTED, {RECIPIENT.kid: RECIPIENT}, cty=CTY)
    assert result.plaintext == b"secret plaintext"
    assert result.kid == RECIPIENT.kid


def test_decrypt_with_a_lookup_function() -> None:
    asked: list[str] = []

    def lookup(kid: str) -> KeyPair | None:
        asked.append(kid)
        return RECIPIENT if kid == RECIPIENT.kid else None

    assert decrypt(ENCRYPTED, lookup, cty=CTY).plaintext == b"secret plaintext"
    assert asked == [RECIPIENT.kid]


def test_jwe_header() -> None:
    header = header_of(ENCRYPTED)
    assert {k: v for k, v in header.items() if k != "epk"} == {
        "alg": "ECDH-ES+A256KW", "enc": "A256GCM", "kid": RECIPIENT.kid, "cty": CTY,
    }
    assert header["epk"]["kty"] == "OKP"
    assert header["epk"]["crv"] == "X25519"
    assert "d" not in header["epk"]


def test_each_encryption_is_fresh() -> None:
    public = import_public_jwk(RECIPIENT.public, use="enc")
    a = encrypt(b"same", public, kid=RECIPIENT.kid, cty=CTY)
    b = encrypt(b"same", public, kid=RECIPIENT.kid, cty=CTY)
    assert a != b
    assert header_of(a)["epk"] != header_of(b)["epk"]


def test_empty_and_large_plaintexts() -> None:
    public = import_public_jwk(RECIPIENT.public, use="enc")
    for plaintext in (b"", bytes(range(256)) * 1000):
        assert decrypt(encrypt(plaintext, public, kid=RECIPIENT.kid, cty=CTY), {RECIPIENT.kid: RECIPIENT},
                       cty=CTY).plaintext == plaintext


def test_unknown_kid() -> None:
    with pytest.raises(JoseFailure) as info:
        decrypt(ENCRYPTED, {OTHER_RECIPIENT.kid: OTHER_RECIPIENT}, cty=CTY)
    assert info.value.code == "unknown_recipient_key"
    with pytest.raises(JoseFailure) as info:
        decrypt(ENCRYPTED, lambda kid: None, cty=CTY)
    assert info.value.code == "unknown_recipient_key"


def test_right_kid_wrong_key_fails_to_decrypt() -> None:
    with pytest.raises(JoseFailure) as info:
        decrypt(ENCRYPTED, {RECIPIENT.kid: OTHER_RECIPIENT}, cty=CTY)
    assert info.value.code == "decrypt_failed"


def test_cty_mismatch_is_refused() -> None:
    with pytest.raises(JoseFailure) as info:
        decrypt(ENCRYPTED, {RECIPIENT.kid: RECIPIENT}, cty="hanoinet-receipt+jws")
    assert info.value.code == "bad_header"


def _tamper(compact: str, index: int) -> str:
    parts = compact.split(".")
    raw = bytearray(b64url_decode(parts[index]))
    raw[len(raw) // 2] ^= 0x01
    parts[index] = b64(bytes(raw))
    return ".".join(parts)


@pytest.mark.parametrize(("index", "what"), [(1, "encrypted key"), (2, "iv"), (3, "ciphertext"), (4, "tag")])
def test_tampered_parts_fail_to_decrypt(index: int, what: str) -> None:
    with pytest.raises(JoseFailure) as info:
        decrypt(_tamper(ENCRYPTED, index), {RECIPIENT.kid: RECIPIENT}, cty=CTY)
    assert info.value.code == "decrypt_failed", what


def test_header_is_authenticated() -> None:
    # The same header members written differently change the additional authenticated data.
    reserialised = with_header(ENCRYPTED, dict(reversed(list(header_of(ENCRYPTED).items()))))
    assert reserialised != ENCRYPTED
    with pytest.raises(JoseFailure) as info:
        decrypt(reserialised, {RECIPIENT.kid: RECIPIENT}, cty=CTY)
    assert info.value.code == "decrypt_failed"


def test_swapped_epk_fails() -> None:
    other = encrypt(b"x", import_public_jwk(RECIPIENT.public, use="enc"), kid=RECIPIENT.kid, cty=CTY)
    forged = with_header(ENCRYPTED, {**header_of(ENCRYPTED), "epk": header_of(other)["epk"]})
    with pytest.raises(JoseFailure) as info:
        decrypt(forged, {RECIPIENT.kid: RECIPIENT}, cty=CTY)
    assert info.value.code == "decrypt_failed"


@pytest.mark.parametrize(
    "change",
    [
        {"alg": "ECDH-ES"},
        {"alg": "RSA-OAEP-256"},
        {"alg": "dir"},
        {"enc": "A128GCM"},
        {"enc": "A256CBC-HS512"},
        {"zip": "DEF"},
        {"crit": ["exp"]},
        {"jku": "https://evil.example/keys"},
        {"kid": 7},
        {"kid": None},
        {"cty": None},
    ],
)
def test_jwe_header_outside_the_allow_list_is_refused(change: dict[str, Any]) -> None:
    forged = with_header(ENCRYPTED, {**header_of(ENCRYPTED), **change})
    with pytest.raises(JoseFailure) as info:
        decrypt(forged, {RECIPIENT.kid: RECIPIENT}, cty=CTY)
    assert info.value.code == "bad_header"


@pytest.mark.parametrize("missing", ["alg", "enc", "kid", "cty", "epk"])
def test_jwe_header_missing_member_is_refused(missing: str) -> None:
    forged = with_header(ENCRYPTED, {k: v for k, v in header_of(ENCRYPTED).items() if k != missing})
    with pytest.raises(JoseFailure) as info:
        decrypt(forged, {RECIPIENT.kid: RECIPIENT}, cty=CTY)
    assert info.value.code == "bad_header"


@pytest.mark.parametrize(
    "epk",
    [
        None, "x", 5, [], {},
        {"kty": "OKP", "crv": "X25519"},
        {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
        {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"},
        {"kty": "OKP", "crv": "X25519", "x": "AAAA"},
        {"kty": "OKP", "crv": "X25519", "x": "A" * 43 + "="},
        {"kty": "OKP", "crv": "X25519", "x": "A" * 42 + "B"},
        {"kty": "OKP", "crv": "X25519", "x": 12},
    ],
)
def test_malformed_epk_is_a_bad_header(epk: object) -> None:
    forged = with_header(ENCRYPTED, {**header_of(ENCRYPTED), "epk": epk})
    with pytest.raises(JoseFailure) as info:
        decrypt(forged, {RECIPIENT.kid: RECIPIENT}, cty=CTY)
    assert info.value.code == "bad_header"


def test_an_all_zero_epk_fails_to_decrypt() -> None:
    """A well-formed but degenerate point passes the header check; key agreement then fails."""
    forged = with_header(ENCRYPTED, {**header_of(ENCRYPTED), "epk": {"kty": "OKP", "crv": "X25519", "x": "A" * 43}})
    with pytest.raises(JoseFailure) as info:
        decrypt(forged, {RECIPIENT.kid: RECIPIENT}, cty=CTY)
    assert info.value.code == "decrypt_failed"


@pytest.mark.parametrize("index", [0, 1, 2, 3, 4])
def test_jwe_segment_with_padding_is_malformed(index: int) -> None:
    parts = ENCRYPTED.split(".")
    parts[index] += "=" * (-len(parts[index]) % 4 or 4)
    with pytest.raises(JoseFailure) as info:
        decrypt(".".join(parts), {RECIPIENT.kid: RECIPIENT}, cty=CTY)
    assert info.value.code == "malformed"


@pytest.mark.parametrize("suffix", ["\n", "\r\n", " "])
def test_jwe_with_trailing_whitespace_is_malformed(suffix: str) -> None:
    with pytest.raises(JoseFailure) as info:
        decrypt(ENCRYPTED + suffix, {RECIPIENT.kid: RECIPIENT}, cty=CTY)
    assert info.value.code == "malformed"


@pytest.mark.parametrize(
    "compact",
    [
        "",
        "a.b.c.d",
        ENCRYPTED + ".x",
        "!!!." + ENCRYPTED.split(".", 1)[1],
        b64(b"[]") + "." + ENCRYPTED.split(".", 1)[1],
        b64(b"{") + "." + ENCRYPTED.split(".", 1)[1],
        b64(b'{"alg":1.5}') + "." + ENCRYPTED.split(".", 1)[1],
    ],
)
def test_malformed_jwe_is_refused(compact: str) -> None:
    with pytest.raises(JoseFailure) as info:
        decrypt(compact, {RECIPIENT.kid: RECIPIENT}, cty=CTY)
    assert info.value.code == "malformed"


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_single_bit_flip_breaks_the_jwe(data: st.DataObject) -> None:
    position = data.draw(st.integers(min_value=0, max_value=len(ENCRYPTED) - 1), label="position")
    bit = data.draw(st.integers(min_value=0, max_value=7), label="bit")
    flipped = ENCRYPTED[:position] + chr(ord(ENCRYPTED[position]) ^ (1 << bit)) + ENCRYPTED[position + 1:]
    with pytest.raises(JoseFailure):
        decrypt(flipped, {RECIPIENT.kid: RECIPIENT}, cty=CTY)


@pytest.mark.parametrize("alg", ["EdDSA", "Ed448", "ES256", "HS256", "RS256", "none"])
def test_jws_registry_allows_only_ed25519(alg: str) -> None:
    assert jose._JWS_REGISTRY.get_alg("Ed25519").name == "Ed25519"
    with pytest.raises(UnsupportedAlgorithmError):
        jose._JWS_REGISTRY.get_alg(alg)


@pytest.mark.parametrize("alg", ["ECDH-ES", "ECDH-ES+A128KW", "dir", "RSA-OAEP-256", "A256KW"])
def test_jwe_registry_allows_only_ecdh_es_a256kw(alg: str) -> None:
    assert jose._JWE_REGISTRY.get_alg("ECDH-ES+A256KW").name == "ECDH-ES+A256KW"
    with pytest.raises(UnsupportedAlgorithmError):
        jose._JWE_REGISTRY.get_alg(alg)


def test_large_jws_verifies_regression() -> None:
    # Regression: joserfc's default cap (128 000 payload bytes) made a signed directory of more than about
    # a hundred States fail verification, reported as a bad signature.
    payload = b'"' + b"a" * 1_000_000 + b'"'
    assert verify(sign(payload, SIGNER, typ=TYP), sig_public(SIGNER), typ=TYP) == payload


def test_large_jwe_decrypts_regression() -> None:
    # Regression: joserfc's default cap (64 KiB ciphertext) made any envelope over about 67 KB undecryptable,
    # far below the node's 4 MiB envelope limit.
    plaintext = bytes(range(256)) * 12_000
    compact = encrypt(plaintext, import_public_jwk(RECIPIENT.public, use="enc"), kid=RECIPIENT.kid, cty=CTY)
    assert len(compact) > 4_000_000
    assert decrypt(compact, {RECIPIENT.kid: RECIPIENT}, cty=CTY).plaintext == plaintext
