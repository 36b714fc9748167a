"""The node's own keys on disk: creation, loading, rotation and the choice of key."""

from __future__ import annotations

import json
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from hanoinet.crypto import keys
from hanoinet.errors import KeyStoreError
from hanoinet.node.keyring import INDEX, KEYS_DIR, Keyring, Listing, keys_encrypted, known_everywhere_from
from tests.factories import T0

LIFETIME = timedelta(days=730)
LATER = T0 + timedelta(days=100)


@pytest.fixture
def fast_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    """Encrypted key files with few PBKDF2 rounds, so tests stay quick."""
    monkeypatch.setattr(keys, "KDF_ROUNDS", 1000)


def index(data_dir: Path) -> dict[str, Any]:
    return json.loads((data_dir / KEYS_DIR / INDEX).read_text())  # type: ignore[no-any-return]


def write_index(data_dir: Path, data: object) -> None:
    (data_dir / KEYS_DIR / INDEX).write_text(json.dumps(data))


def test_create(tmp_path: Path) -> None:
    ring = Keyring.create(tmp_path, None, now=T0, lifetime=LIFETIME)
    assert sorted(k.pair.use for k in ring.keys) == ["enc", "sig"]
    assert all(k.not_before == T0 and k.not_after == T0 + LIFETIME for k in ring.keys)
    records = index(tmp_path)["keys"]
    assert [r["use"] for r in records] == ["sig", "enc"]
    assert {r["kid"] for r in records} == {k.pair.kid for k in ring.keys}
    assert not any(r["encrypted"] for r in records)
    for r in records:
        assert (tmp_path / KEYS_DIR / r["file"]).exists()
        assert r["file"] == f"{'signing' if r['use'] == 'sig' else 'encryption'}-{r['kid']}.pem"


def test_files_are_private(tmp_path: Path) -> None:
    Keyring.create(tmp_path, None, now=T0, lifetime=LIFETIME)
    folder = tmp_path / KEYS_DIR
    assert stat.S_IMODE(folder.stat().st_mode) & 0o077 == 0
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


def test_create_twice_is_refused(tmp_path: Path) -> None:
    Keyring.create(tmp_path, None, now=T0, lifetime=LIFETIME)
    with pytest.raises(KeyStoreError, match="already holds keys") as info:
        Keyring.create(tmp_path, None, now=T0, lifetime=LIFETIME)
    assert "rotate-keys" in info.value.hint


def test_load_gives_the_same_keys(tmp_path: Path) -> None:
    created = Keyring.create(tmp_path, None, now=T0, lifetime=LIFETIME)
    loaded = Keyring.load(tmp_path, None)
    assert [(k.pair.kid, k.pair.use, k.not_before, k.not_after) for k in loaded.keys] == [
        (k.pair.kid, k.pair.use, k.not_before, k.not_after) for k in created.keys
    ]
    assert loaded.signing_key(T0).kid == created.signing_key(T0).kid


def test_rotate(tmp_path: Path) -> None:
    first = Keyring.create(tmp_path, None, now=T0, lifetime=LIFETIME)
    old_sig, old_enc = first.signing_key(T0), next(k.pair for k in first.keys if k.pair.use == "enc")
    rotated = first.rotate(tmp_path, None, now=LATER, lifetime=LIFETIME)
    assert len(rotated.keys) == 4
    assert len(Keyring.load(tmp_path, None).keys) == 4
    assert len(index(tmp_path)["keys"]) == 4
    new_sig = rotated.signing_key(LATER)
    assert new_sig.kid != old_sig.kid
    new_enc = next(k.pair for k in rotated.keys if k.pair.use == "enc" and k.not_before == LATER)

    # Both encryption keys still decrypt; signing keys are never used for decryption.
    for ring in (rotated, Keyring.load(tmp_path, None)):
        assert ring.decryption_key(old_enc.kid).kid == old_enc.kid  # type: ignore[union-attr]
        assert ring.decryption_key(new_enc.kid).kid == new_enc.kid  # type: ignore[union-attr]
        assert ring.decryption_key(new_sig.kid) is None
        assert ring.decryption_key("unknown") is None


