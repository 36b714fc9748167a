"""A node restored from a backup must not rewind its custody log behind its witnesses' backs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from sqlalchemy import select
from typer.testing import CliRunner

from hanoinet.api.app import create_app
from hanoinet.cli.main import app as cli
from hanoinet.crypto.keys import KeyPair
from hanoinet.db.models import Alarm, AuditEntry
from hanoinet.ledger import witnessing
from hanoinet.node import backup
from hanoinet.node.node import Node
from tests.ledger.test_witnessing import grow, witness
from tests.support import make_node, publish


def ask(node: Node, peer: Node) -> witnessing.RestoreCheck:
    async def go() -> witnessing.RestoreCheck:
        transport = httpx.ASGITransport(app=create_app(peer, background=False))
        async with httpx.AsyncClient(mounts={peer.settings.endpoint: transport}) as client:
            return await witnessing.check_restore(node, client)

    return asyncio.run(go())


def test_an_old_backup_is_seen_to_rewind_the_log(tmp_path: Path, authority: KeyPair) -> None:
    vnm = make_node(tmp_path, "VNM", authority, port=18411)
    fra = make_node(tmp_path, "FRA", authority, port=18412)
    publish([vnm, fra], authority)
    grow(vnm, 3)
    backup.backup(vnm.settings.data_dir, tmp_path / "old.tar.gz")
    grow(vnm, 2)
    witness(fra, vnm)  # France has seen size 5
    assert ask(vnm, fra) == witnessing.RestoreCheck(size=5, witnessed={"FRA": 5}, unreachable=[])
    backup.restore(tmp_path / "old.tar.gz", tmp_path / "restored")
    restored = Node.open(tmp_path / "restored")
    check = ask(restored, fra)
    assert check.size == 3 and check.witnessed == {"FRA": 5} and check.rewinds


def test_a_peer_that_cannot_answer_vouches_for_nothing(tmp_path: Path, authority: KeyPair) -> None:
    """Only a 404 ``not_witnessed`` means size 0; any other failure answer makes the peer unreachable."""
    vnm = make_node(tmp_path, "VNM", authority, port=18413)
    fra = make_node(tmp_path, "FRA", authority, port=18414)
    publish([vnm, fra], authority)
    grow(vnm, 1)
    assert ask(vnm, fra) == witnessing.RestoreCheck(size=1, witnessed={"FRA": 0}, unreachable=[])

    async def go() -> witnessing.RestoreCheck:
        transport = httpx.MockTransport(lambda request: httpx.Response(404, text="Not Found"))
        async with httpx.AsyncClient(transport=transport) as client:
            return await witnessing.check_restore(vnm, client)

    assert asyncio.run(go()) == witnessing.RestoreCheck(size=1, witnessed={}, unreachable=["FRA"])


def test_the_restore_command_undoes_an_unvouched_restore_unless_accepted(tmp_path: Path, authority: KeyPair) -> None:
    vnm = make_node(tmp_path, "VNM", authority)
    publish([vnm, make_node(tmp_path, "FRA", authority)], authority)  # FRA's endpoint answers nothing
    grow(vnm, 2)
    backup.backup(vnm.settings.data_dir, tmp_path / "b.tar.gz")
    target = tmp_path / "restored"
    runner = CliRunner()
    refused = runner.invoke(cli, ["node", "restore", str(tmp_path / "b.tar.gz"), "--data", str(target)])
    assert refused.exit_code != 0 and not target.exists()
    accepted = runner.invoke(cli, ["node", "restore", str(tmp_path / "b.tar.gz"), "--data", str(target),
                                   "--accept-rewind", "datacentre fire; witnesses offline"])
    assert accepted.exit_code == 0, accepted.output
    node = Node.open(target)
    with node.db.transaction(readonly=True) as uow:
        assert "ledger_rewound" in [a.code for a in uow.session.scalars(select(Alarm))]
        [override] = uow.session.scalars(select(AuditEntry).where(AuditEntry.action == "ledger.restore_override"))
        assert "datacentre fire" in override.detail
