"""Evidence data keys wrapped under the KEK of an epoch; rotation, destruction of retired KEKs, and shredding
while other work is in flight."""

from __future__ import annotations

import io
import os
import stat
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from hanoinet.crypto import jose
from hanoinet.crypto.keys import KeyPair
from hanoinet.db.models import EvidenceFile, EvidenceKek, EvidenceUpload
from hanoinet.errors import KeyStoreError
from hanoinet.evidence.datakeys import KeyVault, kek_path
from hanoinet.evidence.service import EvidenceService
from hanoinet.evidence.uploads import Uploads
from hanoinet.node.node import Node
from tests.support import make_node

CASE = "VNM-2026-0009"
WAIT = 20.0


@pytest.fixture
def node(tmp_path: Path, authority: KeyPair) -> Iterator[Node]:
    """A node on its own SQLite database."""
    made = make_node(tmp_path, "VNM", authority)
    yield made
    made.close()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, authority: KeyPair) -> Iterator[Node]:
    """One node for the property tests, whose examples only add keys."""
    made = make_node(tmp_path_factory.mktemp("keys"), "VNM", authority)
    yield made
    made.close()


def _live_epochs(node: Node) -> list[int]:
    with node.db.transaction(readonly=True) as uow:
        return sorted(uow.session.scalars(select(EvidenceKek.epoch).where(EvidenceKek.retired_at.is_(None))))


def _keys(node: Node) -> dict[str, tuple[int, bytes]]:
    """Every wrapped key in the database (files and uploads), by owner: ``(epoch, wrapped)``."""
    with node.db.transaction(readonly=True) as uow:
        files = uow.session.execute(select(EvidenceFile.id, EvidenceFile.kek_epoch, EvidenceFile.wrapped_key)
                                    .where(EvidenceFile.wrapped_key.is_not(None))).all()
        uploads = uow.session.execute(select(EvidenceUpload.id, EvidenceUpload.kek_epoch,
                                             EvidenceUpload.wrapped_key)).all()
    keys = {}
    for owner, epoch, wrapped in [*files, *uploads]:
        assert epoch is not None and wrapped is not None
        keys[owner] = (epoch, bytes(wrapped))
    return keys


def _wrap(node: Node, vault: KeyVault, file_id: str, data_key: bytes) -> tuple[int, bytes]:
    with node.db.transaction() as uow:
        return vault.wrap(uow.session, file_id, data_key)


def _kek_files(node: Node) -> list[str]:
    return sorted(p.name for p in (node.settings.data_dir / "keys").glob("evidence-kek-*"))


# -- wrapping -----------------------------------------------------------------------------------------------


@settings(max_examples=30)
@given(file_id=st.binary(min_size=16, max_size=16).map(bytes.hex), other=st.binary(min_size=16, max_size=16),
       data_key=st.binary(min_size=32, max_size=32), flip=st.integers(min_value=0))
def test_a_wrapped_key_unwraps_only_for_its_own_file_and_unaltered(shared: Node, file_id: str, other: bytes,
                                                                    data_key: bytes, flip: int) -> None:
    vault = KeyVault(shared)
    epoch, wrapped = _wrap(shared, vault, file_id, data_key)
    assert data_key not in wrapped
    assert vault.unwrap(file_id, epoch, wrapped) == data_key
    assert KeyVault(shared).unwrap(file_id, epoch, wrapped) == data_key  # from the KEK file, not a cache
    refusals = []
    if other.hex() != file_id:
        refusals.append((other.hex(), wrapped))
    altered = bytearray(wrapped)
    altered[flip % len(altered)] ^= 1 << (flip % 8)
    refusals.append((file_id, bytes(altered)))
    for owner, candidate in refusals:
        with pytest.raises(KeyStoreError) as caught:
            vault.unwrap(owner, epoch, candidate)
        assert caught.value.code == "data_key_invalid" and owner in caught.value.message