def test_signing_key_respects_the_published_set(tmp_path: Path) -> None:
    first = Keyring.create(tmp_path, None, now=T0, lifetime=LIFETIME)
    old = first.signing_key(T0)
    ring = first.rotate(tmp_path, None, now=LATER, lifetime=LIFETIME)
    new = ring.signing_key(LATER)
    at = LATER + timedelta(hours=1)
    known, soon = at - timedelta(days=1), at + timedelta(days=1)
    # Until the directory lists the new key, the node keeps signing with the old one.
    assert ring.signing_key(at, published={old.kid: known}).kid == old.kid
    # Listed, but a peer may still use a version without it: still the old one; once known everywhere, the new.
    assert ring.signing_key(at, published={old.kid: known, new.kid: soon}).kid == old.kid
    assert ring.signing_key(at, published={old.kid: known, new.kid: at}).kid == new.kid
    # The old key no longer usable (expired or compromised, so not published): the new one at once.
    assert ring.signing_key(at, published={new.kid: soon}).kid == new.kid
    assert ring.signing_key(at).kid == new.kid
    with pytest.raises(KeyStoreError, match="listed in the directory"):
        ring.signing_key(at, published={"someone-else": known})


def test_known_everywhere_from() -> None:
    grace = timedelta(days=7)
    v1 = Listing(expires_at=T0 + timedelta(days=30), signing_kids=frozenset({"old"}))
    v2 = Listing(expires_at=T0 + timedelta(days=40), signing_kids=frozenset({"old", "new"}))
    v3 = Listing(expires_at=T0 + timedelta(days=20), signing_kids=frozenset())  # before the node joined
    assert known_everywhere_from("new", [v1, v2, v3], grace) == T0 + timedelta(days=37)
    assert known_everywhere_from("old", [v1, v2, v3], grace) == T0 + timedelta(days=27)
    assert known_everywhere_from("old", [v1, v2], grace) < T0
    assert known_everywhere_from("never", [], grace) < T0


def test_extended_loads_only_the_added_keys(tmp_path: Path, fast_kdf: None) -> None:
    running = Keyring.create(tmp_path, b"passphrase", now=T0, lifetime=LIFETIME)
    assert running.extended(tmp_path, b"passphrase").keys == running.keys
    rotated = Keyring.load(tmp_path, b"passphrase").rotate(tmp_path, b"passphrase", now=LATER, lifetime=LIFETIME)
    extended = running.extended(tmp_path, b"passphrase")
    assert [k.pair.kid for k in extended.keys] == [k.pair.kid for k in rotated.keys]
    # Keys held are kept as they are (their files are not decrypted again)...
    assert all(a is b for a, b in zip(extended.keys, running.keys, strict=False))
    assert all(extended.holds(k.pair.kid) for k in rotated.keys)
    # ...and are not forgotten if the index loses them.
    write_index(tmp_path, {"keys": index(tmp_path)["keys"][2:]})
    assert {k.pair.kid for k in running.extended(tmp_path, b"passphrase").keys} == {
        k.pair.kid for k in rotated.keys}
    with pytest.raises(KeyStoreError, match="cannot read"):
        Keyring([]).extended(tmp_path, b"wrong")


def test_signing_key_must_be_valid_now(tmp_path: Path) -> None:
    ring = Keyring.create(tmp_path, None, now=T0, lifetime=LIFETIME)
    assert ring.signing_key(T0)
    assert ring.signing_key(T0 + LIFETIME - timedelta(milliseconds=1))
    for at in (T0 - timedelta(milliseconds=1), T0 + LIFETIME):
        with pytest.raises(KeyStoreError, match="no signing key valid now") as info:
            ring.signing_key(at)
        assert "rotate-keys" in info.value.hint


def test_old_signing_key_used_while_the_new_one_is_not_yet_valid(tmp_path: Path) -> None:
    # Rotating "at" a future instant: until then the old key is the newest valid one.
    first = Keyring.create(tmp_path, None, now=T0, lifetime=LIFETIME)
    ring = first.rotate(tmp_path, None, now=LATER, lifetime=LIFETIME)
    assert ring.signing_key(LATER - timedelta(days=1)).kid == first.signing_key(T0).kid


def test_entries_for_the_card(tmp_path: Path) -> None:
    first = Keyring.create(tmp_path, None, now=T0, lifetime=timedelta(days=200))
    ring = first.rotate(tmp_path, None, now=LATER, lifetime=LIFETIME)
    entries = ring.entries(LATER)
    assert len(entries) == 4
    assert {e.kid for e in entries} == {k.pair.kid for k in ring.keys}
    assert all(e.jwk == ring._by_kid[e.kid].pair.public for e in entries)
    # After the first pair expires only the new pair is published.
    later = T0 + timedelta(days=200)
    assert {e.kid for e in ring.entries(later)} == {k.pair.kid for k in ring.keys if k.not_before == LATER}


