"""Two nodes in one process exchange envelopes through the real ASGI apps (no sockets)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from hanoinet.api.app import create_app
from hanoinet.crypto.keys import KeyPair
from hanoinet.db.models import InboxMessage, OutboxMessage
from hanoinet.network import directory_sync, outbox
from hanoinet.network.delivery import DeliveryWorker
from hanoinet.network.transport import PeerAnswer
from hanoinet.node.keyring import Keyring
from hanoinet.node.node import Node
from tests.support import directory_for, make_node, publish


class AsgiTransport:
    """Routes envelopes to in-process node apps by endpoint, through httpx's ASGI transport."""

    def __init__(self, nodes: dict[str, Node]) -> None:
        self.clients = {
            node.settings.endpoint: httpx.AsyncClient(
                transport=httpx.ASGITransport(app=create_app(node, background=False)), base_url="http://peer"
            )
            for node in nodes.values()
        }
        self.sent: list[bytes] = []

    async def post_envelope(self, endpoint: str, jwe: bytes) -> PeerAnswer:
        self.sent.append(jwe)
        response = await self.clients[endpoint].post(
            "/federation/v1/envelopes", content=jwe, headers={"content-type": "application/jose"}
        )
        if response.status_code == 200:
            return PeerAnswer(status=200, receipt=response.text)
        problem = response.json()
        return PeerAnswer(status=response.status_code, code=problem["code"], detail=problem["detail"])


def _send(node: Node, to: str, text: str) -> str:
    with node.db.transaction() as uow:
        row = outbox.enqueue(node, uow, sender_desk="247", recipient=to, kind="note.text",
                             body={"subject": "test", "text": text}, case="CASE-1")
    return row.message_id


async def _drain(worker: DeliveryWorker, node: Node, timeout: float = 10.0) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        with node.db.transaction() as uow:
            pending = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.status == "pending")).all()
        if not pending:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await task


def test_messages_are_delivered_with_verified_receipts(
    tmp_path: Path, authority: KeyPair, database_urls: Callable[[], str]
) -> None:
    vnm = make_node(tmp_path, "VNM", authority, port=8401, database_url=database_urls())
    fra = make_node(tmp_path, "FRA", authority, port=8402, database_url=database_urls())
    publish([vnm, fra], authority)
    ids = [_send(vnm, "FRA/247", f"message {i}") for i in range(5)]

    transport = AsgiTransport({"FRA": fra})
    asyncio.run(_drain(DeliveryWorker(vnm, transport, worker_id="w1"), vnm))

    with vnm.db.transaction() as uow:
        rows = {r.message_id: r for r in uow.session.scalars(select(OutboxMessage))}
    assert {r.status for r in rows.values()} == {"delivered"}
    assert all(r.receipt for r in rows.values())
    with fra.db.transaction() as uow:
        received = {r.message_id: r for r in uow.session.scalars(select(InboxMessage))}
    assert set(received) == set(ids)
    for message_id in ids:
        assert received[message_id].jws_sha256 == rows[message_id].jws_sha256
        assert received[message_id].receipt == rows[message_id].receipt
    assert len(transport.sent) == 5


@pytest.mark.postgres
def test_two_workers_on_one_database_send_each_message_exactly_once(
    tmp_path: Path, authority: KeyPair, pg_url: str
) -> None:
    vnm = make_node(tmp_path, "VNM", authority, port=8401, database_url=pg_url)
    fra = make_node(tmp_path, "FRA", authority, port=8402)
    publish([vnm, fra], authority)
    ids = {_send(vnm, "FRA/247", f"message {i}") for i in range(200)}
    # A second process of the same State: same data directory, same PostgreSQL database.
    vnm_b = Node.open(vnm.settings.data_dir)

    transport = AsgiTransport({"FRA": fra})

    async def both() -> None:
        await asyncio.gather(
            _drain(DeliveryWorker(vnm, transport, worker_id="a"), vnm),
            _drain(DeliveryWorker(vnm_b, transport, worker_id="b"), vnm_b),
        )

    asyncio.run(both())
    assert len(transport.sent) == len(ids)
    assert len(set(transport.sent)) == len(ids)
    with fra.db.transaction() as uow:
        assert set(uow.session.scalars(select(InboxMessage.message_id))) == ids


def test_key_rotation_keeps_messages_flowing(tmp_path: Path, authority: KeyPair) -> None:
    from datetime import timedelta

    from hanoinet.clock import now

    vnm = make_node(tmp_path, "VNM", authority, port=8401)
    fra = make_node(tmp_path, "FRA", authority, port=8402)
    publish([vnm, fra], authority)
    old_vnm_kid = vnm.signing_key().kid
    in_flight = _send(vnm, "FRA/247", "sealed to FRA's old encryption key")

    # Both rotate on disk while running, as `hanoinet node rotate-keys` does; VNM keeps signing with its old key.
    for node in (vnm, fra):
        Keyring.load(node.settings.data_dir, None).rotate(node.settings.data_dir, None, now=now(),
                                                          lifetime=timedelta(days=30))
    assert vnm.signing_key().kid == old_vnm_kid
    before_publish = _send(vnm, "FRA/247", "still signed with the old key")
    compact = directory_for([Node.open(n.settings.data_dir).card() for n in (vnm, fra)], authority, version=2)
    for node in (vnm, fra):
        directory_sync.import_directory(node, compact, source="test")
    # Version 1, which does not list VNM's new key, may still be in use at FRA: VNM keeps its old key.
    assert vnm.signing_key().kid == old_vnm_kid
    after_publish = _send(vnm, "FRA/247", "sealed to FRA's new key, which FRA's process never restarted for")

    transport = AsgiTransport({"FRA": fra})
    asyncio.run(_drain(DeliveryWorker(vnm, transport, worker_id="w1"), vnm))
    with fra.db.transaction() as uow:
        received = {r.message_id: r.sender_kid for r in uow.session.scalars(select(InboxMessage))}
    assert set(received) == {in_flight, before_publish, after_publish}
    assert set(received.values()) == {old_vnm_kid}
