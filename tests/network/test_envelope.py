"""Sealing and opening envelopes, with one test per refusal code (docs/protocol.md, "Receiving")."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hanoinet.clock import format_instant
from hanoinet.crypto import jose
from hanoinet.crypto.canonical import canonical_json
from hanoinet.crypto.keys import KeyPair, import_public_jwk
from hanoinet.errors import EnvelopeRefused
from hanoinet.ids import uuid7
from hanoinet.network.directory import Directory
from hanoinet.network.envelope import (
    MAX_FUTURE_SKEW,
    MESSAGE_TYP,
    EnvelopePayload,
    Limits,
    OpenedEnvelope,
    SealedEnvelope,
    open_envelope,
    seal,
    sha256_hex,
)
from tests.factories import GRACE, T0, Member, card, entry, member, signed_directory

NOW = T0 + timedelta(hours=1)
LIMITS = Limits(max_bytes=4 * 1024 * 1024, max_age=timedelta(days=7))
DESK_IDS = {"247", "CA"}


@dataclass(frozen=True)
class World:
    vnm: Member
    fra: Member
    bra: Member
    future: KeyPair  # VNM signing key valid only from NOW + 1 day
    expired: KeyPair  # VNM signing key valid until NOW - 1 hour
    compromised: KeyPair  # VNM signing key marked compromised
    directory: Directory


@pytest.fixture(scope="module")
def world(authority: KeyPair) -> World:
    vnm_sig, vnm_enc = KeyPair.generate("sig"), KeyPair.generate("enc")
    future, expired, compromised = (KeyPair.generate("sig") for _ in range(3))
    vnm_card = card("VNM", [
        entry(vnm_sig), entry(vnm_enc),
        entry(future, not_before=NOW + timedelta(days=1)),
        entry(expired, not_before=T0 - timedelta(days=100), not_after=NOW - timedelta(hours=1)),
        entry(compromised, compromised_since=T0 + timedelta(days=10)),
    ])
    vnm = Member("VNM", vnm_sig, vnm_enc, vnm_card)
    fra, bra = member("FRA"), member("BRA")
    compact = signed_directory([vnm.card, fra.card, bra.card], authority, issued=T0 - timedelta(days=1))
    directory = Directory.verify(compact, authority.public, grace=GRACE)
    return World(vnm, fra, bra, future, expired, compromised, directory)


def wire(**changes: Any) -> dict[str, Any]:
    """A payload as wire JSON, from VNM/247 to FRA/247, created at NOW."""
    data: dict[str, Any] = {
        "v": 1, "id": uuid7(int(NOW.timestamp() * 1000)), "kind": "note.text",
        "from": "VNM/247", "to": "FRA/247", "created": format_instant(NOW), "case": "CASE-1",
        "body": {"subject": "Preservation", "text": "Please preserve the data.", "language": "en"},
    }
    data.update(changes)
    return data


def payload(**changes: Any) -> EnvelopePayload:
    return EnvelopePayload.model_validate(wire(**changes))


def encrypt_to(plaintext: bytes, recipient: Member, *, cty: str = MESSAGE_TYP) -> bytes:
    public = import_public_jwk(recipient.enc.public, use="enc")
    return jose.encrypt(plaintext, public, kid=recipient.enc.kid, cty=cty).encode("ascii")


def wrap(raw: bytes, signer: KeyPair, recipient: Member, *, typ: str = MESSAGE_TYP) -> bytes:
    """Sign arbitrary payload bytes and encrypt them: what a sender that skipped our checks would send."""
    return encrypt_to(jose.sign(raw, signer, typ=typ).encode("ascii"), recipient)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def open_as(world: World, jwe: bytes, recipient: Member | None = None, **kwargs: Any) -> OpenedEnvelope:
    me = recipient or world.fra
    options: dict[str, Any] = {
        "own_state": me.state, "own_desks": DESK_IDS,
        "decryption_keys": {me.enc.kid: me.enc}.get,
        "directory": world.directory, "now": NOW, "limits": LIMITS,
    }
    options.update(kwargs)
    return open_envelope(jwe, **options)


def refused(world: World, code: str, jwe: bytes, **kwargs: Any) -> EnvelopeRefused:
    with pytest.raises(EnvelopeRefused) as info:
        open_as(world, jwe, **kwargs)
    assert info.value.code == code, info.value.message
    return info.value


def sealed(world: World, **changes: Any) -> SealedEnvelope:
    return seal(payload(**changes), world.vnm.sig, world.directory.encryption_key("FRA", NOW))


# --- the happy path ----------------------------------------------------------------------------------------


def test_seal_then_open(world: World) -> None:
    envelope = sealed(world)
    opened = open_as(world, envelope.jwe)
    assert opened.payload == envelope.payload
    assert opened.jws == envelope.jws
    assert opened.jws_sha256 == envelope.jws_sha256 == sha256_hex(envelope.jws.encode())
    assert opened.jwe_sha256 == envelope.jwe_sha256 == sha256_hex(envelope.jwe)
    assert opened.sender_kid == world.vnm.sig.kid
    assert opened.payload.sender == "VNM/247"
    assert opened.payload.recipient == "FRA/247"
    assert opened.payload.created_at == NOW


def test_sealed_payload_is_canonical_wire_json(world: World) -> None:
    envelope = sealed(world)
    _, raw = jose.peek_jws(envelope.jws, typ=MESSAGE_TYP)
    assert raw == canonical_json(wire(id=envelope.payload.id))
    assert json.loads(raw)["from"] == "VNM/247"


def test_each_seal_is_a_fresh_encryption(world: World) -> None:
    p = payload()
    key = world.directory.encryption_key("FRA", NOW)
    a, b = seal(p, world.vnm.sig, key), seal(p, world.vnm.sig, key)
    assert a.jws == b.jws  # Ed25519 is deterministic
    assert a.jwe != b.jwe


def test_open_at_the_ca_desk_and_without_case(world: World) -> None:
    envelope = sealed(world, to="FRA/CA", case=None)
    assert open_as(world, envelope.jwe).payload.case is None


def test_seal_refuses_an_invalid_body(world: World) -> None:
    with pytest.raises(EnvelopeRefused) as info:
        sealed(world, body={"subject": "s"})
    assert info.value.code == "invalid_body"


def test_seal_writes_the_body_in_its_normalised_form(world: World) -> None:
    envelope = sealed(world, body={"subject": "s", "text": "t"})
    assert envelope.payload.body == {"subject": "s", "text": "t", "language": "en"}
    assert open_as(world, envelope.jwe).payload.body["language"] == "en"


def test_the_largest_text_note_goes_through(world: World) -> None:
    # 100 000 characters is the note limit; the JWE is far beyond joserfc's default 64 KiB cap.
    envelope = sealed(world, body={"subject": "s", "text": "\u00e9" * 100_000})
    assert len(envelope.jwe) > 250_000
    assert open_as(world, envelope.jwe).payload.body["text"] == "\u00e9" * 100_000


def test_old_encryption_key_still_decrypts(world: World) -> None:
    # After FRA rotates, an envelope sealed to the previous key still opens while FRA holds it.
    new_enc = KeyPair.generate("enc")
    envelope = sealed(world)
    keys = {world.fra.enc.kid: world.fra.enc, new_enc.kid: new_enc}
    assert open_as(world, envelope.jwe, decryption_keys=keys.get).payload == envelope.payload


# --- refusals, in the order open_envelope checks -----------------------------------------------------------


def test_too_large(world: World) -> None:
    jwe = sealed(world).jwe
    refused(world, "too_large", jwe, limits=Limits(max_bytes=len(jwe) - 1, max_age=LIMITS.max_age))
    assert open_as(world, jwe, limits=Limits(max_bytes=len(jwe), max_age=LIMITS.max_age))


def test_too_large_is_checked_before_anything_else(world: World) -> None:
    refused(world, "too_large", b"\xff" * 100, limits=Limits(max_bytes=99, max_age=LIMITS.max_age))


def test_directory_expired(world: World) -> None:
    expires = T0 - timedelta(days=1) + timedelta(days=30)
    jwe = sealed(world).jwe
    refusal = refused(world, "directory_expired", jwe, now=expires + GRACE)
    assert "Secretariat" in refusal.hint


def test_non_ascii_is_malformed(world: World) -> None:
    jwe = sealed(world).jwe
    refused(world, "malformed", jwe[:10] + "\u00e9".encode() + jwe[12:])
    refused(world, "malformed", b"\xff\xfe")


@pytest.mark.parametrize("parts", [1, 3, 4, 6])
def test_wrong_number_of_parts_is_malformed(world: World, parts: int) -> None:
    segments = sealed(world).jwe.decode().split(".")
    jwe = ".".join((segments * 2)[:parts]).encode()
    refused(world, "malformed", jwe)


def test_empty_envelope_is_malformed(world: World) -> None:
    refused(world, "malformed", b"")


def test_bad_header(world: World) -> None:
    jws = jose.sign(canonical_json(wire()), world.vnm.sig, typ=MESSAGE_TYP)
    refused(world, "bad_header", encrypt_to(jws.encode(), world.fra, cty="hanoinet-receipt+jws"))


def test_unknown_recipient_key(world: World) -> None:
    refused(world, "unknown_recipient_key", sealed(world).jwe, decryption_keys=lambda kid: None)


def test_envelope_for_another_node_is_unknown_recipient_key(world: World) -> None:
    # Sealed to BRA's key, delivered to FRA.
    envelope = seal(payload(), world.vnm.sig, world.directory.encryption_key("BRA", NOW))
    refused(world, "unknown_recipient_key", envelope.jwe)


def test_decrypt_failed(world: World) -> None:
    segments = sealed(world).jwe.decode().split(".")
    ciphertext = bytearray(jose.b64url_decode(segments[3]))
    ciphertext[0] ^= 0x80
    segments[3] = b64(bytes(ciphertext))
    refused(world, "decrypt_failed", ".".join(segments).encode())


def test_decrypted_content_not_a_jws_is_malformed(world: World) -> None:
    refused(world, "malformed", encrypt_to(b"just some text", world.fra))
    refused(world, "malformed", encrypt_to("\u00e9t\u00e9".encode(), world.fra))


def test_inner_jws_with_another_typ_is_bad_header(world: World) -> None:
    refused(world, "bad_header", wrap(canonical_json(wire()), world.vnm.sig, world.fra, typ="hanoinet-receipt+jws"))


@pytest.mark.parametrize(
    "raw",
    [
        b'{"v":1,"n":1.5}',
        canonical_json(wire())[:-1] + b',"x":1.5}',  # a float
        canonical_json(wire(extra="field")),  # unknown field
        canonical_json(wire(id="not-a-uuid")),
        canonical_json(wire(id="f47ac10b-58cc-4372-a567-0e02b2c3d479")),  # a UUIDv4
        canonical_json(wire(id=uuid7().upper())),
        canonical_json(wire(v=2)),
        canonical_json(wire(created="2026-03-01T13:00:00+00:00")),
        canonical_json(wire(**{"from": "VNM"})),
        canonical_json(wire(to="fra/247")),
        canonical_json(wire(case="x" * 129)),
        canonical_json(wire(body=["not", "an", "object"])),
        canonical_json({k: v for k, v in wire().items() if k != "body"}),
        b"[1,2,3]",
        b'"text"',
        b'{"v":1,"v":1}',  # duplicate member
        b"not json",
        b'{"text":"\\ud800"}',  # lone surrogate
        canonical_json(wire(body={"n": 1})).replace(b'"n":1', b'"n":9007199254740992'),  # beyond I-JSON
        canonical_json(wire()).replace(b"Please preserve the data.", b"\\u0000"),  # NUL (section 2.1)
        canonical_json(wire()).replace(b"Please preserve the data.", b"\\u001b[2J"),  # a terminal's escape
        canonical_json(wire()).replace(b"Please preserve the data.", b"a\\r\\nb"),  # a carriage return
        canonical_json(wire()).replace(b"Please preserve the data.", "\ufffe".encode()),  # a noncharacter
        canonical_json(wire(case="VNM-1")).replace(b"VNM-1", b"VNM\\n1"),  # a case is one line
    ],
)
def test_malformed_payload(world: World, raw: bytes) -> None:
    refused(world, "malformed_payload", wrap(raw, world.vnm.sig, world.fra))


def test_lone_surrogate_in_body_is_refused_not_crashing_regression(world: World) -> None:
    # Regression: a validly signed payload with an escaped lone surrogate passed parsing, then
    # canonical_json raised rfc8785's CanonicalizationError out of open_envelope instead of a refusal.
    raw = canonical_json(wire()).replace(b"Please preserve the data.", b"\\ud800")
    with pytest.raises(EnvelopeRefused) as info:
        open_as(world, wrap(raw, world.vnm.sig, world.fra))
    assert info.value.code == "malformed_payload"


def test_unknown_state(world: World) -> None:
    stranger = KeyPair.generate("sig")
    raw = canonical_json(wire(**{"from": "DEU/247"}))
    refused(world, "unknown_state", wrap(raw, stranger, world.fra))


def test_unknown_key(world: World) -> None:
    refused(world, "unknown_key", wrap(canonical_json(wire()), KeyPair.generate("sig"), world.fra))


def test_signed_with_another_states_key_is_unknown_key(world: World) -> None:
    # BRA's real key, claiming to be VNM.
    refused(world, "unknown_key", wrap(canonical_json(wire()), world.bra.sig, world.fra))


def test_key_not_valid_yet(world: World) -> None:
    refused(world, "key_not_valid", wrap(canonical_json(wire()), world.future, world.fra))


def test_key_expired(world: World) -> None:
    refused(world, "key_not_valid", wrap(canonical_json(wire()), world.expired, world.fra))


def test_expired_key_is_fine_for_a_message_created_while_it_was_valid(world: World) -> None:
    created = NOW - timedelta(hours=2)
    raw = canonical_json(wire(created=format_instant(created)))
    assert open_as(world, wrap(raw, world.expired, world.fra)).sender_kid == world.expired.kid


def test_key_compromised(world: World) -> None:
    # Compromised only from T0 + 10 days, yet refused for a message claiming to be created now.
    refused(world, "key_compromised", wrap(canonical_json(wire()), world.compromised, world.fra))


def test_bad_signature_by_another_key_claiming_the_senders_kid(world: World) -> None:
    stranger = KeyPair.generate("sig")
    header = b64(json.dumps({"alg": "Ed25519", "kid": world.vnm.sig.kid, "typ": MESSAGE_TYP}).encode())
    body = b64(canonical_json(wire()))
    signature = stranger.key.private_key.sign(f"{header}.{body}".encode())  # type: ignore[union-attr]
    refusal = refused(world, "bad_signature", encrypt_to(f"{header}.{body}.{b64(signature)}".encode(), world.fra))
    assert "altered" in refusal.hint


def test_bad_signature_when_payload_altered_after_signing(world: World) -> None:
    header, _, signature = jose.sign(canonical_json(wire()), world.vnm.sig, typ=MESSAGE_TYP).split(".")
    altered = b64(canonical_json(wire(body={"subject": "Preservation", "text": "Release the data."})))
    refused(world, "bad_signature", encrypt_to(f"{header}.{altered}.{signature}".encode(), world.fra))


@pytest.mark.parametrize(
    "render",
    [
        lambda d: json.dumps(d).encode(),  # spaces after separators
        lambda d: json.dumps(d, separators=(",", ":")).encode(),  # members not sorted
        lambda d: json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode() + b" ",
        lambda d: json.dumps(d, sort_keys=True, indent=1).encode(),
    ],
)
def test_not_canonical(world: World, render: Any) -> None:
    data = wire(body={"subject": "Pr\u00e9servation", "text": "t"})
    raw = render(data)
    assert raw != canonical_json(data)
    refused(world, "not_canonical", wrap(raw, world.vnm.sig, world.fra))


def test_unicode_escapes_are_not_canonical(world: World) -> None:
    data = wire(body={"subject": "Pr\u00e9servation", "text": "t"})
    raw = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    refused(world, "not_canonical", wrap(raw, world.vnm.sig, world.fra))


@pytest.mark.parametrize("member", ["v", "case", "id", "kind", "created", "body"])
def test_a_payload_without_one_of_its_eight_members_is_malformed(world: World, member: str) -> None:
    # The wire form always carries "v" and "case" (null when there is none); the model's defaults are for
    # building a payload locally, never for reading one.
    data = {k: v for k, v in wire(case=None).items() if k != member}
    refusal = refused(world, "malformed_payload", wrap(canonical_json(data), world.vnm.sig, world.fra))
    assert member in refusal.message


def test_a_note_without_language_is_an_invalid_body(world: World) -> None:
    body = {"subject": "s", "text": "t"}
    refusal = refused(world, "invalid_body", wrap(canonical_json(wire(body=body)), world.vnm.sig, world.fra))
    assert "body.language" in refusal.message


@pytest.mark.parametrize("state", ["XKX", "XXX", "EUE", "ANT", "vnm"])
def test_a_sender_state_outside_iso_3166_1_is_malformed(world: World, state: str) -> None:
    raw = canonical_json(wire(**{"from": f"{state}/247"}))
    refused(world, "malformed_payload", wrap(raw, world.vnm.sig, world.fra))


@pytest.mark.parametrize("suffix", [b"\n", b"\r\n", b"=="])
def test_a_jwe_with_a_trailing_newline_or_padding_is_malformed(world: World, suffix: bytes) -> None:
    refused(world, "malformed", sealed(world).jwe + suffix)


def test_an_inner_jws_with_a_padded_signature_is_malformed(world: World) -> None:
    jws = jose.sign(canonical_json(wire()), world.vnm.sig, typ=MESSAGE_TYP)
    refused(world, "malformed", encrypt_to((jws + "==").encode(), world.fra))


def test_wrong_recipient(world: World) -> None:
    # Signed for FRA, re-encrypted by someone to BRA: BRA must not accept it as addressed to itself.
    jws = jose.sign(canonical_json(wire()), world.vnm.sig, typ=MESSAGE_TYP)
    refusal = refused(world, "wrong_recipient", encrypt_to(jws.encode(), world.bra), recipient=world.bra)
    assert "FRA/247" in refusal.message


def test_unknown_desk(world: World) -> None:
    envelope = sealed(world, to="FRA/LEA")
    refusal = refused(world, "unknown_desk", envelope.jwe)
    assert "247" in refusal.hint
    assert open_as(world, envelope.jwe, own_desks={"LEA"})


def test_from_future(world: World) -> None:
    ms = timedelta(milliseconds=1)
    ahead = sealed(world, created=format_instant(NOW + MAX_FUTURE_SKEW + ms)).jwe
    refusal = refused(world, "from_future", ahead)
    assert "NTP" in refusal.hint
    at_skew = sealed(world, created=format_instant(NOW + MAX_FUTURE_SKEW)).jwe
    assert open_as(world, at_skew)


def test_too_old(world: World) -> None:
    ms = timedelta(milliseconds=1)
    old = sealed(world, created=format_instant(NOW - LIMITS.max_age - ms)).jwe
    refused(world, "too_old", old)
    at_limit = sealed(world, created=format_instant(NOW - LIMITS.max_age)).jwe
    assert open_as(world, at_limit)
    refused(world, "too_old", at_limit, limits=Limits(max_bytes=LIMITS.max_bytes, max_age=timedelta(days=1)))


def test_unknown_kind(world: World) -> None:
    raw = canonical_json(wire(kind="example.never_registered"))
    refusal = refused(world, "unknown_kind", wrap(raw, world.vnm.sig, world.fra))
    assert "note.text" in refusal.hint


@pytest.mark.parametrize(
    "body",
    [
        {"subject": "s"},
        {"subject": "", "text": "t"},
        {"subject": "s", "text": "t", "language": "English"},
        {"subject": "s", "text": "t", "attachment": "x"},
        {"subject": "s", "text": 5},
    ],
)
def test_invalid_body(world: World, body: dict[str, Any]) -> None:
    raw = canonical_json(wire(body=body))
    refused(world, "invalid_body", wrap(raw, world.vnm.sig, world.fra))


def test_created_without_milliseconds_is_accepted_byte_exact(world: World) -> None:
    raw = canonical_json(wire(created="2026-03-01T13:00:00Z"))
    opened = open_as(world, wrap(raw, world.vnm.sig, world.fra))
    assert opened.payload.created == "2026-03-01T13:00:00Z"


def test_trailing_newline_in_message_id_is_refused_regression(world: World) -> None:
    # Regression: is_uuid7 accepted a final "\n" (pattern ending in "$").
    raw = canonical_json(wire(id=uuid7() + "\n"))
    refused(world, "malformed_payload", wrap(raw, world.vnm.sig, world.fra))


# --- property: any damage to the bytes in transit is refused -----------------------------------------------


@pytest.fixture(scope="module")
def one_envelope(world: World) -> bytes:
    return sealed(world).jwe


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_changed_byte_is_refused(world: World, one_envelope: bytes, data: st.DataObject) -> None:
    position = data.draw(st.integers(min_value=0, max_value=len(one_envelope) - 1), label="position")
    xor = data.draw(st.integers(min_value=1, max_value=255), label="xor")
    damaged = bytearray(one_envelope)
    damaged[position] ^= xor
    with pytest.raises(EnvelopeRefused):
        open_as(world, bytes(damaged))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_truncation_is_refused(world: World, one_envelope: bytes, data: st.DataObject) -> None:
    cut = data.draw(st.integers(min_value=0, max_value=len(one_envelope) - 1), label="cut")
    with pytest.raises(EnvelopeRefused):
        open_as(world, one_envelope[:cut])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.binary(max_size=300))
def test_garbage_is_refused(world: World, garbage: bytes) -> None:
    with pytest.raises(EnvelopeRefused):
        open_as(world, garbage)


def test_open_needs_nothing_but_its_arguments(world: World) -> None:
    # Pure code: same inputs, same result.
    jwe = sealed(world).jwe
    assert open_as(world, jwe) == open_as(world, jwe)
