"""No officer reads the hash bank's hashes through the message views, even from the desk that carries them."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hanoinet.api.app import create_app
from hanoinet.crypto.keys import KeyPair
from hanoinet.hashbank import bank, replication
from hanoinet.hashbank.bank import NewHash
from hanoinet.node.node import Node
from hanoinet.node.officers import add_officer
from tests.support import make_node, publish, pump


@pytest.fixture
def pair(tmp_path: Path, authority: KeyPair) -> Iterator[dict[str, Node]]:
    nodes = {state: make_node(tmp_path, state, authority, port=port) for state, port in (("VNM", 8431),
                                                                                          ("FRA", 8432))}
    publish(nodes.values(), authority)
    yield nodes
    for node in nodes.values():
        node.close()


def _admin(node: Node) -> dict[str, str]:
    with node.db.transaction() as uow:
        _, token = add_officer(uow.session, name="Operator", role="admin", desk="247", desks=node.settings.desk_ids)
    return {"authorization": f"Bearer {token}"}


def test_bank_envelopes_are_listed_but_their_hashes_never_shown(pair: dict[str, Node]) -> None:
    code = secrets.token_hex(32)
    with pair["VNM"].db.transaction() as uow:
        bank.add(uow.session, "VNM", [NewHash(hash=code, quality=90, category="art16")], actor="test")
    replication.publish(pair["VNM"])
    pump(pair)
    for node in pair.values():
        headers = _admin(node)
        with TestClient(create_app(node, background=False)) as client:
            listed = client.get("/api/v1/messages", headers=headers).json()
            [message] = [m for m in listed if m["kind"] == replication.KIND]
            detail = client.get(f"/api/v1/messages/{message['message_id']}", headers=headers)
        assert detail.status_code == 200
        assert detail.json()["body"] is None and detail.json()["body_withheld"]
        assert code not in detail.text and code not in str(listed)
