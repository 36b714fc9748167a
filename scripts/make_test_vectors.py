"""Build ``docs/test-vectors.json``: worked examples of the node-to-node protocol from fixed keys.

Every key below is derived from a fixed, published 32-byte seed. THESE KEYS ARE FOR TESTS ONLY: anybody can
rebuild them from this file, so nothing they sign or encrypt is secret or authentic.

Everything is built with the node's own code (``hanoinet.network.directory``, ``hanoinet.network.envelope``,
``hanoinet.network.receipt``, ``hanoinet.crypto``), so the vectors are what the implementation produces.
Ed25519 signatures are deterministic, so every JWS is reproducible byte for byte. A JWE is not (fresh
ephemeral key, content key and IV): the file records one instance of each, and a rebuild reuses the recorded
instance as long as it still decrypts to the expected JWS, so re-running the script leaves the file unchanged.

Usage::

    .venv/bin/python scripts/make_test_vectors.py            # write docs/test-vectors.json
    .venv/bin/python scripts/make_test_vectors.py --check    # exit 1 if the file is not what would be written
    .venv/bin/python scripts/make_test_vectors.py --fresh-jwe  # draw new JWE instances
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap
from joserfc.jwk import OKPKey

from hanoinet import PROTOCOL_VERSION
from hanoinet.clock import parse_instant
from hanoinet.crypto import jose
from hanoinet.crypto.canonical import canonical_json
from hanoinet.crypto.keys import KeyPair, thumbprint
from hanoinet.errors import HanoinetError
from hanoinet.network.directory import (
    Authority,
    Declaration,
    Desk,
    Directory,
    DirectoryDocument,
    KeyEntry,
    MemberCard,
    sign_card,
    sign_directory,
    verify_card,
)
from hanoinet.network.envelope import MESSAGE_TYP, EnvelopePayload, Limits, open_envelope, seal, sha256_hex
from hanoinet.network.receipt import Receipt, sign_receipt, verify_receipt

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "docs" / "test-vectors.json"

WARNING = (
    "TEST ONLY. Every private key in this file is derived from a published seed. Never use these keys, or "
    "anything they sign or encrypt, outside tests."
)

#: Fixed seeds: the raw 32-byte private keys (RFC 8032 seed for Ed25519, RFC 7748 scalar for X25519).
SEEDS: dict[str, tuple[str, bytes]] = {
    "authority": ("sig", bytes(range(0, 32))),
    "VNM_sig": ("sig", bytes(range(32, 64))),
    "VNM_enc": ("enc", bytes(range(64, 96))),
    "FRA_sig": ("sig", bytes(range(96, 128))),
    "FRA_enc": ("enc", bytes(range(128, 160))),
}

KEY_NOT_BEFORE = "2025-12-01T00:00:00.000Z"
KEY_NOT_AFTER = "2027-12-01T00:00:00.000Z"
CARD_ISSUED_AT = "2025-12-15T10:00:00.000Z"
DIRECTORY_ISSUED_AT = "2026-01-01T00:00:00.000Z"
DIRECTORY_EXPIRES_AT = "2027-01-01T00:00:00.000Z"
DIRECTORY_GRACE_SECONDS = 7 * 86400

MESSAGE_ID = "019cade2-11c0-7123-8456-789abcdef012"  # UUIDv7; its timestamp is MESSAGE_CREATED
MESSAGE_CREATED = "2026-03-02T09:30:00.000Z"
RECEIVED_AT = "2026-03-02T09:30:01.250Z"
#: The receiver's clock when it opens the envelopes (the ``now`` of open_envelope).
OPENED_AT = "2026-03-02T09:30:01.000Z"
MAX_ENVELOPE_BYTES = 4 * 1024 * 1024
MAX_MESSAGE_AGE_SECONDS = 7 * 86400


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515 s. 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Inverse of :func:`b64url`."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_pair(name: str) -> KeyPair:
    """The fixed test key ``name`` (see :data:`SEEDS`)."""
    use, seed = SEEDS[name]
    raw = Ed25519PrivateKey.from_private_bytes(seed) if use == "sig" else X25519PrivateKey.from_private_bytes(seed)
    return KeyPair(use=use, key=OKPKey.import_key(raw))  # type: ignore[arg-type]


def _key_vector(name: str) -> dict[str, Any]:
    use, seed = SEEDS[name]
    pair = key_pair(name)
    public = pair.public
    private = {**public, "d": str(pair.key.as_dict(private=True)["d"])}
    thumbprint_input = canonical_json({"crv": public["crv"], "kty": public["kty"], "x": public["x"]})
    if pair.kid != thumbprint(public) or pair.kid != b64url(hashlib.sha256(thumbprint_input).digest()):
        raise AssertionError(f"{name}: kid is not the RFC 7638 thumbprint")
    return {
        "TEST_ONLY": True,
        "use": use,
        "seed_hex": seed.hex(),
        "private_jwk": private,
        "public_jwk": public,
        "thumbprint_input": thumbprint_input.decode("ascii"),
        "kid": pair.kid,
    }


def _entry(name: str) -> KeyEntry:
    pair = key_pair(name)
    return KeyEntry(kid=pair.kid, use=pair.use, jwk=pair.public, not_before=KEY_NOT_BEFORE, not_after=KEY_NOT_AFTER)


def _cards() -> dict[str, MemberCard]:
    vnm = MemberCard(
        state="VNM", name="Viet Nam (TEST ONLY)", endpoint="https://vnm.hanoinet.example:8401",
        keys=[_entry("VNM_sig"), _entry("VNM_enc")],
        desks=[
            Desk(id="247", name="24/7 point of contact", languages=["vi", "en"],
                 fallback_phones=["+84 24 0000 0000"]),
            Desk(id="CA", name="Central authority", languages=["vi", "en"]),
        ],
        declarations=[
            Declaration(article="40", kind="notification", effect="accepted_languages",
                        params={"languages": ["vi", "en"]},
                        text="Illustrative notification for the test vectors only."),
        ],
        signed_on="2025-10-25", issued_at=CARD_ISSUED_AT,
    )
    fra = MemberCard(
        state="FRA", name="France (TEST ONLY)", endpoint="https://fra.hanoinet.example",
        keys=[_entry("FRA_sig"), _entry("FRA_enc")],
        desks=[
            Desk(id="247", name="Point de contact 24/7", languages=["fr", "en"],
                 fallback_phones=["+33 1 00 00 00 00"]),
            Desk(id="CA", name="Autorité centrale", languages=["fr"]),
        ],
        declarations=[
            Declaration(article="42", kind="reservation", effect="dual_criminality_required",
                        params={"except_articles": ["7", "8", "9", "10", "11"], "applies_to_preservation": True},
                        text="Illustrative reservation for the test vectors only."),
        ],
        signed_on="2025-10-25", issued_at=CARD_ISSUED_AT,
    )
    return {"FRA": fra, "VNM": vnm}


def _signed_object(payload: dict[str, Any], compact: str) -> dict[str, Any]:
    """A signed document: its JSON, canonical bytes (as UTF-8 text), hashes and the JWS."""
    canonical = canonical_json(payload)
    header, _, signature = compact.split(".")
    return {
        "payload": payload,
        "canonical": canonical.decode("utf-8"),
        "canonical_sha256": sha256_hex(canonical),
        "jws_protected_header": b64url_decode(header).decode("ascii"),
        "jws_signing_input_sha256": sha256_hex(".".join(compact.split(".")[:2]).encode("ascii")),
        "jws_signature_hex": b64url_decode(signature).hex(),
        "jws": compact,
        "jws_sha256": sha256_hex(compact.encode("ascii")),
    }


def _concat_kdf(z: bytes, alg: str, bits: int) -> bytes:
    """RFC 7518 s. 4.6.2 Concat KDF with SHA-256, empty apu and apv (one round suffices for 256 bits)."""
    alg_id = alg.encode("ascii")
    other_info = (
        len(alg_id).to_bytes(4, "big") + alg_id
        + (0).to_bytes(4, "big")  # PartyUInfo: no apu
        + (0).to_bytes(4, "big")  # PartyVInfo: no apv
        + bits.to_bytes(4, "big")  # SuppPubInfo: keydatalen in bits
    )
    return hashlib.sha256((1).to_bytes(4, "big") + z + other_info).digest()[: bits // 8]


def jwe_intermediates(compact: str, recipient: X25519PrivateKey) -> dict[str, Any]:
    """Decrypt a protocol JWE step by step with plain primitives, recording every intermediate value."""
    header_b64, encrypted_key_b64, iv_b64, ciphertext_b64, tag_b64 = compact.split(".")
    header = json.loads(b64url_decode(header_b64))
    epk = X25519PublicKey.from_public_bytes(b64url_decode(header["epk"]["x"]))
    z = recipient.exchange(epk)
    kek = _concat_kdf(z, header["alg"], 256)
    cek = aes_key_unwrap(kek, b64url_decode(encrypted_key_b64))
    iv = b64url_decode(iv_b64)
    aad = header_b64.encode("ascii")
    plaintext = AESGCM(cek).decrypt(iv, b64url_decode(ciphertext_b64) + b64url_decode(tag_b64), aad)
    return {
        "protected_header": b64url_decode(header_b64).decode("ascii"),
        "shared_secret_z_hex": z.hex(),
        "kek_hex": kek.hex(),
        "encrypted_key_hex": b64url_decode(encrypted_key_b64).hex(),
        "cek_hex": cek.hex(),
        "iv_hex": iv.hex(),
        "aad": aad.decode("ascii"),
        "tag_hex": b64url_decode(tag_b64).hex(),
        "plaintext_sha256": sha256_hex(plaintext),
    }


def _decrypts_to(compact: object, jws: str) -> bool:
    if not isinstance(compact, str):
        return False
    try:
        fra_enc = key_pair("FRA_enc")
        return jose.decrypt(compact, {fra_enc.kid: fra_enc}, cty=MESSAGE_TYP).plaintext == jws.encode("ascii")
    except HanoinetError:
        return False


def _encrypt_to_fra(jws: str, recorded: object) -> str:
    """The recorded JWE if it still carries ``jws`` to FRA's key, else a fresh encryption."""
    if _decrypts_to(recorded, jws):
        assert isinstance(recorded, str)
        return recorded
    fra_enc = _entry("FRA_enc")
    return jose.encrypt(jws.encode("ascii"), fra_enc.public_key(), kid=fra_enc.kid, cty=MESSAGE_TYP)


