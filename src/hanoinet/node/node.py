"""The node: settings, keys, database and current directory, wired once (the one wiring point)."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import structlog
from sqlalchemy import delete, select

from hanoinet.clock import format_instant, now, parse_instant
from hanoinet.crypto import jose
from hanoinet.crypto.keys import KeyPair, thumbprint
from hanoinet.db.database import Database
from hanoinet.db.models import DirectoryVersion
from hanoinet.errors import EnvelopeRefused, KeyStoreError
from hanoinet.network.directory import DIRECTORY_TYP, Directory, MemberCard, sign_card
from hanoinet.node import audit
from hanoinet.node.keyring import INDEX, KEYS_DIR, Keyring, Listing, known_everywhere_from
from hanoinet.node.metrics import NodeMetrics
from hanoinet.node.pinned import pin_authority, read_authority
from hanoinet.node.settings import NodeSettings, load_settings

log = structlog.get_logger("hanoinet.keys")


class Node:
    """A running node's state. Services take a ``Node`` and do their work through it."""

    def __init__(
        self, settings: NodeSettings, keyring: Keyring, database: Database, passphrase: bytes | None = None
    ) -> None:
        self.settings = settings
        self.keyring = keyring
        self.db = database
        self.authority = read_authority(settings.data_dir)
        self._directory: Directory | None = None
        self._lock = threading.Lock()
        self._wake_listeners: list[Callable[[], None]] = []
        self.metrics = NodeMetrics()
        # Kept to decrypt keys that `rotate-keys` adds while the node runs; the keys it opens are in memory
        # anyway. The stamp of keys.json last read (None: not yet compared with the disk).
        self._passphrase = passphrase
        self._keys_stamp: tuple[int, int, int] | None = None
        self._keys_lock = threading.Lock()
        self._missing_alarmed: set[str] = set()
        # What each held directory version lists of our signing keys (versions never change once stored),
        # and from when each signing key of the current directory is known to every peer.
        self._listings: dict[int, Listing] = {}
        self._known_from: dict[str, datetime] = {}
        self.reload_directory()

    @classmethod
    def open(cls, data_dir: Path, passphrase: bytes | None = None, *, migrate: bool = True) -> Node:
        """Open a data directory: read configuration, decrypt keys, migrate the database."""
        settings = load_settings(data_dir)
        passphrase = passphrase if passphrase is not None else settings.passphrase()
        keyring = Keyring.load(data_dir, passphrase)
        database = Database(settings.db_url, sqlite_synchronous=settings.sqlite_synchronous)
        if migrate:
            database.migrate()
        return cls(settings, keyring, database, passphrase)

    @property
    def state(self) -> str:
        """Our State code."""
        return self.settings.state

    # -- directory -------------------------------------------------------------------------------------

    def reload_directory(self) -> None:
        """Load keys added on disk, and the newest accepted directory version from the database."""
        self.refresh_keys()
        if self.authority is None:
            return
        with self.db.transaction(readonly=True) as uow:
            versions = list(uow.session.scalars(select(DirectoryVersion.version)))
            new = [v for v in versions if v not in self._listings]
            current = self._directory
            if not versions or (not new and current is not None and current.version == max(versions)):
                return
            compacts = {version: compact for version, compact in uow.session.execute(
                select(DirectoryVersion.version, DirectoryVersion.compact)
                .where(DirectoryVersion.version.in_([*new, max(versions)]))
            )}
        for version in new:
            self._listings[version] = _listing(compacts[version], self.state)
        directory = Directory.verify(compacts[max(versions)], self.authority, grace=self.settings.directory_grace)
        held = [self._listings[v] for v in versions]
        card = directory.find(self.state)
        known_from = {k.kid: known_everywhere_from(k.kid, held, self.settings.directory_grace)
                      for k in (card.keys if card is not None else []) if k.use == "sig"}
        with self._lock:
            self._directory = directory
            self._known_from = known_from

    @property
    def directory(self) -> Directory | None:
        """The current directory, if the node has one."""
        return self._directory

    def require_directory(self) -> Directory:
        """The current directory, or ``no_directory``: without it no peer can be trusted."""
        directory = self._directory
        if directory is None:
            raise EnvelopeRefused(
                "this node has no directory yet, so it cannot check any peer",
                hint="import one with `hanoinet directory import` or set HANOINET_DIRECTORY_URL",
                code="no_directory",
            )
        return directory

    # -- keys and card ---------------------------------------------------------------------------------

    def signing_key(self) -> KeyPair:
        """The signing key to use now (docs/protocol.md section 4.3).

        Among our keys the current directory lists as valid now and not compromised, the newest that every
        directory version a peer may still be using lists too; the newest listed one if none is.
        """
        t = now()
        published: dict[str, datetime] | None = None
        directory = self._directory
        card = directory.find(self.state) if directory is not None else None
        if card is not None:
            known_from = self._known_from
            published = {
                k.kid: known_from.get(k.kid, t) for k in card.keys
                if k.use == "sig" and k.compromised_since is None
                and parse_instant(k.not_before) <= t < parse_instant(k.not_after)
            }
        return self.keyring.signing_key(t, published)

    def decryption_key(self, kid: str) -> KeyPair | None:
        """Our encryption key ``kid``; a key not held yet is looked for among keys added on disk since."""
        key = self.keyring.decryption_key(kid)
        if key is None and self.refresh_keys():
            key = self.keyring.decryption_key(kid)
        return key

    def refresh_keys(self) -> bool:
        """Load keys added to ``DATA/keys`` since the node started (by ``rotate-keys``); True if any were.

        Cheap when nothing changed (one ``stat``). A key file that cannot be read raises the alarm
        ``keys_unreadable`` once per change of ``keys.json``, and the node keeps the keys it holds.
        """
        path = self.settings.data_dir / KEYS_DIR / INDEX
        try:
            info = path.stat()
        except OSError:
            return False
        stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
        with self._keys_lock:
            if stamp == self._keys_stamp:
                return False
            self._keys_stamp = stamp
            held = self.keyring
            try:
                extended = held.extended(self.settings.data_dir, self._passphrase)
            except KeyStoreError as exc:
                failure = exc
            else:
                self.keyring = extended
                added = [k.pair for k in extended.keys if not held.holds(k.pair.kid)]
                if added:
                    log.info("keys loaded", kids=[k.kid for k in added])
                    with self.db.transaction() as uow:
                        audit.record(uow.session, actor="system", action="keys.load", target=self.state,
                                     detail={"added": {k.kid: k.use for k in added}})
                return bool(added)
        with self.db.transaction() as uow:
            audit.alarm(uow.session, code="keys_unreadable", severity="critical",
                        message=f"keys added to {path.parent} cannot be loaded: {failure.message} "
                        f"({failure.hint}); the node keeps using the keys it holds",
                        detail={"index": str(path)})
        return False

    def report_missing_key(self, kid: str) -> None:
        """Raise ``own_key_missing`` (once per key) if the directory lists ``kid`` as ours and we lack it.

        Peers encrypt to the keys the directory lists for us, so every envelope they seal to it is refused
        until the key is back; a ``kid`` that is not ours is the sender's mistake and raises nothing.
        """
        directory = self._directory
        card = directory.find(self.state) if directory is not None else None
        entry = card.key(kid) if card is not None else None
        if entry is None or self.keyring.holds(kid) or kid in self._missing_alarmed:
            return
        self._missing_alarmed.add(kid)
        with self.db.transaction() as uow:
            audit.alarm(
                uow.session, code="own_key_missing", severity="critical",
                message=f"directory version {directory.version if directory else '?'} lists {self.state}'s "
                f"{entry.use} key {kid}, but this node does not hold it, so peers using it are refused: restore "
                f"{self.settings.data_dir / KEYS_DIR} from a backup, or send a new card "
                "(`hanoinet node card`) to the Secretariat",
                detail={"kid": kid, "use": entry.use},
            )

    def card(self) -> MemberCard:
        """Our member card, built from configuration and keys."""
        t = now()
        return MemberCard(
            state=self.state, name=self.settings.name, endpoint=self.settings.endpoint,
            keys=self.keyring.entries(t), desks=list(self.settings.desks),
            declarations=list(self.settings.declarations),
            issued_at=format_instant(t),
        )

    def signed_card(self) -> str:
        """Our member card signed with our newest signing key (proof of possession)."""
        return sign_card(self.card(), self.keyring.signing_key(now()))

    # -- delivery wake-up ------------------------------------------------------------------------------

    def on_outbox_commit(self, listener: Callable[[], None]) -> None:
        """Register a callback run after a transaction that wrote outbox rows commits."""
        self._wake_listeners.append(listener)

    def outbox_committed(self) -> None:
        """Tell delivery workers in this process that new envelopes are waiting."""
        for listener in list(self._wake_listeners):
            listener()

    def close(self) -> None:
        """Release the database."""
        self.db.dispose()


