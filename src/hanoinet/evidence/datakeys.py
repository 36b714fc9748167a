"""Evidence data keys, the key-encryption key (KEK) that wraps them at rest, and crypto-shredding.

Every evidence file is encrypted with its own random data key (:mod:`hanoinet.evidence.stream`). The
database holds that key wrapped with AES-256-GCM under the KEK of the current *epoch*, with the file's id
as associated data (a wrapped key moved to another row does not unwrap). The KEK of epoch N is the file
``DATA/keys/evidence-kek-N.jwe``: 32 random bytes JWE-encrypted to the node's own X25519 key, so it is as
well protected as the node's private keys and never stored in the database.

Shredding a file clears its wrapped key and then rotates the KEK: a new epoch is created, every remaining
data key is re-wrapped under it in one transaction, and the old KEK file is overwritten and deleted. A copy
of the database alone taken before the shred (``pg_dump``, a copy of ``node.db``) still holds the shredded
file's wrapped key, but nothing that can unwrap it any more. A node backup archive holds the keys folder
too, so it keeps the key alive until the archive itself is destroyed (docs/evidence.md, "Shredding and
backups").
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from hanoinet.clock import now
from hanoinet.crypto import jose
from hanoinet.crypto.keys import KeyPair
from hanoinet.db.models import EvidenceFile, EvidenceKek, EvidenceUpload
from hanoinet.durable import fsync_folder
from hanoinet.errors import KeyStoreError
from hanoinet.node import audit
from hanoinet.node.keyring import KEYS_DIR
from hanoinet.node.node import Node

_CTY = "hanoinet-evidence-kek"
_NONCE = 12


def kek_path(data_dir: Path, epoch: int) -> Path:
    """Where the KEK of ``epoch`` lives."""
    return data_dir / KEYS_DIR / f"evidence-kek-{epoch}.jwe"


class KeyVault:
    """Wraps and unwraps the node's evidence data keys; rotates the KEK when a file is shredded.

    KEKs are read from their files at each use and never cached: once a shred destroys a KEK file, no
    process of the node can unwrap with it any more.
    """

    def __init__(self, node: Node) -> None:
        self.node = node

    def ensure_epoch(self) -> None:
        """Create the first epoch if there is none (in its own transaction, before any data key is wrapped)."""
        with self.node.db.transaction() as uow:
            if uow.session.scalar(select(func.count()).select_from(EvidenceKek)) == 0:
                self._create_epoch(uow.session, 1)

    def wrap(self, session: Session, file_id: str, data_key: bytes) -> tuple[int, bytes]:
        """Wrap ``data_key`` under the current epoch, inside the caller's transaction; ``(epoch, wrapped)``.

        The epoch row is read with a shared lock, so a concurrent rotation either sees this file's key (and
        re-wraps it) or waits until this transaction ends.
        """
        epoch = self._current(session)
        nonce = secrets.token_bytes(_NONCE)
        return epoch, nonce + AESGCM(self._kek(epoch)).encrypt(nonce, data_key, file_id.encode("ascii"))

    def _current(self, session: Session) -> int:
        for _ in range(5):
            epoch = session.scalar(select(EvidenceKek.epoch).where(EvidenceKek.retired_at.is_(None))
                                   .with_for_update(read=True))
            if epoch is not None:
                return int(epoch)
            if session.scalar(select(func.count()).select_from(EvidenceKek)) == 0:
                return self._create_epoch(session, 1)[0]
            # Under READ COMMITTED a rotation we waited for retired the row we saw; a new statement sees the
            # epoch it created.
        raise KeyStoreError("no current evidence key-encryption key epoch", code="kek_missing",
                            hint="a shredding may have failed half way; run it again")

    def unwrap(self, file_id: str, epoch: int, wrapped: bytes) -> bytes:
        """The data key of ``file_id``; :class:`KeyStoreError` if its epoch's KEK is gone or it was altered."""
        return self._unwrap_with(self._kek(epoch), file_id, wrapped)

    @staticmethod
    def _unwrap_with(kek: bytes, file_id: str, wrapped: bytes) -> bytes:
        try:
            return AESGCM(kek).decrypt(wrapped[:_NONCE], wrapped[_NONCE:], file_id.encode("ascii"))
        except InvalidTag:
            raise KeyStoreError(f"the data key of evidence file {file_id} does not unwrap (altered in the database?)",
                                code="data_key_invalid") from None

    @staticmethod
    def lock_rotation(session: Session) -> None:
        """Take the lock a rotation takes (the current epoch's row), before any file row is locked."""
        session.execute(select(EvidenceKek.epoch).where(EvidenceKek.retired_at.is_(None)).with_for_update())

    def rotate(self, session: Session) -> int:
        """Start a new epoch and re-wrap every remaining data key (and upload staging key) under it, in the
        caller's transaction.

        Call :meth:`destroy_retired` after the transaction commits to delete the old KEK files.
        """
        current = session.scalars(select(EvidenceKek).where(EvidenceKek.retired_at.is_(None)).with_for_update()).all()
        latest = session.scalar(select(func.max(EvidenceKek.epoch))) or 0
        for row in current:
            row.retired_at = now()
        new_epoch, new_kek = self._create_epoch(session, latest + 1)
        aead = AESGCM(new_kek)
        keks = {row.epoch: self._kek(row.epoch) for row in current}
        files = session.execute(select(EvidenceFile.id, EvidenceFile.kek_epoch, EvidenceFile.wrapped_key)
                                .where(EvidenceFile.wrapped_key.is_not(None))).all()
        uploads = session.execute(select(EvidenceUpload.id, EvidenceUpload.kek_epoch, EvidenceUpload.wrapped_key)).all()
        for table, keys in ((EvidenceFile, files), (EvidenceUpload, uploads)):
            for owner, epoch, wrapped in keys:
                try:
                    kek = keks.get(int(epoch or 0)) or self._kek(int(epoch or 0))
                    data_key = self._unwrap_with(kek, owner, bytes(wrapped or b""))
                except KeyStoreError as exc:
                    # One damaged row must not stop every shred (a legal duty); it is lost either way.
                    audit.alarm(session, code="data_key_lost", message=f"the data key of {owner} could not be "
                                f"re-wrapped and is lost: {exc.message}", detail={"owner": owner})
                    continue
                nonce = secrets.token_bytes(_NONCE)
                rewrapped = nonce + aead.encrypt(nonce, data_key, owner.encode("ascii"))
                session.execute(update(table).where(table.id == owner)
                                .values(wrapped_key=rewrapped, kek_epoch=new_epoch))
        return new_epoch

    def destroy_retired(self) -> list[int]:
        """Overwrite and delete the KEK files of retired epochs; returns their epochs."""
        destroyed = []
        for epoch, path in self.retired_files().items():
            with contextlib.suppress(FileNotFoundError):  # another process of the node destroyed it first
                _overwrite_and_delete(path)
                destroyed.append(epoch)
        if destroyed:
            fsync_folder(self.node.settings.data_dir / KEYS_DIR)
        return destroyed

    def retired_files(self) -> dict[int, Path]:
        """The KEK files still on disk of retired epochs, by epoch: what :meth:`destroy_retired` destroys.

        Only epochs whose retirement committed: the file of an epoch another process is creating right now
        has no row yet that we can see, and must stay. (A file left by a creation that never committed is
        replaced when that epoch number is created again.)
        """
        with self.node.db.transaction(readonly=True) as uow:
            retired = set(uow.session.scalars(select(EvidenceKek.epoch).where(EvidenceKek.retired_at.is_not(None))))
        found = {}
        for path in sorted((self.node.settings.data_dir / KEYS_DIR).glob("evidence-kek-*.jwe")):
            epoch_text = path.name.removeprefix("evidence-kek-").removesuffix(".jwe")
            if epoch_text.isdigit() and int(epoch_text) in retired:
                found[int(epoch_text)] = path
        return found

    def _create_epoch(self, session: Session, epoch: int) -> tuple[int, bytes]:
        # The row first: its primary key makes concurrent creators of the same epoch wait for each other. A
        # file already at that path can only be left by a transaction that never committed: replaced.
        session.add(EvidenceKek(epoch=epoch, created_at=now()))
        session.flush()
        kek = secrets.token_bytes(32)
        key = self._own_encryption_key()
        compact = jose.encrypt(kek, key.key, kid=key.kid, cty=_CTY)
        path = kek_path(self.node.settings.data_dir, epoch)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(compact)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        fsync_folder(path.parent)
        return epoch, kek

    def _kek(self, epoch: int) -> bytes:
        path = kek_path(self.node.settings.data_dir, epoch)
        try:
            compact = path.read_text(encoding="ascii")
        except FileNotFoundError:
            raise KeyStoreError(
                f"the evidence key-encryption key of epoch {epoch} ({path}) does not exist",
                hint="it was destroyed by a shred, or the keys folder was not restored with the database",
                code="kek_missing",
            ) from None
        return jose.decrypt(compact.strip(), self.node.decryption_key, cty=_CTY).plaintext

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
