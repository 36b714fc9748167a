"""The node's own keys on disk: ``DATA/keys/`` holds PKCS#8 files and ``keys.json`` with their validity.

Rotation adds a new pair and keeps the old ones: the old encryption key still decrypts envelopes sealed
before peers saw the new card, and the old signing key keeps signing until every directory a peer may still
be using lists the new one. A running node picks up keys added on disk without a restart
(:meth:`Keyring.extended`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from hanoinet.clock import Instant, format_instant, parse_instant
from hanoinet.crypto.keys import KeyPair, KeyUse, write_private_file
from hanoinet.errors import KeyStoreError, ValidationError
from hanoinet.network.directory import KeyEntry

KEYS_DIR = "keys"
INDEX = "keys.json"


class _KeyRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kid: str
    use: KeyUse
    file: str
    not_before: Instant
    not_after: Instant
    encrypted: bool


@dataclass(frozen=True, slots=True)
class OwnKey:
    """One of our private keys with its validity."""

    pair: KeyPair
    not_before: datetime
    not_after: datetime

    def entry(self) -> KeyEntry:
        """The public key entry for the member card."""
        return KeyEntry(
            kid=self.pair.kid, use=self.pair.use, jwk=self.pair.public,
            not_before=format_instant(self.not_before), not_after=format_instant(self.not_after),
        )


class Keyring:
    """All of the node's key pairs, loaded once at start."""

    def __init__(self, keys: list[OwnKey]) -> None:
        self.keys = sorted(keys, key=lambda k: k.not_before)
        self._by_kid = {k.pair.kid: k for k in self.keys}

    @staticmethod
    def create(data_dir: Path, passphrase: bytes | None, *, now: datetime, lifetime: timedelta) -> Keyring:
        """Generate the first signing and encryption pair (``node init``)."""
        if (data_dir / KEYS_DIR / INDEX).exists():
            raise KeyStoreError(f"{data_dir / KEYS_DIR} already holds keys", hint="use `hanoinet node rotate-keys`")
        return Keyring([]).rotate(data_dir, passphrase, now=now, lifetime=lifetime)

    def rotate(self, data_dir: Path, passphrase: bytes | None, *, now: datetime, lifetime: timedelta) -> Keyring:
        """Add a new signing and encryption pair valid from ``now``; returns the extended keyring."""
        keys_dir = data_dir / KEYS_DIR
        keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        records = _read_index(data_dir) if (keys_dir / INDEX).exists() else []
        added = []
        for use, prefix in (("sig", "signing"), ("enc", "encryption")):
            pair = KeyPair.generate(use)  # type: ignore[arg-type]
            name = f"{prefix}-{pair.kid}.pem"
            write_private_file(keys_dir / name, pair.to_pem(passphrase))
            key = OwnKey(pair, now, now + lifetime)
            added.append(key)
            records.append(_KeyRecord(
                kid=pair.kid, use=pair.use, file=name, not_before=format_instant(key.not_before),
                not_after=format_instant(key.not_after), encrypted=passphrase is not None,
            ))
        index = {"keys": [r.model_dump() for r in records]}
        write_private_file(keys_dir / INDEX, json.dumps(index, indent=2).encode())
        return Keyring(self.keys + added)

    @staticmethod
    def load(data_dir: Path, passphrase: bytes | None) -> Keyring:
        """Load and decrypt every key listed in ``keys.json``."""
        return Keyring([]).extended(data_dir, passphrase)

    def extended(self, data_dir: Path, passphrase: bytes | None) -> Keyring:
        """This keyring plus the keys ``keys.json`` lists that it does not hold yet (added by a rotation).

        Keys already held are kept as they are, without decrypting their files again, even if the index no
        longer lists them: a running node never forgets a key it could decrypt with.
        """
        keys = list(self.keys)
        for record in _read_index(data_dir):
            if record.kid in self._by_kid:
                continue
            path = data_dir / KEYS_DIR / record.file
            try:
                pem = path.read_bytes()
            except OSError as exc:
                raise KeyStoreError(f"cannot read {path}: {exc}", hint="restore the key from a backup") from None
            pair = KeyPair.from_pem(pem, passphrase, use=record.use, where=str(path))
            if pair.kid != record.kid:
                raise KeyStoreError(f"{path} does not hold key {record.kid} named in {INDEX}")
            keys.append(OwnKey(pair, parse_instant(record.not_before), parse_instant(record.not_after)))
        return Keyring(keys)

    def holds(self, kid: str) -> bool:
        """Whether the keyring holds the private key ``kid`` (of either use)."""
        return kid in self._by_kid

    def signing_key(self, now: datetime, published: Mapping[str, datetime] | None = None) -> KeyPair:
        """The signing key to use now.

        Without ``published`` (no directory lists the node yet): the newest key valid now. With it, for each
        of our signing keys the current directory lists as usable now, the instant from which every
        directory a peer may still be using lists it too (:func:`known_everywhere_from`): the newest such key
        already known everywhere, else the newest listed one. So a new key is used only once no peer can
        refuse it, unless the older keys can no longer sign (expired, or marked compromised).
        """
        valid = [k for k in reversed(self.keys) if k.pair.use == "sig" and k.not_before <= now < k.not_after]
        if published is None:
            chosen = valid[:1]
        else:
            listed = [k for k in valid if k.pair.kid in published]
            chosen = [k for k in listed if published[k.pair.kid] <= now][:1] or listed[:1]
        if not chosen:
            raise KeyStoreError(
                "this node has no signing key valid now" + (" and listed in the directory" if published else ""),
                hint="rotate keys (`hanoinet node rotate-keys`) and send the new card to the Secretariat",
            )
        return chosen[0].pair

    def decryption_key(self, kid: str) -> KeyPair | None:
        """Our encryption key ``kid``, if we hold it."""
        key = self._by_kid.get(kid)
        return key.pair if key is not None and key.pair.use == "enc" else None

    def entries(self, now: datetime) -> list[KeyEntry]:
        """Public entries of every key not yet expired, for the member card."""
        return [k.entry() for k in self.keys if k.not_after > now]


@dataclass(frozen=True, slots=True)
class Listing:
    """What one directory version the node holds says about the node's own signing keys."""

    expires_at: datetime
    #: Our signing keys it lists and does not mark compromised.
    signing_kids: frozenset[str]


def known_everywhere_from(kid: str, listings: Iterable[Listing], grace: timedelta) -> datetime:
    """From when every directory version a peer may still be using lists our signing key ``kid``.

    A peer keeps using a version until its ``expires_at`` plus the grace period, so that is the end of every
    held version that does not list the key; before it, a peer on such a version refuses what the key signs.
    """
    ends = [listing.expires_at + grace for listing in listings if kid not in listing.signing_kids]
    return max(ends, default=datetime.min.replace(tzinfo=UTC))


def _read_index(data_dir: Path) -> list[_KeyRecord]:
    path = data_dir / KEYS_DIR / INDEX
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [_KeyRecord.model_validate(r) for r in data["keys"]]
    except FileNotFoundError:
        raise KeyStoreError(f"{path} is missing", hint="is this a node data directory? see `hanoinet node init`") \
            from None
    except (ValueError, KeyError, TypeError, ValidationError) as exc:  # ValidationError: from Instant fields
        raise KeyStoreError(f"{path} is damaged: {exc}", hint="restore it from a backup") from None


def keys_encrypted(data_dir: Path) -> bool:
    """Whether any of the node's key files is passphrase-protected (False if there are none yet)."""
    if not (data_dir / KEYS_DIR / INDEX).exists():
        return False
    return any(r.encrypted for r in _read_index(data_dir))