def test_a_wrapped_key_moved_to_another_row_does_not_open_that_file(node: Node) -> None:
    service = EvidenceService(node)
    first = service.ingest(io.BytesIO(b"first"), name="1.txt", case=CASE, actor="officer:1")
    second = service.ingest(io.BytesIO(b"second"), name="2.txt", case=CASE, actor="officer:1")
    with node.db.transaction() as uow:
        moved = uow.session.scalar(select(EvidenceFile.wrapped_key).where(EvidenceFile.id == first.id))
        uow.session.execute(update(EvidenceFile).where(EvidenceFile.id == second.id).values(wrapped_key=moved))
    with pytest.raises(KeyStoreError) as caught:
        service.plaintext(second.id)
    assert caught.value.code == "data_key_invalid" and second.id in caught.value.message
    assert b"".join(service.plaintext(first.id)) == b"first"


def test_the_kek_lives_only_in_its_file_encrypted_to_the_nodes_key(node: Node) -> None:
    service = EvidenceService(node)
    item = service.ingest(io.BytesIO(b"x"), name="x.txt", case=CASE, actor="officer:1")
    [(epoch, wrapped)] = _keys(node).values()
    path = kek_path(node.settings.data_dir, epoch)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    compact = path.read_text(encoding="ascii").strip()
    assert compact.count(".") == 4  # JWE compact serialization (RFC 7516)
    kek = jose.decrypt(compact, node.keyring.decryption_key, cty="hanoinet-evidence-kek").plaintext
    assert len(kek) == 32
    # As documented: nonce (12 bytes) || AES-256-GCM of the data key, with the file id as associated data.
    data_key = AESGCM(kek).decrypt(wrapped[:12], wrapped[12:], item.id.encode("ascii"))
    assert data_key == service.vault.unwrap(item.id, epoch, wrapped)


def test_a_missing_kek_file_is_reported_with_what_to_do(node: Node) -> None:
    service = EvidenceService(node)
    item = service.ingest(io.BytesIO(b"x"), name="x.txt", case=CASE, actor="officer:1")
    [epoch] = _live_epochs(node)
    path = kek_path(node.settings.data_dir, epoch)
    path.unlink()
    with pytest.raises(KeyStoreError) as caught:
        EvidenceService(node).plaintext(item.id)  # a restarted node: nothing cached
    error = caught.value
    assert error.code == "kek_missing"
    assert str(path) in error.message and f"epoch {epoch}" in error.message
    assert "restored" in error.hint


# -- rotation and destruction -------------------------------------------------------------------------------


def test_rotation_rewraps_every_file_and_upload_key_and_destroys_only_retired_keks(node: Node) -> None:
    service = EvidenceService(node)
    items = [service.ingest(io.BytesIO(os.urandom(n)), name=f"{n}.bin", case=CASE, actor="officer:1") for n in (3, 9)]
    upload = Uploads(service).start(case=CASE, name="up.bin", size=10, actor="officer:1")
    before = _keys(node)
    assert set(before) == {items[0].id, items[1].id, upload.id}
    data_keys = {owner: service.vault.unwrap(owner, epoch, wrapped) for owner, (epoch, wrapped) in before.items()}
    [old] = _live_epochs(node)

    with node.db.transaction() as uow:
        new = service.vault.rotate(uow.session)
    assert _live_epochs(node) == [new] and new == old + 1
    assert _kek_files(node) == [f"evidence-kek-{old}.jwe", f"evidence-kek-{new}.jwe"]  # destroyed only on demand
    after = _keys(node)
    for owner, (epoch, wrapped) in after.items():
        assert epoch == new and wrapped != before[owner][1]
        assert KeyVault(node).unwrap(owner, epoch, wrapped) == data_keys[owner]

    assert service.vault.destroy_retired() == [old]
    assert _kek_files(node) == [f"evidence-kek-{new}.jwe"]
    with pytest.raises(KeyStoreError) as caught:  # the vault that had it cached has forgotten it too
        service.vault.unwrap(items[0].id, *before[items[0].id])
    assert caught.value.code == "kek_missing"
    assert service.vault.destroy_retired() == []