def _payload_dict(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "v": PROTOCOL_VERSION,
        "id": MESSAGE_ID,
        "kind": "note.text",
        "from": "VNM/247",
        "to": "FRA/247",
        "created": MESSAGE_CREATED,
        "case": "VNM-2026-0001",
        "body": {
            "subject": "Preservation needed: account fraud",
            "text": "Xin chào. Please preserve the account \"example-user\" at the provider.\nThank you.",
            "language": "en",
        },
    }
    payload.update(changes)
    return payload


def _negative_cases() -> list[tuple[str, str, str, str]]:
    """(name, expected refusal code, what it shows, inner JWS) for envelopes a receiver must refuse."""
    vnm = key_pair("VNM_sig")
    good = canonical_json(_payload_dict())

    def signed(payload: bytes, key: KeyPair = vnm, typ: str = MESSAGE_TYP) -> str:
        return jose.sign(payload, key, typ=typ)

    def canonical(**changes: Any) -> bytes:
        return canonical_json(_payload_dict(**changes))

    without_case = _payload_dict()
    del without_case["case"]
    without_v = _payload_dict()
    del without_v["v"]
    good_jws = signed(good)
    header, payload_b64, signature = good_jws.split(".")
    tampered_signature = b64url(bytes([b64url_decode(signature)[0] ^ 0x01]) + b64url_decode(signature)[1:])
    duplicate = good.replace(b'"kind":"note.text"', b'"kind":"note.text","kind":"note.text"', 1)
    with_float = good.replace(b'"body":{', b'"body":{"amount":1.5,', 1)
    with_nul = good.replace(b"\\nThank you.", b"\\u0000Thank you.", 1)
    assert with_nul != good
    return [
        ("wrong_typ", "bad_header", "inner JWS typ is hanoinet-receipt+jws, not hanoinet-msg+jws",
         signed(good, typ="hanoinet-receipt+jws")),
        ("float_in_body", "malformed_payload", "the payload contains the number 1.5", signed(with_float)),
        ("duplicate_member", "malformed_payload", "the member name kind appears twice", signed(duplicate)),
        ("control_character_in_text", "malformed_payload",
         "the note's text holds U+0000 (NUL) where the good one has a line feed: text holds no control "
         "character but tab and line feed (section 2.1)", signed(with_nul)),
        ("signed_by_unlisted_key", "unknown_key", "signed by the authority key, which is not a VNM key",
         signed(good, key=key_pair("authority"))),
        ("bad_signature", "bad_signature", "first signature byte flipped",
         f"{header}.{payload_b64}.{tampered_signature}"),
        ("not_canonical_whitespace", "not_canonical", "payload signed with insignificant whitespace",
         signed(json.dumps(_payload_dict(), indent=1, ensure_ascii=False).encode("utf-8"))),
        ("jws_padded_signature", "malformed",
         "the inner JWS's signature segment carries base64 padding (==): segments are unpadded base64url",
         f"{good_jws}=="),
        ("case_member_omitted", "malformed_payload",
         "the case member is left out instead of being null: every payload member must be present",
         signed(canonical_json(without_case))),
        ("v_member_omitted", "malformed_payload",
         "the v member is left out: a receiver never defaults it to 1", signed(canonical_json(without_v))),
        ("from_user_assigned_state", "malformed_payload",
         "from is XKX/247: XKX is a user-assigned code, not in the ISO 3166-1 list of Appendix C",
         signed(canonical(**{"from": "XKX/247"}))),
        ("unknown_sender_desk", "unknown_sender_desk", "from is VNM/XYZ and VNM's card lists no desk XYZ",
         signed(canonical(**{"from": "VNM/XYZ"}))),
        ("addressed_to_another_state", "wrong_recipient", "to is DEU/247 but the JWE is encrypted to FRA",
         signed(canonical(to="DEU/247"))),
        ("unknown_desk", "unknown_desk", "to is FRA/XYZ and FRA has no desk XYZ", signed(canonical(to="FRA/XYZ"))),
        ("created_in_future", "from_future", "created 10 minutes after the receiver's clock",
         signed(canonical(created="2026-03-02T09:40:01.000Z"))),
        ("too_old", "too_old", "created more than the maximum message age (7 days) before the receiver's clock",
         signed(canonical(created="2026-02-20T09:30:00.000Z"))),
        ("unknown_kind", "unknown_kind", "kind note.unknown is not registered", signed(canonical(kind="note.unknown"))),
        ("invalid_body", "invalid_body", "a note.text body without its required text member",
         signed(canonical(body={"subject": "no text", "language": "en"}))),
        ("note_text_without_language", "invalid_body",
         "a note.text body without its language member: no body member has a default on the wire",
         signed(canonical(body={"subject": "no language", "text": "Please preserve."}))),
    ]


