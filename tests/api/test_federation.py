"""The federation endpoint refuses every bad envelope with a specific problem, and keeps serving."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hanoinet.api.app import create_app
from hanoinet.clock import format_instant, now
from hanoinet.crypto.keys import KeyPair
from hanoinet.db.models import Alarm, InboxMessage
from hanoinet.ids import uuid7
from hanoinet.network.envelope import seal
from hanoinet.node.node import Node
from tests.support import directory_for, envelope, make_node, publish

JOSE = {"content-type": "application/jose"}


@pytest.fixture
def pair(tmp_path: Path, authority: KeyPair) -> tuple[Node, Node]:
    vnm = make_node(tmp_path, "VNM", authority, port=8401)
    fra = make_node(tmp_path, "FRA", authority, port=8402)
    publish([vnm, fra], authority)
    return vnm, fra


def inbox_count(node: Node) -> int:
    with node.db.transaction() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(InboxMessage)) or 0)


def post(client: TestClient, body: bytes, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return client.post("/federation/v1/envelopes", content=body, headers=headers or JOSE)


def test_valid_envelope_gets_a_signed_receipt(pair: tuple[Node, Node]) -> None:
    vnm, fra = pair
    sealed = envelope(vnm, fra)
    with TestClient(create_app(fra, background=False)) as client:
        response = post(client, sealed.jwe)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/jose"
    assert inbox_count(fra) == 1


def test_every_single_byte_flip_is_refused_and_the_node_keeps_serving(pair: tuple[Node, Node]) -> None:
    vnm, fra = pair
    sealed = envelope(vnm, fra)
    codes: set[str] = set()
    with TestClient(create_app(fra, background=False)) as client:
        # Every position of the envelope, each with a change that keeps it ASCII half of the time.
        for position in range(len(sealed.jwe)):
            mutated = bytearray(sealed.jwe)
            mutated[position] ^= 0x01 if position % 2 else 0x80
            response = post(client, bytes(mutated))
            assert 400 <= response.status_code < 500, (position, response.status_code, response.text)
            body = response.json()
            assert body["code"] and body["detail"]
            codes.add(body["code"])
        assert post(client, sealed.jwe).status_code == 200
    assert inbox_count(fra) == 1
    assert "decrypt_failed" in codes and "malformed" in codes


def test_media_type_is_matched_case_insensitively(pair: tuple[Node, Node]) -> None:
    vnm, fra = pair
    with TestClient(create_app(fra, background=False)) as client:
        response = post(client, envelope(vnm, fra).jwe, {"content-type": "Application/JOSE; charset=us-ascii"})
    assert response.status_code == 200, response.text


def test_replay_gets_the_original_receipt_and_is_not_processed_twice(pair_on_both: tuple[Node, Node]) -> None:
    vnm, fra = pair_on_both
    sealed = envelope(vnm, fra)
    with TestClient(create_app(fra, background=False)) as client:
        first = post(client, sealed.jwe)
        again = post(client, sealed.jwe)
    assert first.status_code == again.status_code == 200
    assert again.headers["hanoinet-duplicate"] == "true"
    assert again.text == first.text
    assert inbox_count(fra) == 1


def test_same_id_with_other_content_is_a_conflict_and_raises_an_alarm(pair_on_both: tuple[Node, Node]) -> None:
    vnm, fra = pair_on_both
    message_id = uuid7()
    with TestClient(create_app(fra, background=False)) as client:
        assert post(client, envelope(vnm, fra, message_id=message_id).jwe).status_code == 200
        response = post(client, envelope(vnm, fra, message_id=message_id, text="changed").jwe)
    assert response.status_code == 409
    assert response.json()["code"] == "id_conflict"
    with fra.db.transaction() as uow:
        assert [a.code for a in uow.session.scalars(select(Alarm))] == ["id_conflict"]
    assert inbox_count(fra) == 1


@pytest.mark.parametrize(
    ("delta", "code"), [(timedelta(minutes=6), "from_future"), (timedelta(days=-8), "too_old")]
)
def test_timestamps_outside_the_window_are_refused(
    tmp_path: Path, authority: KeyPair, monkeypatch: pytest.MonkeyPatch, delta: timedelta, code: str
) -> None:
    # VNM's keys were made a month ago, so an old creation time is still inside their validity.
    with monkeypatch.context() as m:
        m.setattr("hanoinet.node.setup.now", lambda: now() - timedelta(days=30))
        vnm = make_node(tmp_path, "VNM", authority, port=8401)
    fra = make_node(tmp_path, "FRA", authority, port=8402)
    publish([vnm, fra], authority)
    with TestClient(create_app(fra, background=False)) as client:
        response = post(client, envelope(vnm, fra, created_delta=delta).jwe)
    assert (response.status_code, response.json()["code"]) == (400, code)


def test_envelope_for_another_state_is_refused(tmp_path: Path, authority: KeyPair) -> None:
    vnm = make_node(tmp_path, "VNM", authority, port=8401)
    fra = make_node(tmp_path, "FRA", authority, port=8402)
    bra = make_node(tmp_path, "BRA", authority, port=8403)
    publish([vnm, fra, bra], authority)
    # A payload signed for FRA, encrypted to BRA: BRA must not accept a message re-targeted to it.
    payload = envelope(vnm, fra).payload
    resealed = seal(payload, vnm.signing_key(), vnm.require_directory().encryption_key("BRA", now()))
    with TestClient(create_app(bra, background=False)) as client:
        response = post(client, resealed.jwe)
    assert (response.status_code, response.json()["code"]) == (400, "wrong_recipient")


def test_oversize_garbage_and_wrong_media_type_are_refused_before_decryption(pair: tuple[Node, Node]) -> None:
    _, fra = pair
    limit = fra.settings.max_envelope_bytes
    with TestClient(create_app(fra, background=False)) as client:
        big = post(client, b"a" * (limit + 1))
        garbage = post(client, b"\x00\xffnot a jwe")
        text = post(client, b"x.y.z.w.v", {"content-type": "text/plain"})
    assert (big.status_code, big.json()["code"]) == (413, "too_large")
    assert (garbage.status_code, garbage.json()["code"]) == (400, "malformed")
    assert (text.status_code, text.json()["code"]) == (415, "unsupported_media_type")


def test_unknown_sender_key_and_compromised_key_are_refused(
    tmp_path: Path, authority: KeyPair, pair: tuple[Node, Node]
) -> None:
    vnm, fra = pair
    stranger = make_node(tmp_path, "BRA", authority, port=8403)
    publish([vnm, fra, stranger], authority, version=2)
    stranger_envelope = envelope(stranger, fra)
    # Version 3 lists BRA with the same keys, but its signing key is marked compromised.
    card = stranger.card()
    keys = [k.model_copy(update={"compromised_since": format_instant(now() - timedelta(hours=1))})
            if k.use == "sig" else k for k in card.keys]
    compact = directory_for([vnm.card(), fra.card(), card.model_copy(update={"keys": keys})], authority, version=3)
    from hanoinet.network.directory_sync import import_directory

    import_directory(fra, compact, source="test")
    with TestClient(create_app(fra, background=False)) as client:
        compromised = post(client, stranger_envelope.jwe)
        # Version 4 drops BRA altogether.
        import_directory(fra, directory_for([vnm.card(), fra.card()], authority, version=4), source="test")
        unknown = post(client, envelope(stranger, fra).jwe)
    assert compromised.json()["code"] == "key_compromised"
    assert unknown.json()["code"] == "unknown_state"


def test_expired_directory_works_in_its_grace_period_then_refuses(
    tmp_path: Path, authority: KeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HANOINET_DIRECTORY_GRACE_SECONDS", "3600")
    vnm = make_node(tmp_path, "VNM", authority, port=8401)
    fra = make_node(tmp_path, "FRA", authority, port=8402)
    # Expired 30 minutes ago: inside the one-hour grace period.
    publish([vnm, fra], authority, issued=now() - timedelta(days=1), valid_for=timedelta(days=1, minutes=-30))
    with TestClient(create_app(fra, background=False)) as client:
        assert post(client, envelope(vnm, fra).jwe).status_code == 200
        assert client.get("/healthz").json()["directory_expired"] is True
    # Expired two hours ago: past the grace period.
    from hanoinet.network.directory_sync import import_directory

    import_directory(fra, directory_for([vnm.card(), fra.card()], authority, version=2,
                                        issued=now() - timedelta(days=1), valid_for=timedelta(hours=22)),
                     source="test")
    with TestClient(create_app(fra, background=False)) as client:
        response = post(client, envelope(vnm, fra).jwe)
    assert (response.status_code, response.json()["code"]) == (503, "directory_expired")


def test_a_node_without_directory_refuses_with_503(tmp_path: Path, authority: KeyPair) -> None:
    vnm = make_node(tmp_path, "VNM", authority, port=8401)
    fra = make_node(tmp_path, "FRA", authority, port=8402)
    publish([vnm], authority)
    with TestClient(create_app(fra, background=False)) as client:
        vnm_directory = vnm.require_directory()
        assert vnm_directory.member("VNM")
        response = post(client, b"a.b.c.d.e")
    assert (response.status_code, response.json()["code"]) == (503, "no_directory")


def test_rate_limit_per_peer(tmp_path: Path, authority: KeyPair, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANOINET_PEER_RATE_PER_SECOND", "1")
    monkeypatch.setenv("HANOINET_PEER_RATE_BURST", "3")
    vnm = make_node(tmp_path, "VNM", authority, port=8401)
    fra = make_node(tmp_path, "FRA", authority, port=8402)
    publish([vnm, fra], authority)
    sealed = [envelope(vnm, fra).jwe for _ in range(5)]  # sealed beforehand, so the posts are back to back
    with TestClient(create_app(fra, background=False)) as client:
        statuses = [post(client, jwe).status_code for jwe in sealed]
    assert statuses[:3] == [200, 200, 200]
    assert statuses[3:] == [429, 429]
