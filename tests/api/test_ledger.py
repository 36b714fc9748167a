"""The custody log over HTTP: checkpoint, verifier key, tiles and bundles as tlog tools read them, proofs."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hanoinet.api.app import create_app
from hanoinet.clock import format_instant, now
from hanoinet.crypto.keys import KeyPair
from hanoinet.ledger import log, merkle
from hanoinet.ledger.checkpoint import open_checkpoint
from hanoinet.ledger.events import CustodyEvent
from hanoinet.ledger.note import Verifier
from hanoinet.ledger.tiles import Tile, decode_entry_bundle, decode_tile
from hanoinet.node.node import Node
from hanoinet.node.officers import add_officer
from tests.support import make_node


@pytest.fixture
def fra(tmp_path: Path, authority: KeyPair) -> Node:
    node = make_node(tmp_path, "FRA", authority)
    with node.db.transaction() as uow:
        for i in range(300):
            log.record(uow.session, CustodyEvent(action="received", at=format_instant(now()), node="FRA",
                                                 actor="peer:VNM", object_sha256=f"{i:064x}"))
    while (done := log.Sequencer(node, holder="t", batch=200).step()) is not None and done.count:
        pass
    return node


def test_a_verifier_reads_the_log_with_nothing_but_http_and_the_key(fra: Node) -> None:
    client = TestClient(create_app(fra, background=False))
    verifier = Verifier.from_vkey(client.get("/federation/v1/ledger/key").text.strip())
    note = client.get("/federation/v1/ledger/checkpoint")
    assert note.headers["content-type"].startswith("text/plain")
    checkpoint, _ = open_checkpoint(note.content, [verifier], origin="hanoinet/FRA/ledger")
    assert checkpoint.size == 300
    level0 = client.get("/federation/v1/ledger/tile/0/000")  # the first full tile of leaf hashes
    assert level0.status_code == 200 and "immutable" in level0.headers["cache-control"]
    partial = client.get("/federation/v1/ledger/tile/0/001.p/44")
    assert partial.status_code == 200 and len(partial.content) == 44 * 32
    leaves = list(decode_tile(level0.content, Tile(level=0, index=0)))
    leaves += decode_tile(partial.content, Tile(level=0, index=1, width=44))
    assert merkle.root(leaves) == checkpoint.root_hash
    bundle = client.get("/federation/v1/ledger/tile/entries/000")
    entries = decode_entry_bundle(bundle.content)
    assert [merkle.leaf_hash(e) for e in entries] == leaves[:256]
    proof = client.get("/federation/v1/ledger/proof/inclusion", params={"index": 257, "size": 300}).json()
    merkle.verify_inclusion(merkle.leaf_hash(base64.b64decode(proof["entry"])), 257, 300,
                            [base64.b64decode(h) for h in proof["proof"]], checkpoint.root_hash)
    old_root = merkle.root(leaves[:100])
    consistency = client.get("/federation/v1/ledger/proof/consistency", params={"old": 100, "new": 300}).json()
    merkle.verify_consistency(100, 300, [base64.b64decode(h) for h in consistency["proof"]], old_root,
                              checkpoint.root_hash)


@pytest.mark.parametrize(("path", "status", "code"), [
    ("tile/0/002", 404, "tile_missing"),  # beyond the tree
    ("tile/0/001.p/45", 404, "tile_missing"),  # wider than the log has
    ("tile/0/01", 422, None),  # not canonical
    ("tile/entries/x000/000", 422, None),
    ("proof/inclusion?index=300&size=300", 404, "entry_missing"),
    ("proof/consistency?old=10&new=301", 404, "size_missing"),
    ("proof/inclusion?index=-1&size=3", 422, "invalid"),
])
def test_bad_paths_and_impossible_proofs_are_refused_with_a_reason(fra: Node, path: str, status: int,
                                                                   code: str | None) -> None:
    answer = TestClient(create_app(fra, background=False)).get(f"/federation/v1/ledger/{path}")
    assert answer.status_code == status, answer.text
    if code:
        assert answer.json()["code"] == code


def test_officers_see_the_status_and_one_record_with_its_proof(fra: Node) -> None:
    with fra.db.transaction() as uow:
        _, token = add_officer(uow.session, name="Camille", role="duty_officer", desk="247", desks={"247", "CA"})
    client = TestClient(create_app(fra, background=False))
    status = client.get("/api/v1/ledger", headers={"authorization": f"Bearer {token}"}).json()
    assert status["size"] == 300 and status["queued"] == 0 and status["checkpoint"]["size"] == 300
    one = client.get("/api/v1/ledger/entries/7", headers={"authorization": f"Bearer {token}"}).json()
    assert '"object_sha256":"' + f"{7:064x}" + '"' in one["record"]
    assert client.get("/api/v1/ledger").status_code == 401