def _malformed_jwes(jwe: str) -> list[tuple[str, str, str, str]]:
    """(name, expected refusal code, what it shows, envelope) for the good envelope's JWE altered outside
    its encryption: a receiver must refuse these before it decrypts anything."""
    header_b64, rest = jwe.split(".", 1)
    header = json.loads(b64url_decode(header_b64))
    without_epk = b64url(json.dumps({k: v for k, v in header.items() if k != "epk"},
                                    separators=(",", ":")).encode("ascii"))
    return [
        ("jwe_padded_segment", "malformed",
         "the good envelope with its last segment (the 16-byte tag) padded with ==", f"{jwe}=="),
        ("jwe_trailing_newline", "malformed", "the good envelope followed by a line feed", f"{jwe}\n"),
        ("jwe_header_without_epk", "bad_header",
         "the good envelope with epk removed from its protected header: the header has exactly five members",
         f"{without_epk}.{rest}"),
    ]


def _open_as_fra(jwe: str, directory: Directory) -> str:
    """Open an envelope as FRA would; returns ``accepted`` or the refusal code."""
    fra_enc = key_pair("FRA_enc")
    try:
        open_envelope(
            jwe.encode("ascii"), own_state="FRA", own_desks={"247", "CA"},
            decryption_keys={fra_enc.kid: fra_enc}.get, directory=directory, now=parse_instant(OPENED_AT),
            limits=Limits(max_bytes=MAX_ENVELOPE_BYTES, max_age=timedelta(seconds=MAX_MESSAGE_AGE_SECONDS)),
        )
    except HanoinetError as exc:
        return exc.code
    return "accepted"


