"""Backups hold what a node needs to come back, and a damaged archive is refused."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from hanoinet.crypto.keys import KeyPair
from hanoinet.errors import ConfigurationError, ValidationError
from hanoinet.network import outbox
from hanoinet.node.backup import backup, restore
from hanoinet.node.node import Node
from tests.support import make_node, publish


def test_restored_node_has_its_keys_directory_and_messages(tmp_path: Path, authority: KeyPair) -> None:
    vnm = make_node(tmp_path, "VNM", authority, port=8401)
    fra = make_node(tmp_path, "FRA", authority, port=8402)
    publish([vnm, fra], authority)
    with vnm.db.transaction() as uow:
        row = outbox.enqueue(vnm, uow, sender_desk="247", recipient="FRA/247", kind="note.text",
                             body={"subject": "s", "text": "t"})
    archive = tmp_path / "backup.tar.gz"
    names = backup(vnm.settings.data_dir, archive)
    assert {"hanoinet.toml", "authority.jwk", "node.db", "keys/keys.json", "MANIFEST.json"} <= set(names)
    assert archive.stat().st_mode & 0o777 == 0o600

    restored_dir = tmp_path / "restored"
    restore(archive, restored_dir)
    restored = Node.open(restored_dir)
    assert [k.pair.kid for k in restored.keyring.keys] == [k.pair.kid for k in vnm.keyring.keys]
    assert restored.require_directory().version == 1
    from sqlalchemy import select

    from hanoinet.db.models import OutboxMessage

    with restored.db.transaction() as uow:
        assert uow.session.scalars(select(OutboxMessage.message_id)).all() == [row.message_id]


def test_restore_refuses_a_tampered_archive_and_a_non_empty_folder(tmp_path: Path, authority: KeyPair) -> None:
    vnm = make_node(tmp_path, "VNM", authority, port=8401)
    archive = tmp_path / "backup.tar.gz"
    backup(vnm.settings.data_dir, archive)

    with pytest.raises(ConfigurationError, match="not empty"):
        restore(archive, vnm.settings.data_dir)

    # Rewrite the archive with one byte of the configuration changed.
    members = {}
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            extracted = tar.extractfile(member)
            assert extracted is not None
            members[member.name] = extracted.read()
    members["hanoinet.toml"] = members["hanoinet.toml"].replace(b"VNM", b"VNN")
    tampered = tmp_path / "tampered.tar.gz"
    with tarfile.open(tampered, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(ValidationError, match=r"hanoinet\.toml does not match"):
        restore(tampered, tmp_path / "new")


def test_evidence_is_backed_up_and_restored_streaming_in_small_memory(tmp_path: Path, authority: KeyPair) -> None:
    import os
    import tracemalloc

    from hanoinet.evidence.service import EvidenceService

    node = make_node(tmp_path, "BRA", authority)
    data = os.urandom(48 << 20)
    item = EvidenceService(node).ingest(io.BytesIO(data), name="disk.img", case="BRA-1", actor="officer:1")
    node.close()
    archive = tmp_path / "backup.tar.gz"
    tracemalloc.start()
    try:
        names = backup(node.settings.data_dir, archive)
        restore(archive, tmp_path / "restored")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"backup and restore held {peak / 2**20:.0f} MiB at once"
    assert any(n.startswith("blobs/") for n in names)
    assert any(n.startswith("keys/evidence-kek-") for n in names)
    restored = Node.open(tmp_path / "restored")
    assert b"".join(EvidenceService(restored).plaintext(item.id)) == data
    restored.close()


def test_a_backup_refuses_a_database_whose_evidence_key_is_missing(tmp_path: Path, authority: KeyPair) -> None:
    from hanoinet.evidence.service import EvidenceService

    node = make_node(tmp_path, "BRA", authority)
    EvidenceService(node).ingest(io.BytesIO(b"evidence"), name="a.txt", case="BRA-1", actor="officer:1")
    node.close()
    (kek,) = (node.settings.data_dir / "keys").glob("evidence-kek-*.jwe")
    kek.rename(tmp_path / kek.name)  # as if a shred had just rotated it away
    with pytest.raises(ConfigurationError) as caught:
        backup(node.settings.data_dir, tmp_path / "backup.tar.gz")
    assert "epoch [1]" in caught.value.message and not (tmp_path / "backup.tar.gz").exists()
