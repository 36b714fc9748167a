"""The running node and its keys: keys rotated on disk are used at once, signing switches when peers know."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from hanoinet.clock import format_instant, now
from hanoinet.crypto import keys
from hanoinet.crypto.keys import KeyPair
from hanoinet.db.models import Alarm
from hanoinet.errors import EnvelopeRefused
from hanoinet.network import directory_sync, inbox
from hanoinet.network.directory import MemberCard
from hanoinet.node import node as node_module
from hanoinet.node.keyring import INDEX, KEYS_DIR, Keyring
from hanoinet.node.node import Node
from tests.support import directory_for, envelope, make_node, publish

LIFETIME = timedelta(days=730)


@pytest.fixture
def pair(tmp_path: Path, authority: KeyPair) -> tuple[Node, Node]:
    vnm = make_node(tmp_path, "VNM", authority, port=8401)
    fra = make_node(tmp_path, "FRA", authority, port=8402)
    publish([vnm, fra], authority)
    return vnm, fra


def rotate_on_disk(node: Node, passphrase: bytes | None = None) -> None:
    """What `hanoinet node rotate-keys` does, from another process: the running node is not told."""
    data = node.settings.data_dir
    Keyring.load(data, None).rotate(data, passphrase, now=now(), lifetime=LIFETIME)


def card_on_disk(node: Node) -> MemberCard:
    """What `hanoinet node card` prints after the rotation."""
    fresh = Node.open(node.settings.data_dir)
    try:
        return fresh.card()
    finally:
        fresh.close()


def publish_cards(cards: list[MemberCard], authority: KeyPair, version: int, *to: Node, **kwargs: object) -> None:
    compact = directory_for(cards, authority, version=version, **kwargs)  # type: ignore[arg-type]
    for node in to:
        directory_sync.import_directory(node, compact, source="test")


def alarms(node: Node, code: str) -> list[Alarm]:
    with node.db.transaction(readonly=True) as uow:
        return list(uow.session.scalars(select(Alarm).where(Alarm.code == code)))


def new_enc_kid(node: Node, card: MemberCard) -> str:
    held = {k.pair.kid for k in node.keyring.keys}
    return next(k.kid for k in card.keys if k.use == "enc" and k.kid not in held)


def test_rotated_keys_decrypt_without_restart_in_either_order(pair: tuple[Node, Node], authority: KeyPair) -> None:
    vnm, fra = pair
    to_old_key = envelope(vnm, fra, text="sealed to FRA's old key before the rotation")
    rotate_on_disk(fra)
    card = card_on_disk(fra)
    # The Secretariat publishes and VNM sees the version before FRA does: VNM seals to FRA's new key.
    publish_cards([vnm.card(), card], authority, 2, vnm)
    to_new_key = envelope(vnm, fra, text="sealed to FRA's new key")
    assert vnm.require_directory().encryption_key("FRA", now()).kid == new_enc_kid(fra, card)
    assert inbox.receive(fra, to_new_key.jwe)
    # FRA imports the version; a peer still on version 1 keeps sealing to the old key, which still opens.
    directory_sync.import_directory(fra, vnm.require_directory().compact, source="test")
    assert inbox.receive(fra, to_old_key.jwe)
    assert inbox.receive(fra, envelope(vnm, fra, text="to the new key, after the import").jwe)
    assert not alarms(fra, "own_key_missing")
    assert not alarms(fra, "keys_unreadable")


def test_a_listed_key_the_node_lacks_raises_one_alarm(pair: tuple[Node, Node], authority: KeyPair) -> None:
    vnm, fra = pair
    index = (fra.settings.data_dir / KEYS_DIR / INDEX).read_text()
    rotate_on_disk(fra)
    card = card_on_disk(fra)
    # The new keys are lost (keys/ restored from an older copy) after the card went to the Secretariat.
    (fra.settings.data_dir / KEYS_DIR / INDEX).write_text(index)
    publish_cards([vnm.card(), card], authority, 2, vnm, fra)
    for _ in range(2):
        with pytest.raises(EnvelopeRefused) as info:
            inbox.receive(fra, envelope(vnm, fra).jwe)
        assert info.value.code == "unknown_recipient_key"
    [alarm] = alarms(fra, "own_key_missing")
    assert alarm.severity == "critical"
    assert new_enc_kid(fra, card) in alarm.message and "backup" in alarm.message
    assert json.loads(alarm.detail) == {"kid": new_enc_kid(fra, card), "use": "enc"}


def test_a_key_that_is_not_ours_raises_no_alarm(pair: tuple[Node, Node], authority: KeyPair) -> None:
    vnm, fra = pair
    stranger = KeyPair.generate("enc")
    card = fra.card()
    entry = card.keys[0].model_copy(update={"kid": stranger.kid, "jwk": stranger.public, "use": "enc",
                                            "not_before": format_instant(now())})
    # VNM's directory says FRA has a key FRA never published (FRA's directory does not list it).
    publish_cards([vnm.card(), card.model_copy(update={"keys": [*card.keys, entry]})], authority, 2, vnm,
                  issued=now() + timedelta(seconds=1))
    with pytest.raises(EnvelopeRefused) as info:
        inbox.receive(fra, envelope(vnm, fra).jwe)
    assert info.value.code == "unknown_recipient_key"
    assert not alarms(fra, "own_key_missing")


def test_keys_that_cannot_be_loaded_raise_an_alarm_and_the_old_keys_stay(
    pair: tuple[Node, Node], monkeypatch: pytest.MonkeyPatch
) -> None:
    vnm, fra = pair
    monkeypatch.setattr(keys, "KDF_ROUNDS", 1000)
    old = fra.signing_key().kid
    rotate_on_disk(fra, passphrase=b"not the node's")  # the running node has no passphrase
    fra.reload_directory()
    fra.reload_directory()  # the same keys.json: not tried, nor alarmed, again
    [alarm] = alarms(fra, "keys_unreadable")
    assert "no passphrase" in alarm.message
    assert fra.signing_key().kid == old
    assert inbox.receive(fra, envelope(vnm, fra).jwe)


def at(monkeypatch: pytest.MonkeyPatch, t: datetime) -> None:
    monkeypatch.setattr(node_module, "now", lambda: t)


def test_signing_switches_once_no_usable_directory_lacks_the_new_key(
    tmp_path: Path, authority: KeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    t0 = now()
    vnm = make_node(tmp_path, "VNM", authority, port=8401)
    fra = make_node(tmp_path, "FRA", authority, port=8402)
    publish([vnm, fra], authority, issued=t0, valid_for=timedelta(days=30))
    old = vnm.signing_key().kid
    rotate_on_disk(vnm)
    publish_cards([card_on_disk(vnm), fra.card()], authority, 2, vnm, fra, issued=t0 + timedelta(days=1),
                  valid_for=timedelta(days=30))
    new = next(k.pair.kid for k in vnm.keyring.keys if k.pair.use == "sig" and k.pair.kid != old)
    # A peer may use version 1 until it expires plus the grace period (7 days): until then, the old key.
    switch = t0 + timedelta(days=30) + vnm.settings.directory_grace
    at(monkeypatch, t0 + timedelta(days=2))
    assert vnm.signing_key().kid == old
    at(monkeypatch, switch - timedelta(milliseconds=1))
    assert vnm.signing_key().kid == old
    at(monkeypatch, switch)
    assert vnm.signing_key().kid == new
    # A restarted node makes the same choice from the versions it holds.
    assert Node.open(vnm.settings.data_dir).signing_key().kid == new


def test_a_compromised_old_key_is_replaced_at_once(pair: tuple[Node, Node], authority: KeyPair) -> None:
    vnm, fra = pair
    old = vnm.signing_key().kid
    rotate_on_disk(vnm)
    card = card_on_disk(vnm)
    marked = [k.model_copy(update={"compromised_since": format_instant(now())}) if k.kid == old else k
              for k in card.keys]
    publish_cards([card.model_copy(update={"keys": marked}), fra.card()], authority, 2, vnm, fra)
    assert vnm.signing_key().kid not in (old, None)
    assert inbox.receive(fra, envelope(vnm, fra).jwe)
