"""Evidence data keys, the key-encryption key (KEK) that wraps them at rest, and crypto-shredding.

Every evidence file is encrypted with its own random data key (:mod:`hanoinet.evidence.stream`). The
database holds that key wrapped with AES-256-GCM under the KEK of the current *epoch*, with the file's id
as associated data (a wrapped key moved to another row does not unwrap). The KEK of epoch N is the file
``DATA/keys/evidence-kek-N.jwe``: 32 random bytes JWE-encrypted to the node's own X25519 key, so it is as
well protected as the node's private keys and never stored in the database.

Shredding a file clears its wrapped key and then rotates the KEK: a new epoch is created, every remaining
data key is re-wrapped under it in one transaction, and the old KEK file is overwritten and deleted. A
database backup taken before the shred still holds the shredded file's wrapped key, but nothing that can
unwrap it any more (docs/evidence.md, "Shredding and backups").
"""

from __future__ import annotations

import os
import secrets
import threading
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hanoinet.clock import now
from hanoinet.crypto import jose
from hanoinet.crypto.keys import KeyPair
from hanoinet.db.models import EvidenceFile, EvidenceKek, EvidenceUpload
from hanoinet.errors import KeyStoreError
from hanoinet.node.keyring import KEYS_DIR
from hanoinet.node.node import Node

_CTY = "hanoinet-evidence-kek"
_NONCE = 12


def kek_path(data_dir: Path, epoch: int) -> Path:
    """Where the KEK of ``epoch`` lives."""
    return data_dir / KEYS_DIR / f"evidence-kek-{epoch}.jwe"