def test_encrypted_keyring(tmp_path: Path, fast_kdf: None) -> None:
    created = Keyring.create(tmp_path, b"passphrase", now=T0, lifetime=LIFETIME)
    assert keys_encrypted(tmp_path)
    for path in (tmp_path / KEYS_DIR).glob("*.pem"):
        assert path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    loaded = Keyring.load(tmp_path, b"passphrase")
    assert {k.pair.kid for k in loaded.keys} == {k.pair.kid for k in created.keys}
    with pytest.raises(KeyStoreError, match="no passphrase"):
        Keyring.load(tmp_path, None)
    with pytest.raises(KeyStoreError, match="cannot read"):
        Keyring.load(tmp_path, b"wrong")


def test_keys_encrypted(tmp_path: Path) -> None:
    assert not keys_encrypted(tmp_path)
    Keyring.create(tmp_path, None, now=T0, lifetime=LIFETIME)
    assert not keys_encrypted(tmp_path)


def test_missing_index(tmp_path: Path) -> None:
    with pytest.raises(KeyStoreError, match="missing") as info:
        Keyring.load(tmp_path, None)
    assert "node init" in info.value.hint


def test_missing_key_file(tmp_path: Path) -> None:
    Keyring.create(tmp_path, None, now=T0, lifetime=LIFETIME)
    (tmp_path / KEYS_DIR / index(tmp_path)["keys"][1]["file"]).unlink()
    with pytest.raises(KeyStoreError, match="cannot read") as info:
        Keyring.load(tmp_path, None)
    assert "backup" in info.value.hint


def test_key_file_holding_another_key(tmp_path: Path) -> None:
    Keyring.create(tmp_path, None, now=T0, lifetime=LIFETIME)
    data = index(tmp_path)
    replacement = keys.KeyPair.generate("sig")
    (tmp_path / KEYS_DIR / data["keys"][0]["file"]).write_bytes(replacement.to_pem(None))
    with pytest.raises(KeyStoreError, match="does not hold key"):
        Keyring.load(tmp_path, None)


def test_key_file_of_the_wrong_use(tmp_path: Path) -> None:
    Keyring.create(tmp_path, None, now=T0, lifetime=LIFETIME)
    data = index(tmp_path)
    data["keys"][0]["use"] = "enc"
    write_index(tmp_path, data)
    with pytest.raises(KeyStoreError):
        Keyring.load(tmp_path, None)


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: "not json",
        lambda d: [],
        lambda d: {},
        lambda d: {"keys": 5},
        lambda d: {"keys": [5]},
        lambda d: {"keys": [{**d["keys"][0], "use": "both"}]},
        lambda d: {"keys": [{k: v for k, v in d["keys"][0].items() if k != "kid"}]},
        lambda d: {"keys": [{**d["keys"][0], "extra": 1}]},
        lambda d: {"keys": [{**d["keys"][0], "not_before": "yesterday"}]},
        lambda d: {"keys": [{**d["keys"][0], "not_after": "2026-03-01T12:00:00+00:00"}]},
    ],
)
def test_damaged_index(tmp_path: Path, damage: Any) -> None:
    Keyring.create(tmp_path, None, now=T0, lifetime=LIFETIME)
    damaged = damage(index(tmp_path))
    (tmp_path / KEYS_DIR / INDEX).write_text(damaged if isinstance(damaged, str) else json.dumps(damaged))
    with pytest.raises(KeyStoreError, match="damaged") as info:
        Keyring.load(tmp_path, None)
    assert "backup" in info.value.hint


def test_bad_instant_in_index_is_a_keystore_error_regression(tmp_path: Path) -> None:
    # Regression: the Instant validator raises hanoinet's ValidationError, which is not a ValueError, so a
    # damaged time in keys.json escaped as ValidationError instead of KeyStoreError.
    Keyring.create(tmp_path, None, now=T0, lifetime=LIFETIME)
    data = index(tmp_path)
    data["keys"][0]["not_before"] = "last tuesday"
    write_index(tmp_path, data)
    with pytest.raises(KeyStoreError, match="damaged"):
        Keyring.load(tmp_path, None)
    with pytest.raises(KeyStoreError, match="damaged"):
        keys_encrypted(tmp_path)


def test_undecodable_index(tmp_path: Path) -> None:
    Keyring.create(tmp_path, None, now=T0, lifetime=LIFETIME)
    (tmp_path / KEYS_DIR / INDEX).write_bytes(b"\xff\xfe{")
    with pytest.raises(KeyStoreError, match="damaged"):
        Keyring.load(tmp_path, None)
