"""The node: settings, keys, database and current directory, wired once (the one wiring point)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import delete, select

from hanoinet.clock import format_instant, now
from hanoinet.crypto.keys import KeyPair, thumbprint
from hanoinet.db.database import Database
from hanoinet.db.models import DirectoryVersion
from hanoinet.errors import EnvelopeRefused
from hanoinet.network.directory import Directory, MemberCard, sign_card
from hanoinet.node import audit
from hanoinet.node.keyring import Keyring
from hanoinet.node.metrics import NodeMetrics
from hanoinet.node.pinned import pin_authority, read_authority
from hanoinet.node.settings import NodeSettings, load_settings


class Node:
    """A running node's state. Services take a ``Node`` and do their work through it."""

    def __init__(self, settings: NodeSettings, keyring: Keyring, database: Database) -> None:
        self.settings = settings
        self.keyring = keyring
        self.db = database
        self.authority = read_authority(settings.data_dir)
        self._directory: Directory | None = None
        self._lock = threading.Lock()
        self._wake_listeners: list[Callable[[], None]] = []
        self.metrics = NodeMetrics()
        self.reload_directory()

    @classmethod
    def open(cls, data_dir: Path, passphrase: bytes | None = None, *, migrate: bool = True) -> Node:
        """Open a data directory: read configuration, decrypt keys, migrate the database."""
        settings = load_settings(data_dir)
        keyring = Keyring.load(data_dir, passphrase if passphrase is not None else settings.passphrase())
        database = Database(settings.db_url, sqlite_synchronous=settings.sqlite_synchronous)
        if migrate:
            database.migrate()
        return cls(settings, keyring, database)

    @property
    def state(self) -> str:
        """Our State code."""
        return self.settings.state

    # -- directory -------------------------------------------------------------------------------------

    def reload_directory(self) -> None:
        """Load the newest accepted directory version from the database."""
        if self.authority is None:
            return
        with self.db.transaction(readonly=True) as uow:
            row = uow.session.scalar(select(DirectoryVersion).order_by(DirectoryVersion.version.desc()).limit(1))
            compact = row.compact if row is not None else None
        if compact is not None:
            directory = Directory.verify(compact, self.authority, grace=self.settings.directory_grace)
            with self._lock:
                self._directory = directory

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
        """The signing key to use now: the newest one the current directory already lists for us."""
        published: set[str] | None = None
        directory = self._directory
        if directory is not None:
            card = directory.find(self.state)
            if card is not None:
                published = {k.kid for k in card.keys}
        return self.keyring.signing_key(now(), published)

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