def _listing(compact: str, state: str) -> Listing:
    """Expiry and our usable signing keys of a stored version (verified when it was imported)."""
    _, payload = jose.peek_jws(compact, typ=DIRECTORY_TYP)
    document = json.loads(payload)
    kids = frozenset(
        str(k["kid"]) for m in document["members"] if m["state"] == state
        for k in m["keys"] if k["use"] == "sig" and k.get("compromised_since") is None
    )
    return Listing(expires_at=parse_instant(document["expires_at"]), signing_kids=kids)


def repin_authority(data_dir: Path, jwk: dict[str, str], *, actor: str) -> str:
    """Pin a new Secretariat key on an existing node; returns its fingerprint.

    Directory versions signed by the previous key cannot be verified any more, so they leave the active
    table; their hashes stay on the audit trail. The node then waits for a directory from the new authority.
    """
    previous = read_authority(data_dir)
    fingerprint = pin_authority(data_dir, jwk)
    if previous is None or thumbprint(previous) == fingerprint:
        return fingerprint
    settings = load_settings(data_dir)
    database = Database(settings.db_url, sqlite_synchronous=settings.sqlite_synchronous)
    database.migrate()
    with database.transaction() as uow:
        dropped = {str(v.version): hashlib.sha256(v.compact.encode()).hexdigest()
                   for v in uow.session.scalars(select(DirectoryVersion))}
        uow.session.execute(delete(DirectoryVersion))
        audit.record(uow.session, actor=actor, action="authority.repin", target=fingerprint,
                     detail={"previous": thumbprint(previous), "dropped_directory_versions": dropped})
    database.dispose()
    return fingerprint