def build_vectors(previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every vector, as written to ``docs/test-vectors.json``.

    ``previous`` is an earlier output: its JWE instances are reused when they still decrypt to the JWS they
    must carry, so that everything in the result is a function of the fixed inputs and of those instances.
    """
    previous = previous or {}
    authority = key_pair("authority")
    signing = {"VNM": key_pair("VNM_sig"), "FRA": key_pair("FRA_sig")}

    cards = _cards()
    card_jws = {state: sign_card(card, signing[state]) for state, card in cards.items()}
    document = DirectoryDocument(
        version=1, issued_at=DIRECTORY_ISSUED_AT, expires_at=DIRECTORY_EXPIRES_AT,
        authority=Authority(name="Test Secretariat (TEST ONLY)", kid=authority.kid),
        members=[verify_card(card_jws[state]) for state in sorted(card_jws)],
    )
    directory_jws = sign_directory(document, authority)
    directory = Directory.verify(directory_jws, authority.public, grace=timedelta(seconds=DIRECTORY_GRACE_SECONDS))

    payload = EnvelopePayload.model_validate(_payload_dict())
    sealed = seal(payload, signing["VNM"], directory.encryption_key("FRA", parse_instant(MESSAGE_CREATED)))
    recorded = previous.get("envelope", {}).get("jwe")
    jwe = recorded if _decrypts_to(recorded, sealed.jws) else sealed.jwe.decode("ascii")
    jwe_sha256 = sha256_hex(jwe.encode("ascii"))
    if (code := _open_as_fra(jwe, directory)) != "accepted":
        raise AssertionError(f"the envelope vector does not open: {code}")

    receipt = Receipt(
        message_id=payload.id, jws_sha256=sealed.jws_sha256, jwe_sha256=jwe_sha256, received_at=RECEIVED_AT,
        receiver="FRA", receiver_kid=signing["FRA"].kid,
    )
    receipt_jws = sign_receipt(receipt, signing["FRA"])
    verify_receipt(receipt_jws, directory=directory, receiver="FRA", message_id=payload.id,
                   jws_sha256=sealed.jws_sha256, jwe_sha256=jwe_sha256)

    envelope = _signed_object(payload.to_json(), sealed.jws)
    envelope.update({
        "jwe": jwe,
        "jwe_sha256": jwe_sha256,
        "jwe_intermediates": jwe_intermediates(jwe, key_pair("FRA_enc").key.private_key),  # type: ignore[arg-type]
    })

    recorded_negatives = {n.get("name"): n.get("jwe") for n in previous.get("refusals", [])}
    refusals = []
    for name, code, what, altered in _malformed_jwes(jwe):
        if (got := _open_as_fra(altered, directory)) != code:
            raise AssertionError(f"refusal vector {name}: expected {code}, got {got}")
        refusals.append({"name": name, "expected_code": code, "what": what, "jws": None, "jwe": altered})
    for name, code, what, inner in _negative_cases():
        negative_jwe = _encrypt_to_fra(inner, recorded_negatives.get(name))
        if (got := _open_as_fra(negative_jwe, directory)) != code:
            raise AssertionError(f"refusal vector {name}: expected {code}, got {got}")
        refusals.append({"name": name, "expected_code": code, "what": what, "jws": inner, "jwe": negative_jwe})

    return {
        "WARNING": WARNING,
        "description": (
            "Worked examples of the hanoinet node-to-node protocol, version 1 (docs/protocol.md, Appendix A). "
            "Canonical JSON is given as text; its bytes are the UTF-8 encoding of that text. Hashes are "
            "lowercase hex SHA-256. JWE values are one recorded instance (JWE encryption is randomised)."
        ),
        "protocol_version": PROTOCOL_VERSION,
        "keys": {name: _key_vector(name) for name in SEEDS},
        "cards": {state: _signed_object(cards[state].model_dump(mode="json"), card_jws[state])
                  for state in sorted(cards)},
        "directory": {
            **_signed_object(document.model_dump(mode="json"), directory_jws),
            "grace_seconds": DIRECTORY_GRACE_SECONDS,
        },
        "envelope": envelope,
        "receipt": _signed_object(receipt.model_dump(mode="json"), receipt_jws),
        "receiver": {
            "state": "FRA",
            "desks": ["247", "CA"],
            "now": OPENED_AT,
            "max_envelope_bytes": MAX_ENVELOPE_BYTES,
            "max_message_age_seconds": MAX_MESSAGE_AGE_SECONDS,
        },
        "refusals": refusals,
    }


def render(vectors: dict[str, Any]) -> str:
    """The file's text: indented JSON, non-ASCII characters kept as they are, final newline."""
    return json.dumps(vectors, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check`` compare) the vectors file."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--check", action="store_true", help="compare with the file instead of writing it")
    parser.add_argument("--fresh-jwe", action="store_true", help="draw new JWE instances")
    args = parser.parse_args(argv)
    previous = None
    if args.output.exists() and not args.fresh_jwe:
        previous = json.loads(args.output.read_text(encoding="utf-8"))
    text = render(build_vectors(previous))
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is not what {Path(__file__).name} builds; run it to update", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date")
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
