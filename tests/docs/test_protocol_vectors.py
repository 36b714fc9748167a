"""The worked examples of docs/protocol.md (docs/test-vectors.json) against the implementation.

Each check here is one a partner State's implementation can repeat: Ed25519 is deterministic, so every JWS
must come out byte for byte; the JWE is randomised, so the recorded instance must decrypt (with the node's
code, and independently with plain primitives following the spec's steps) and pass every receiving check.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import re
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap
from joserfc.jwk import OKPKey

from hanoinet.api.problems import STATUS_BY_CODE
from hanoinet.clock import parse_instant
from hanoinet.crypto import jose
from hanoinet.crypto.canonical import canonical_json
from hanoinet.crypto.keys import KeyPair, thumbprint
from hanoinet.errors import DirectoryError, EnvelopeRefused, TransportError
from hanoinet.network.delivery import RETRYABLE_CODES
from hanoinet.network.directory import CARD_TYP, DIRECTORY_TYP, Directory, verify_card
from hanoinet.network.envelope import MESSAGE_TYP, Limits, open_envelope
from hanoinet.network.receipt import RECEIPT_TYP, verify_receipt

ROOT = Path(__file__).resolve().parents[2]
VECTORS_PATH = ROOT / "docs" / "test-vectors.json"
PROTOCOL_PATH = ROOT / "docs" / "protocol.md"
SCRIPT_PATH = ROOT / "scripts" / "make_test_vectors.py"

VECTORS: dict[str, Any] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))

#: Every signed object of the vectors: (where it is, signer's key name, JWS typ).
SIGNED = [
    (("cards", "VNM"), "VNM_sig", CARD_TYP),
    (("cards", "FRA"), "FRA_sig", CARD_TYP),
    (("directory",), "authority", DIRECTORY_TYP),
    (("envelope",), "VNM_sig", MESSAGE_TYP),
    (("receipt",), "FRA_sig", RECEIPT_TYP),
]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def signed_object(path: tuple[str, ...]) -> dict[str, Any]:
    node: Any = VECTORS
    for part in path:
        node = node[part]
    return dict(node)


def private_key(name: str) -> KeyPair:
    """A key pair rebuilt from the vectors' private JWK (not from the script's seeds)."""
    vector = VECTORS["keys"][name]
    return KeyPair(use=vector["use"], key=OKPKey.import_key(vector["private_jwk"]))


def directory() -> Directory:
    return Directory.verify(
        VECTORS["directory"]["jws"], VECTORS["keys"]["authority"]["public_jwk"],
        grace=timedelta(seconds=VECTORS["directory"]["grace_seconds"]),
    )


def open_as_receiver(jwe: str) -> Any:
    receiver = VECTORS["receiver"]
    fra_enc = private_key("FRA_enc")
    return open_envelope(
        jwe.encode("ascii"), own_state=receiver["state"], own_desks=set(receiver["desks"]),
        decryption_keys={fra_enc.kid: fra_enc}.get, directory=directory(), now=parse_instant(receiver["now"]),
        limits=Limits(max_bytes=receiver["max_envelope_bytes"],
                      max_age=timedelta(seconds=receiver["max_message_age_seconds"])),
    )


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_test_vectors", SCRIPT_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- keys ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(VECTORS["keys"]))
def test_keys_come_from_their_seeds_and_kids_are_rfc7638_thumbprints(name: str) -> None:
    vector = VECTORS["keys"][name]
    assert vector["TEST_ONLY"] is True
    seed = bytes.fromhex(vector["seed_hex"])
    if vector["use"] == "sig":
        public_raw = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
        crv = "Ed25519"
    else:
        public_raw = X25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
        crv = "X25519"
    assert vector["public_jwk"] == {"kty": "OKP", "crv": crv, "x": b64url(public_raw)}
    assert vector["private_jwk"] == {**vector["public_jwk"], "d": b64url(seed)}
    # RFC 7638: the required members in lexicographic order, no whitespace, then SHA-256 and base64url.
    members = f'{{"crv":"{crv}","kty":"OKP","x":"{b64url(public_raw)}"}}'
    assert vector["thumbprint_input"] == members
    assert vector["kid"] == b64url(hashlib.sha256(members.encode("ascii")).digest())
    assert vector["kid"] == thumbprint(vector["public_jwk"]) == private_key(name).kid


def test_the_test_keys_are_marked_test_only() -> None:
    assert "TEST ONLY" in VECTORS["WARNING"]
    assert VECTORS["protocol_version"] == 1


# -- signed objects --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "signer", "typ"), SIGNED, ids=lambda p: ".".join(p) if isinstance(p, tuple) else p)
def test_canonical_bytes_and_jws_are_reproduced_byte_for_byte(path: tuple[str, ...], signer: str, typ: str) -> None:
    vector = signed_object(path)
    canonical = canonical_json(vector["payload"])
    assert canonical == vector["canonical"].encode("utf-8")
    assert sha256_hex(canonical) == vector["canonical_sha256"]
    key = private_key(signer)
    header = f'{{"alg":"Ed25519","kid":"{key.kid}","typ":"{typ}"}}'
    assert vector["jws_protected_header"] == header
    expected = jose.sign(canonical, key, typ=typ)
    assert expected == vector["jws"]
    head, payload, signature = expected.split(".")
    assert b64url_decode(head) == header.encode("ascii")
    assert b64url_decode(payload) == canonical
    assert sha256_hex(f"{head}.{payload}".encode("ascii")) == vector["jws_signing_input_sha256"]
    assert b64url_decode(signature).hex() == vector["jws_signature_hex"]
    assert sha256_hex(vector["jws"].encode("ascii")) == vector["jws_sha256"]


@pytest.mark.parametrize(("path", "signer", "typ"), SIGNED, ids=lambda p: ".".join(p) if isinstance(p, tuple) else p)
def test_signatures_verify_with_plain_ed25519(path: tuple[str, ...], signer: str, typ: str) -> None:
    vector = signed_object(path)
    head, payload, signature = vector["jws"].split(".")
    public = Ed25519PublicKey.from_public_bytes(b64url_decode(VECTORS["keys"][signer]["public_jwk"]["x"]))
    public.verify(b64url_decode(signature), f"{head}.{payload}".encode("ascii"))  # raises if it does not verify


def test_cards_verify_as_self_signed() -> None:
    for state in ("VNM", "FRA"):
        card = verify_card(VECTORS["cards"][state]["jws"])
        assert card.model_dump(mode="json") == VECTORS["cards"][state]["payload"]


def test_directory_verifies_against_the_pinned_authority_key() -> None:
    verified = directory()
    assert verified.version == 1
    assert [m.state for m in verified.members()] == ["FRA", "VNM"]
    assert verified.as_json() == VECTORS["directory"]["payload"]
    verified.check_current(parse_instant(VECTORS["receiver"]["now"]))
    other = VECTORS["keys"]["VNM_sig"]["public_jwk"]
    with pytest.raises(DirectoryError) as untrusted:
        Directory.verify(VECTORS["directory"]["jws"], other, grace=timedelta(0))
    assert untrusted.value.code == "directory_untrusted"
    with pytest.raises(DirectoryError) as rollback:
        Directory.verify(VECTORS["directory"]["jws"], VECTORS["keys"]["authority"]["public_jwk"],
                         held_version=2, grace=timedelta(0))
    assert rollback.value.code == "directory_rollback"


# -- envelope ------------------------------------------------------------------------------------------------


def test_envelope_jwe_decrypts_to_the_jws_and_passes_every_receiving_check() -> None:
    envelope = VECTORS["envelope"]
    fra_enc = private_key("FRA_enc")
    decrypted = jose.decrypt(envelope["jwe"], {fra_enc.kid: fra_enc}, cty=MESSAGE_TYP)
    assert decrypted.kid == fra_enc.kid
    assert decrypted.plaintext == envelope["jws"].encode("ascii")
    opened = open_as_receiver(envelope["jwe"])
    assert opened.payload.to_json() == envelope["payload"]
    assert opened.jws == envelope["jws"]
    assert opened.sender_kid == VECTORS["keys"]["VNM_sig"]["kid"]
    assert opened.jws_sha256 == envelope["jws_sha256"] == sha256_hex(envelope["jws"].encode("ascii"))
    assert opened.jwe_sha256 == envelope["jwe_sha256"] == sha256_hex(envelope["jwe"].encode("ascii"))


def test_envelope_jwe_header_is_exactly_the_protocol_header() -> None:
    envelope = VECTORS["envelope"]
    header = json.loads(b64url_decode(envelope["jwe"].split(".")[0]))
    assert set(header) == {"alg", "enc", "kid", "cty", "epk"}
    assert (header["alg"], header["enc"], header["cty"]) == ("ECDH-ES+A256KW", "A256GCM", MESSAGE_TYP)
    assert header["kid"] == VECTORS["keys"]["FRA_enc"]["kid"]
    assert set(header["epk"]) == {"kty", "crv", "x"} and header["epk"]["crv"] == "X25519"
    assert b64url_decode(envelope["jwe"].split(".")[0]).decode("ascii") == envelope["jwe_intermediates"][
        "protected_header"]


def test_envelope_jwe_decrypts_with_plain_primitives_following_the_spec() -> None:
    """ECDH-ES+A256KW over X25519 then A256GCM (RFC 7518 s. 4.6, 4.4, 5.3), without any JOSE library."""
    envelope = VECTORS["envelope"]
    steps = envelope["jwe_intermediates"]
    header_b64, encrypted_key, iv, ciphertext, tag = envelope["jwe"].split(".")
    header = json.loads(b64url_decode(header_b64))
    recipient = X25519PrivateKey.from_private_bytes(b64url_decode(VECTORS["keys"]["FRA_enc"]["private_jwk"]["d"]))
    z = recipient.exchange(X25519PublicKey.from_public_bytes(b64url_decode(header["epk"]["x"])))
    assert z.hex() == steps["shared_secret_z_hex"]
    algorithm_id = b"ECDH-ES+A256KW"
    other_info = (len(algorithm_id).to_bytes(4, "big") + algorithm_id + bytes(4) + bytes(4)
                  + (256).to_bytes(4, "big"))
    kek = hashlib.sha256((1).to_bytes(4, "big") + z + other_info).digest()
    assert kek.hex() == steps["kek_hex"]
    cek = aes_key_unwrap(kek, b64url_decode(encrypted_key))
    assert cek.hex() == steps["cek_hex"]
    assert b64url_decode(iv).hex() == steps["iv_hex"] and len(b64url_decode(iv)) == 12
    assert b64url_decode(tag).hex() == steps["tag_hex"] and len(b64url_decode(tag)) == 16
    assert steps["aad"] == header_b64
    plaintext = AESGCM(cek).decrypt(b64url_decode(iv), b64url_decode(ciphertext) + b64url_decode(tag),
                                    header_b64.encode("ascii"))
    assert plaintext == envelope["jws"].encode("ascii")
    assert sha256_hex(plaintext) == steps["plaintext_sha256"] == envelope["jws_sha256"]


def test_payload_member_names_and_values_are_the_protocol_ones() -> None:
    payload = VECTORS["envelope"]["payload"]
    assert list(payload) == ["v", "id", "kind", "from", "to", "created", "case", "body"]
    assert payload["v"] == 1
    # The UUIDv7 timestamp is the creation instant in Unix milliseconds.
    assert int(payload["id"].replace("-", "")[:12], 16) == int(parse_instant(payload["created"]).timestamp() * 1000)
    # Canonical JSON keeps non-ASCII text as UTF-8 and escapes the line feed.
    assert "Xin chào" in VECTORS["envelope"]["canonical"]
    assert "\\n" in VECTORS["envelope"]["canonical"]


@pytest.mark.parametrize("refusal", VECTORS["refusals"], ids=lambda r: r["name"])
def test_refusal_vectors_are_refused_with_their_code(refusal: dict[str, Any]) -> None:
    fra_enc = private_key("FRA_enc")
    if refusal["jws"] is not None:
        decrypted = jose.decrypt(refusal["jwe"], {fra_enc.kid: fra_enc}, cty=MESSAGE_TYP).plaintext
        assert decrypted == refusal["jws"].encode()
    with pytest.raises(EnvelopeRefused) as refused:
        open_as_receiver(refusal["jwe"])
    assert refused.value.code == refusal["expected_code"]


def test_refusals_cover_every_decision_of_the_document() -> None:
    """Each case the protocol names in its text has its vector, with the code the text gives."""
    codes = {r["name"]: r["expected_code"] for r in VECTORS["refusals"]}
    assert codes["jwe_padded_segment"] == codes["jwe_trailing_newline"] == "malformed"
    assert codes["jws_padded_signature"] == "malformed"
    assert codes["jwe_header_without_epk"] == "bad_header"
    assert codes["case_member_omitted"] == codes["v_member_omitted"] == "malformed_payload"
    assert codes["from_user_assigned_state"] == "malformed_payload"
    assert codes["note_text_without_language"] == "invalid_body"
    # The altered JWEs are the good envelope's, so nothing but the alteration can explain the refusal.
    good = VECTORS["envelope"]["jwe"]
    assert next(r for r in VECTORS["refusals"] if r["name"] == "jwe_trailing_newline")["jwe"] == good + "\n"
    text = PROTOCOL_PATH.read_text(encoding="utf-8")
    for refusal in VECTORS["refusals"]:
        assert f"| `{refusal['name']}` | `{refusal['expected_code']}` |" in text, refusal["name"]


def test_a_flipped_ciphertext_byte_is_refused() -> None:
    header, key, iv, ciphertext, tag = VECTORS["envelope"]["jwe"].split(".")
    raw = bytearray(b64url_decode(ciphertext))
    raw[0] ^= 0x01
    with pytest.raises(EnvelopeRefused) as refused:
        open_as_receiver(".".join([header, key, iv, b64url(bytes(raw)), tag]))
    assert refused.value.code == "decrypt_failed"


# -- receipt -------------------------------------------------------------------------------------------------


def test_receipt_verifies_and_names_exactly_the_envelope_sent() -> None:
    envelope, receipt = VECTORS["envelope"], VECTORS["receipt"]
    verified = verify_receipt(
        receipt["jws"], directory=directory(), receiver="FRA", message_id=envelope["payload"]["id"],
        jws_sha256=envelope["jws_sha256"], jwe_sha256=envelope["jwe_sha256"],
    )
    assert verified.model_dump(mode="json") == receipt["payload"]
    assert receipt["payload"]["receiver_kid"] == VECTORS["keys"]["FRA_sig"]["kid"]
    with pytest.raises(TransportError) as mismatch:
        verify_receipt(
            receipt["jws"], directory=directory(), receiver="FRA", message_id=envelope["payload"]["id"],
            jws_sha256=envelope["jws_sha256"], jwe_sha256="0" * 64,
        )
    assert mismatch.value.code == "bad_receipt"


# -- the file, the script and the document ---------------------------------------------------------------------


def test_vectors_file_is_what_the_script_builds() -> None:
    script = load_script()
    rebuilt = script.build_vectors(VECTORS)
    assert rebuilt == VECTORS
    assert script.render(rebuilt) == VECTORS_PATH.read_text(encoding="utf-8")


def test_a_fresh_build_differs_only_in_the_randomised_jwe() -> None:
    fresh = load_script().build_vectors(None)
    randomised = {"jwe", "jwe_sha256", "jwe_intermediates"}

    def deterministic(vectors: dict[str, Any]) -> dict[str, Any]:
        copy = json.loads(json.dumps(vectors))
        for member in randomised:
            copy["envelope"].pop(member)
        for refusal in copy["refusals"]:
            refusal.pop("jwe")
        # The receipt names the JWE's hash, so only its other members are fixed.
        for member in ("payload", "canonical", "canonical_sha256", "jws", "jws_sha256", "jws_signature_hex",
                       "jws_signing_input_sha256"):
            copy["receipt"].pop(member)
        return copy

    assert deterministic(fresh) == deterministic(VECTORS)
    assert fresh["envelope"]["jwe"] != VECTORS["envelope"]["jwe"]
    expected_receipt = {k: v for k, v in VECTORS["receipt"]["payload"].items() if k != "jwe_sha256"}
    assert {k: v for k, v in fresh["receipt"]["payload"].items() if k != "jwe_sha256"} == expected_receipt


def test_protocol_document_quotes_the_vectors() -> None:
    text = PROTOCOL_PATH.read_text(encoding="utf-8")
    for name, key in VECTORS["keys"].items():
        assert key["kid"] in text, name
        assert key["public_jwk"]["x"] in text, name
    envelope = VECTORS["envelope"]
    for value in (envelope["canonical"], envelope["canonical_sha256"], envelope["jws_sha256"],
                  envelope["jwe_sha256"], envelope["jws_protected_header"], VECTORS["receipt"]["canonical"]):
        assert value in text


def test_protocol_document_lists_every_http_status_and_retryable_code() -> None:
    text = PROTOCOL_PATH.read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| (\d{3}) \|", text, flags=re.MULTILINE))
    for code, status in STATUS_BY_CODE.items():
        assert rows.get(code) == str(status), code
    for refusal in VECTORS["refusals"]:
        assert rows.get(refusal["expected_code"]) == "400", refusal["expected_code"]
    for code in RETRYABLE_CODES:
        assert f"`{code}`" in text
