"""Signed receipts: the receiver's proof that it holds exactly the envelope that was sent."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest

from hanoinet.clock import format_instant
from hanoinet.crypto import jose
from hanoinet.crypto.canonical import canonical_json
from hanoinet.crypto.keys import KeyPair
from hanoinet.errors import TransportError
from hanoinet.ids import uuid7
from hanoinet.network.directory import Directory
from hanoinet.network.envelope import MESSAGE_TYP, sha256_hex
from hanoinet.network.receipt import RECEIPT_TYP, Receipt, sign_receipt, verify_receipt
from tests.factories import T0, Member, card, entry, member, verified_directory

NOW = T0 + timedelta(hours=1)
MESSAGE_ID = uuid7(int(NOW.timestamp() * 1000))
JWS_SHA = sha256_hex(b"the jws")
JWE_SHA = sha256_hex(b"the jwe")


class World:
    def __init__(self, fra: Member, vnm: Member, retired: KeyPair, directory: Directory) -> None:
        self.fra, self.vnm, self.retired, self.directory = fra, vnm, retired, directory


@pytest.fixture(scope="module")
def world(authority: KeyPair) -> World:
    fra_sig, fra_enc, retired = KeyPair.generate("sig"), KeyPair.generate("enc"), KeyPair.generate("sig")
    fra_card = card("FRA", [entry(fra_sig), entry(fra_enc),
                            entry(retired, not_before=T0 - timedelta(days=90), not_after=T0)])
    fra, vnm = Member("FRA", fra_sig, fra_enc, fra_card), member("VNM")
    return World(fra, vnm, retired, verified_directory([fra.card, vnm.card], authority))


def receipt(world: World, **changes: Any) -> Receipt:
    data: dict[str, Any] = {
        "message_id": MESSAGE_ID, "jws_sha256": JWS_SHA, "jwe_sha256": JWE_SHA,
        "received_at": format_instant(NOW), "receiver": "FRA", "receiver_kid": world.fra.sig.kid,
    }
    data.update(changes)
    return Receipt(**data)


def check(world: World, compact: str, **changes: Any) -> Receipt:
    expected: dict[str, Any] = {
        "directory": world.directory, "receiver": "FRA", "message_id": MESSAGE_ID,
        "jws_sha256": JWS_SHA, "jwe_sha256": JWE_SHA,
    }
    expected.update(changes)
    return verify_receipt(compact, **expected)


def bad_receipt(world: World, compact: str, **changes: Any) -> TransportError:
    with pytest.raises(TransportError) as info:
        check(world, compact, **changes)
    assert info.value.code == "bad_receipt"
    return info.value


def test_sign_and_verify(world: World) -> None:
    r = receipt(world)
    compact = sign_receipt(r, world.fra.sig)
    assert check(world, compact) == r
    header, payload = jose.peek_jws(compact, typ=RECEIPT_TYP)
    assert header["kid"] == world.fra.sig.kid
    assert payload == canonical_json(r.model_dump(mode="json"))
    assert json.loads(payload)["type"] == "hanoinet-receipt"


def test_sign_refuses_a_key_the_receipt_does_not_name(world: World) -> None:
    with pytest.raises(ValueError, match="another key"):
        sign_receipt(receipt(world), world.vnm.sig)


@pytest.mark.parametrize(
    "changes",
    [
        {"message_id": uuid7()},
        {"jws_sha256": sha256_hex(b"another jws")},
        {"jwe_sha256": sha256_hex(b"another jwe")},
    ],
)
def test_receipt_for_something_else_is_refused(world: World, changes: dict[str, Any]) -> None:
    compact = sign_receipt(receipt(world), world.fra.sig)
    refusal = bad_receipt(world, compact, **changes)
    assert "does not match" in refusal.message


def test_receipt_naming_another_receiver_is_refused(world: World) -> None:
    # VNM signs a receipt naming VNM for an envelope sent to FRA.
    compact = sign_receipt(receipt(world, receiver="VNM", receiver_kid=world.vnm.sig.kid), world.vnm.sig)
    bad_receipt(world, compact)


def test_receipt_claiming_to_be_from_the_receiver_but_signed_by_another_member(world: World) -> None:
    # VNM's (valid) key signs a receipt that says FRA received the envelope.
    compact = sign_receipt(receipt(world, receiver_kid=world.vnm.sig.kid), world.vnm.sig)
    refusal = bad_receipt(world, compact)
    assert "FRA has no signing key" in refusal.message


def test_receipt_signed_by_a_key_outside_the_directory(world: World) -> None:
    stranger = KeyPair.generate("sig")
    compact = sign_receipt(receipt(world, receiver_kid=stranger.kid), stranger)
    bad_receipt(world, compact)


def test_receipt_signed_by_another_key_than_it_names(world: World) -> None:
    # Signed with FRA's retired key while naming its current one.
    data = receipt(world, received_at=format_instant(T0 - timedelta(days=1))).model_dump(mode="json")
    compact = jose.sign(canonical_json(data), world.retired, typ=RECEIPT_TYP)
    refusal = bad_receipt(world, compact)
    assert "does not match" in refusal.message


def test_receipt_by_a_key_not_valid_at_reception(world: World) -> None:
    compact = sign_receipt(receipt(world, receiver_kid=world.retired.kid), world.retired)
    bad_receipt(world, compact)  # received NOW, the key ended at T0
    earlier = receipt(world, receiver_kid=world.retired.kid, received_at=format_instant(T0 - timedelta(hours=1)))
    assert check(world, sign_receipt(earlier, world.retired)) == earlier


def test_tampered_receipt_is_refused(world: World) -> None:
    header, _, signature = sign_receipt(receipt(world), world.fra.sig).split(".")
    other = receipt(world, jws_sha256=sha256_hex(b"x")).model_dump(mode="json")
    forged = f"{header}.{base64.urlsafe_b64encode(canonical_json(other)).rstrip(b'=').decode()}.{signature}"
    bad_receipt(world, forged, jws_sha256=sha256_hex(b"x"))


def test_envelope_jws_passed_off_as_receipt_is_refused(world: World) -> None:
    data = receipt(world).model_dump(mode="json")
    compact = jose.sign(canonical_json(data), world.fra.sig, typ=MESSAGE_TYP)
    bad_receipt(world, compact)


@pytest.mark.parametrize(
    "changes",
    [{"extra": 1}, {"type": "hanoinet-card"}, {"v": 2}, {"received_at": "now"}, {"receiver": "XXX"}],
)
def test_invalid_receipt_content_is_refused(world: World, changes: dict[str, Any]) -> None:
    data = {**receipt(world).model_dump(mode="json"), **changes}
    compact = jose.sign(canonical_json(data), world.fra.sig, typ=RECEIPT_TYP)
    bad_receipt(world, compact)


@pytest.mark.parametrize("compact", ["", "garbage", "a.b.c", "a.b.c.d.e"])
def test_garbage_is_a_bad_receipt(world: World, compact: str) -> None:
    refusal = bad_receipt(world, compact)
    assert "FRA" in refusal.message


def test_receipt_from_a_state_not_in_the_directory(world: World) -> None:
    bra = KeyPair.generate("sig")
    r = receipt(world, receiver="BRA", receiver_kid=bra.kid)
    bad_receipt(world, sign_receipt(r, bra), receiver="BRA")
