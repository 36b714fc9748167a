"""Real node processes witnessing each other: a log rewritten behind its node's back is caught by its peer."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from hanoinet.demo.network import LocalNetwork
from hanoinet.ledger import log, merkle
from hanoinet.ledger.checkpoint import Checkpoint, sign_checkpoint
from hanoinet.node.node import Node

pytestmark = pytest.mark.slow


@pytest.fixture
def network(tmp_path: Path) -> Iterator[LocalNetwork]:
    net = LocalNetwork(tmp_path, [("VNM", "Viet Nam", ["vi", "en"]), ("FRA", "France", ["fr", "en"])],
                       env={"HANOINET_WITNESS_INTERVAL_SECONDS": "1"})
    net.setup()
    try:
        yield net
    finally:
        net.stop_all()


def test_a_forked_log_is_detected_by_the_witness_process(network: LocalNetwork) -> None:
    lan = network.add_officer("VNM", "Lan", "duty_officer", "247")
    admin_vnm = network.add_officer("VNM", "Operator", "admin", "247")
    admin_fra = network.add_officer("FRA", "Operateur", "admin", "247")
    network.start("VNM")
    network.start("FRA")
    network.api("VNM", lan, "POST", "/api/v1/messages",
                json={"to": "FRA/247", "kind": "note.text", "body": {"subject": "s", "text": "t"}})

    def witnessed() -> int:
        rows = network.api("FRA", admin_fra, "GET", "/api/v1/ledger")["witnessing"]
        return max((int(r["size"]) for r in rows if r["peer"] == "VNM"), default=0)

    assert network.wait_until(lambda: witnessed() >= 1, timeout=30), "France should witness Viet Nam's log"
    assert network.wait_until(
        lambda: "hanoinet/FRA/witness" in network.api("VNM", admin_vnm, "GET", "/api/v1/ledger")["cosigned_by"],
        timeout=30)

    # Viet Nam's operator rewrites the log while the node is down: same size, another tree, the log's own key.
    network.kill("VNM")
    data = network.members["VNM"].data
    node = Node.open(data)
    with sqlite3.connect(data / "node.db") as db:
        size = db.execute("select max(size) from ledger_checkpoints").fetchone()[0]
        forged_root = merkle.root([merkle.leaf_hash(b"rewritten")] * size)
        note = sign_checkpoint(Checkpoint(origin="hanoinet/VNM/ledger", size=size, root_hash=forged_root),
                               [log.signer(node)]).decode()
        db.execute("delete from ledger_cosignatures")
        db.execute("update ledger_checkpoints set note = ?, root = ? where size = ?", (note, forged_root, size))
    node.close()
    network.start("VNM")

    def alarms(state: str, token: str) -> list[str]:
        return [a["code"] for a in network.api(state, token, "GET", "/api/v1/alarms")]

    assert network.wait_until(lambda: "ledger_fork" in alarms("FRA", admin_fra), timeout=30)
    assert network.wait_until(lambda: "ledger_fork_reported" in alarms("VNM", admin_vnm), timeout=30)
