"""Nodes import directory versions from the Secretariat's server by polling, and refuse bad ones."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from hanoinet.crypto.keys import KeyPair
from hanoinet.db.models import Alarm
from hanoinet.errors import DirectoryError
from hanoinet.network.authority import AuthorityWorkspace, directory_server
from hanoinet.network.directory_sync import import_directory, poll_directory, stored_versions
from hanoinet.node.node import Node
from hanoinet.node.setup import init_node
from tests.support import DESKS, directory_for, make_node


def test_node_polls_the_secretariat_and_imports_new_versions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    workspace = AuthorityWorkspace(tmp_path / "secretariat")
    workspace.init("Test Secretariat", None)
    server = directory_server(workspace, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("HANOINET_DIRECTORY_POLL_SECONDS", "5")
        node = init_node(
            tmp_path / "vnm", state="VNM", name="Viet Nam", endpoint="http://127.0.0.1:8401", desks=DESKS,
            passphrase=None, authority=workspace.public_key(),
            directory_url=f"http://127.0.0.1:{server.server_port}/directory",
        )
        workspace.add_card(node.signed_card())
        workspace.publish(None, valid_for=timedelta(days=30))

        async def poll_once() -> None:
            stop = asyncio.Event()
            task = asyncio.create_task(poll_directory(node, stop))
            for _ in range(100):
                if node.directory is not None:
                    break
                await asyncio.sleep(0.05)
            stop.set()
            await task

        asyncio.run(poll_once())
        assert node.directory is not None and node.directory.version == 1
        assert node.directory.member("VNM").name == "Viet Nam"
        assert stored_versions(node) == [1]
    finally:
        server.shutdown()


def test_fork_of_a_version_raises_an_alarm(tmp_path: Path, authority: KeyPair) -> None:
    node = make_node(tmp_path, "VNM", authority)
    import_directory(node, directory_for([node.card()], authority, version=3), source="test")
    other = directory_for([node.card()], authority, version=3, valid_for=timedelta(days=1))
    with pytest.raises(DirectoryError) as raised:
        import_directory(node, other, source="test")
    assert raised.value.code == "directory_fork"
    with node.db.transaction() as uow:
        assert [a.code for a in uow.session.scalars(select(Alarm))] == ["directory_fork"]


def test_directory_signed_by_another_authority_is_refused(tmp_path: Path, authority: KeyPair) -> None:
    node = make_node(tmp_path, "VNM", authority)
    impostor = KeyPair.generate("sig")
    with pytest.raises(DirectoryError) as raised:
        import_directory(node, directory_for([node.card()], impostor), source="test")
    assert raised.value.code == "directory_untrusted"
    assert Node.open(node.settings.data_dir).directory is None


def test_a_second_process_switches_to_a_version_another_process_imported_regression(
    tmp_path: Path, authority: KeyPair, pg_url: str
) -> None:
    # Two processes of one node share a PostgreSQL database: process A imports version 2 (which revokes
    # nothing here, but could); B later polls the same version and must switch to it, not keep version 1.
    a = make_node(tmp_path, "VNM", authority, database_url=pg_url)
    import_directory(a, directory_for([a.card()], authority, version=1), source="test")
    b = Node.open(a.settings.data_dir)
    assert b.require_directory().version == 1
    v2 = directory_for([a.card()], authority, version=2)
    import_directory(a, v2, source="test")
    _, new = import_directory(b, v2, source="test")
    assert not new
    assert b.require_directory().version == 2
    with pytest.raises(DirectoryError) as raised:
        import_directory(b, directory_for([a.card()], authority, version=1, valid_for=timedelta(days=2)),
                         source="test")
    assert raised.value.code == "directory_rollback"


def test_repinning_another_authority_key_keeps_the_node_usable_regression(tmp_path: Path, authority: KeyPair) -> None:
    from hanoinet.node.node import repin_authority

    node = make_node(tmp_path, "VNM", authority)
    import_directory(node, directory_for([node.card()], authority, version=7), source="test")
    successor = KeyPair.generate("sig")
    repin_authority(node.settings.data_dir, successor.public, actor="operator")
    reopened = Node.open(node.settings.data_dir)
    assert reopened.directory is None
    import_directory(reopened, directory_for([node.card()], successor, version=1), source="test")
    assert reopened.require_directory().version == 1


def test_an_expired_directory_raises_one_alarm_while_in_its_grace_period(tmp_path: Path, authority: KeyPair) -> None:
    from hanoinet.clock import now

    node = make_node(tmp_path, "VNM", authority)
    import_directory(node, directory_for([node.card()], authority, issued=now() - timedelta(days=2),
                                         valid_for=timedelta(days=1)), source="test")

    async def two_cycles() -> None:
        stop = asyncio.Event()
        node.settings.directory_poll_seconds = 0  # type: ignore[misc]
        task = asyncio.create_task(poll_directory(node, stop))
        await asyncio.sleep(0.3)
        stop.set()
        await task

    asyncio.run(two_cycles())
    with node.db.transaction() as uow:
        alarms = [a.code for a in uow.session.scalars(select(Alarm))]
    assert alarms == ["directory_expired"]