def test_a_kek_whose_epoch_never_committed_is_kept_until_that_epoch_is_created_again(node: Node) -> None:
    # destroy_retired deletes only epochs whose retirement it can see committed: an uncommitted epoch's file
    # may belong to a rotation still running in another process. The leftover is replaced, not trusted.
    service = EvidenceService(node)
    item = service.ingest(io.BytesIO(b"kept"), name="k.txt", case=CASE, actor="officer:1")
    [current] = _live_epochs(node)
    with pytest.raises(RuntimeError, match="crash"), node.db.transaction() as uow:
        service.vault.rotate(uow.session)  # writes the next epoch's KEK file before its row commits
        raise RuntimeError("crash before commit")
    leftover = node.settings.data_dir / "keys" / f"evidence-kek-{current + 1}.jwe"
    stale = leftover.read_text()
    (node.settings.data_dir / "keys" / "evidence-kek-notes.jwe").write_text("not an epoch")

    assert service.vault.destroy_retired() == []
    assert _kek_files(node) == [f"evidence-kek-{current}.jwe", leftover.name, "evidence-kek-notes.jwe"]

    other = service.ingest(io.BytesIO(b"to shred"), name="s.txt", case=CASE, actor="officer:1")
    service.shred(other.id, actor="officer:2", reason="retention")
    assert _live_epochs(node) == [current + 1]
    assert leftover.read_text() != stale
    assert _kek_files(node) == [leftover.name, "evidence-kek-notes.jwe"]
    assert b"".join(EvidenceService(node).plaintext(item.id)) == b"kept"


def test_a_failed_first_ingest_does_not_block_later_ingests(node: Node) -> None:
    service = EvidenceService(node)

    def fail(_session: Session) -> None:
        raise RuntimeError("crash before commit")

    with pytest.raises(RuntimeError, match="crash"):
        service.ingest(io.BytesIO(b"first"), name="1.txt", case=CASE, actor="officer:1", in_transaction=fail)
    assert _live_epochs(node) == [1]  # created when the service started, in its own transaction
    item = EvidenceService(node).ingest(io.BytesIO(b"again"), name="1.txt", case=CASE, actor="officer:1")
    assert b"".join(service.plaintext(item.id)) == b"again"


def test_a_rotation_that_did_not_commit_does_not_block_later_shreds(node: Node) -> None:
    service = EvidenceService(node)
    item = service.ingest(io.BytesIO(b"to shred"), name="1.txt", case=CASE, actor="officer:1")
    with pytest.raises(RuntimeError, match="crash"), node.db.transaction() as uow:
        service.vault.rotate(uow.session)
        raise RuntimeError("crash before commit")
    shredded = EvidenceService(node).shred(item.id, actor="officer:2", reason="retention")
    assert shredded.shredded_at is not None


# -- shredding while other work is in flight ----------------------------------------------------------------


def test_an_ingest_reading_while_a_shred_rotates_wraps_under_the_new_epoch(node: Node) -> None:
    service = EvidenceService(node)
    victim = service.ingest(io.BytesIO(b"victim"), name="v.txt", case=CASE, actor="officer:1")
    [old] = _live_epochs(node)
    parts = [os.urandom(1000), os.urandom(2000)]

    class ShredsMidway:
        """Its data key exists before the shred and is wrapped after it: the shred runs between two reads."""

        def __init__(self) -> None:
            self.reads = 0

        def read(self, _size: int, /) -> bytes:
            self.reads += 1
            if self.reads == 2:
                service.shred(victim.id, actor="officer:2", reason="retention")
            return parts[self.reads - 1] if self.reads <= len(parts) else b""

    item = service.ingest(ShredsMidway(), name="late.bin", case=CASE, actor="officer:1")
    [new] = _live_epochs(node)
    assert new > old and _keys(node)[item.id][0] == new
    assert not kek_path(node.settings.data_dir, old).exists()
    assert b"".join(EvidenceService(node).plaintext(item.id)) == b"".join(parts)