class KeyVault:
    """Wraps and unwraps the node's evidence data keys; rotates the KEK when a file is shredded."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self._keks: dict[int, bytes] = {}
        self._lock = threading.Lock()

    def wrap(self, session: Session, file_id: str, data_key: bytes) -> tuple[int, bytes]:
        """Wrap ``data_key`` under the current epoch, inside the caller's transaction; ``(epoch, wrapped)``.

        The epoch row is read with a shared lock, so a concurrent rotation either sees this file's key (and
        re-wraps it) or waits until this transaction ends.
        """
        epoch = session.scalar(select(EvidenceKek.epoch).where(EvidenceKek.retired_at.is_(None))
                               .with_for_update(read=True))
        if epoch is None:
            epoch = self._create_epoch(session, 1 + (session.scalar(select(EvidenceKek.epoch)
                                                                     .order_by(EvidenceKek.epoch.desc())
                                                                     .limit(1)) or 0))
        nonce = secrets.token_bytes(_NONCE)
        return epoch, nonce + AESGCM(self._kek(epoch)).encrypt(nonce, data_key, file_id.encode("ascii"))

    def unwrap(self, file_id: str, epoch: int, wrapped: bytes) -> bytes:
        """The data key of ``file_id``; :class:`KeyStoreError` if its epoch's KEK is gone or it was altered."""
        try:
            return AESGCM(self._kek(epoch)).decrypt(wrapped[:_NONCE], wrapped[_NONCE:], file_id.encode("ascii"))
        except InvalidTag:
            raise KeyStoreError(f"the data key of evidence file {file_id} does not unwrap (altered in the database?)",
                                code="data_key_invalid") from None

    def rotate(self, session: Session) -> int:
        """Start a new epoch and re-wrap every remaining data key (and upload staging key) under it, in the
        caller's transaction.

        Call :meth:`destroy_retired` after the transaction commits to delete the old KEK files.
        """
        current = session.scalar(select(EvidenceKek).where(EvidenceKek.retired_at.is_(None)).with_for_update())
        latest = session.scalar(select(EvidenceKek.epoch).order_by(EvidenceKek.epoch.desc()).limit(1)) or 0
        if current is not None:
            current.retired_at = now()
        new_epoch = self._create_epoch(session, latest + 1)
        aead = AESGCM(self._kek(new_epoch))
        rows = session.execute(select(EvidenceFile.id, EvidenceFile.kek_epoch, EvidenceFile.wrapped_key)
                               .where(EvidenceFile.wrapped_key.is_not(None))).all()
        uploads = session.execute(select(EvidenceUpload.id, EvidenceUpload.kek_epoch, EvidenceUpload.wrapped_key)).all()
        for table, keys in ((EvidenceFile, rows), (EvidenceUpload, uploads)):
            for owner, epoch, wrapped in keys:
                nonce = secrets.token_bytes(_NONCE)
                data_key = self.unwrap(owner, int(epoch or 0), bytes(wrapped or b""))
                rewrapped = nonce + aead.encrypt(nonce, data_key, owner.encode("ascii"))
                session.execute(update(table).where(table.id == owner)
                                .values(wrapped_key=rewrapped, kek_epoch=new_epoch))
        return new_epoch

    def destroy_retired(self) -> list[int]:
        """Overwrite and delete the KEK files of retired epochs (and of epochs never committed); returns them."""
        with self.node.db.transaction(readonly=True) as uow:
            live = set(uow.session.scalars(select(EvidenceKek.epoch).where(EvidenceKek.retired_at.is_(None))))
        folder = self.node.settings.data_dir / KEYS_DIR
        destroyed = []
        for path in sorted(folder.glob("evidence-kek-*.jwe")):
            epoch_text = path.name.removeprefix("evidence-kek-").removesuffix(".jwe")
            if not epoch_text.isdigit() or int(epoch_text) in live:
                continue
            _overwrite_and_delete(path)
            with self._lock:
                self._keks.pop(int(epoch_text), None)
            destroyed.append(int(epoch_text))
        _fsync_dir(folder)
        return destroyed

    def _create_epoch(self, session: Session, epoch: int) -> int:
        # The KEK file is durable before the row that makes it current commits; a file whose row never
        # commits is deleted by the next destroy_retired.
        kek = secrets.token_bytes(32)
        key = self._own_encryption_key()
        compact = jose.encrypt(kek, key.key, kid=key.kid, cty=_CTY)
        path = kek_path(self.node.settings.data_dir, epoch)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(compact)
            handle.flush()
            os.fsync(handle.fileno())
        _fsync_dir(path.parent)
        session.add(EvidenceKek(epoch=epoch, created_at=now()))
        session.flush()
        with self._lock:
            self._keks[epoch] = kek
        return epoch

    def _kek(self, epoch: int) -> bytes:
        with self._lock:
            if epoch in self._keks:
                return self._keks[epoch]
        path = kek_path(self.node.settings.data_dir, epoch)
        try:
            compact = path.read_text(encoding="ascii")
        except FileNotFoundError:
            raise KeyStoreError(
                f"the evidence key-encryption key of epoch {epoch} ({path}) does not exist",
                hint="it was destroyed by a shred, or the keys folder was not restored with the database",
                code="kek_missing",
            ) from None
        kek = jose.decrypt(compact.strip(), self.node.keyring.decryption_key, cty=_CTY).plaintext
        with self._lock:
            self._keks[epoch] = kek
        return kek

    def _own_encryption_key(self) -> KeyPair:
        t = now()
        usable = [k for k in self.node.keyring.keys if k.pair.use == "enc" and k.not_before <= t < k.not_after]
        if not usable:
            raise KeyStoreError("the node has no encryption key valid now", hint="run `hanoinet node rotate-keys`")
        return max(usable, key=lambda k: k.not_before).pair


def _overwrite_and_delete(path: Path) -> None:
    # Best effort: a journaling or copy-on-write filesystem may keep old blocks, which hold the KEK only
    # encrypted to the node's X25519 key.
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.write(secrets.token_bytes(size))
        handle.flush()
        os.fsync(handle.fileno())
    path.unlink()


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