def _await_lock_wait(node: Node) -> None:
    """Return once another transaction on the node's PostgreSQL database waits for a row lock."""
    deadline = time.monotonic() + WAIT
    query = text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                 "AND wait_event_type = 'Lock'")
    while time.monotonic() < deadline:
        with node.db.engine.connect() as connection:
            if connection.execute(query).scalar():
                return
        time.sleep(0.01)
    raise AssertionError("no transaction ever waited for the lock")


@pytest.fixture
def pg_node(tmp_path: Path, authority: KeyPair, pg_url: str) -> Iterator[Node]:
    """A node on PostgreSQL, where an ingest and a shred can run at the same time."""
    made = make_node(tmp_path, "VNM", authority, database_url=pg_url)
    yield made
    made.close()


@pytest.mark.postgres
def test_a_rotation_waits_for_an_ingest_that_wrapped_under_the_old_epoch(pg_node: Node) -> None:
    node = pg_node
    service = EvidenceService(node)
    victim = service.ingest(io.BytesIO(b"victim"), name="v.txt", case=CASE, actor="officer:1")
    [old] = _live_epochs(node)
    wrapped, release = threading.Event(), threading.Event()

    def hold(_session: Session) -> None:  # runs after the wrap, before the ingest commits
        wrapped.set()
        assert release.wait(WAIT)

    data = os.urandom(5000)
    with ThreadPoolExecutor(2) as pool:
        try:
            ingesting = pool.submit(service.ingest, io.BytesIO(data), name="d.bin", case=CASE, actor="officer:1",
                                    in_transaction=hold)
            assert wrapped.wait(WAIT)
            shredding = pool.submit(service.shred, victim.id, actor="officer:2", reason="retention")
            _await_lock_wait(node)
        finally:
            release.set()
        item = ingesting.result(WAIT)
        shredding.result(WAIT)
    [new] = _live_epochs(node)
    assert new > old and _keys(node)[item.id][0] == new
    assert not kek_path(node.settings.data_dir, old).exists()
    assert b"".join(EvidenceService(node).plaintext(item.id)) == data


@pytest.mark.postgres
def test_an_ingest_waiting_for_a_rotation_wraps_under_the_one_new_epoch(pg_node: Node,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    node = pg_node
    service = EvidenceService(node)
    victim = service.ingest(io.BytesIO(b"victim"), name="v.txt", case=CASE, actor="officer:1")
    rotated, release = threading.Event(), threading.Event()
    rotate = service.vault.rotate

    def held_rotate(session: Session) -> int:  # the shred's transaction stays open after the rotation
        epoch = rotate(session)
        rotated.set()
        assert release.wait(WAIT)
        return epoch

    monkeypatch.setattr(service.vault, "rotate", held_rotate)
    data = os.urandom(5000)
    with ThreadPoolExecutor(2) as pool:
        try:
            shredding = pool.submit(service.shred, victim.id, actor="officer:2", reason="retention")
            assert rotated.wait(WAIT)
            ingesting = pool.submit(service.ingest, io.BytesIO(data), name="d.bin", case=CASE, actor="officer:1")
            _await_lock_wait(node)
        finally:
            release.set()
        shredding.result(WAIT)
        item = ingesting.result(WAIT)
    assert _live_epochs(node) == [_keys(node)[item.id][0]]
    assert b"".join(EvidenceService(node).plaintext(item.id)) == data


@pytest.mark.postgres
def test_two_shreds_at_once_both_finish(pg_node: Node) -> None:
    import threading

    service = EvidenceService(pg_node)
    items = [service.ingest(io.BytesIO(f"file {n}".encode()), name=f"{n}.txt", case=CASE, actor="officer:1")
             for n in range(6)]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def shred(item_id: str) -> None:
        start.wait()
        try:
            EvidenceService(pg_node).shred(item_id, actor="officer:2", reason="retention")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=shred, args=(item.id,)) for item in items[:2]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(_live_epochs(pg_node)) == 1
    for item in items[2:]:
        assert b"".join(service.plaintext(item.id)) == f"file {item.name.split('.')[0]}".encode()
