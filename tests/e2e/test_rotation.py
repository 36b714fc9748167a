"""Real node processes: keys rotated while the nodes run, in the documented order and the reverse, no restart."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hanoinet.crypto.jose import b64url_decode
from hanoinet.demo.network import LocalNetwork

pytestmark = pytest.mark.slow


@pytest.fixture
def network(tmp_path: Path) -> Iterator[LocalNetwork]:
    # The directory is given to each node by hand (admin API), so the test decides who sees which version
    # when; nobody serves the directory URL the nodes poll. Quick retries keep a failed attempt visible.
    net = LocalNetwork(
        tmp_path, [("VNM", "Viet Nam", ["vi", "en"]), ("FRA", "France", ["fr", "en"]),
                   ("DEU", "Germany", ["de", "en"])],
        env={"HANOINET_DELIVERY_BACKOFF_MAX_SECONDS": "1"},
    )
    net.setup()
    try:
        yield net
    finally:
        net.stop_all()


class Operators:
    """Each State's officers and the Secretariat's commands."""

    def __init__(self, net: LocalNetwork) -> None:
        self.net = net
        self.admin = {s: net.add_officer(s, "Operator", "admin", "247") for s in net.members}
        self.duty = {s: net.add_officer(s, "Duty", "duty_officer", "247") for s in net.members}

    def rotate_and_publish(self, state: str) -> Path:
        """`node rotate-keys`, `node card`, and the Secretariat adds the card and publishes; the new version."""
        data = str(self.net.members[state].data)
        self.net.cli("node", "rotate-keys", "--data", data)
        card = self.net.cli("node", "card", "--data", data)
        self.net.cli("directory", "add", "-", "--dir", str(self.net.authority), stdin=card)
        self.net.cli("directory", "publish", "--dir", str(self.net.authority))
        return self.net.authority / "directory.jws"

    def give(self, state: str, version: Path) -> None:
        """The running node imports a version (`hanoinet directory import FILE --node URL`)."""
        self.net.api(state, self.admin[state], "POST", "/api/v1/directory", content=version.read_bytes())

    def send(self, sender: str, recipient: str, text: str) -> str:
        answer = self.net.api(sender, self.duty[sender], "POST", "/api/v1/messages",
                              json={"to": f"{recipient}/247", "kind": "note.text", "case": "ROT-1",
                                    "body": {"subject": text, "text": text}})
        return str(answer["message_id"])

    def delivered(self, sender: str, message_id: str) -> bool:
        row = self.net.api(sender, self.duty[sender], "GET", f"/api/v1/messages/{message_id}")
        return row["status"] == "delivered"

    def alarms(self, state: str) -> list[dict[str, Any]]:
        answer: list[dict[str, Any]] = self.net.api(state, self.admin[state], "GET", "/api/v1/alarms")
        return answer

    def keys(self, state: str) -> dict[str, set[str]]:
        """The kids of a State's keys on disk, by use."""
        index = json.loads((self.net.members[state].data / "keys" / "keys.json").read_text())
        return {use: {k["kid"] for k in index["keys"] if k["use"] == use} for use in ("sig", "enc")}

    def sealed_to(self, sender: str, message_id: str) -> str:
        """The kid of the key a sent envelope is encrypted to, from the sender's outbox."""
        with sqlite3.connect(self.net.members[sender].data / "node.db") as db:
            (jwe,) = db.execute("SELECT jwe FROM outbox WHERE message_id = ?", (message_id,)).fetchone()
        return str(json.loads(b64url_decode(bytes(jwe).split(b".")[0].decode()))["kid"])

    def signed_with(self, recipient: str, message_id: str) -> str | None:
        """The kid of the key a received envelope was signed with, from the recipient's inbox."""
        with sqlite3.connect(self.net.members[recipient].data / "node.db") as db:
            row = db.execute("SELECT sender_kid FROM inbox WHERE message_id = ?", (message_id,)).fetchone()
        return str(row[0]) if row else None


def test_rotation_without_restart_in_either_order(network: LocalNetwork) -> None:
    ops = Operators(network)
    for state in network.members:
        network.start(state)
    first = {s: ops.keys(s) for s in network.members}

    def arrives(sender: str, message_id: str) -> None:
        assert network.wait_until(lambda: ops.delivered(sender, message_id), timeout=30), (
            f"{sender}'s message {message_id} was not delivered; see {network.root}/*.log")

    # FRA rotates while running; the Secretariat publishes version 2. VNM takes it before FRA does.
    version_2 = ops.rotate_and_publish("FRA")
    (fra_new_enc,) = ops.keys("FRA")["enc"] - first["FRA"]["enc"]
    ops.give("VNM", version_2)
    to_new = ops.send("VNM", "FRA", "sealed to FRA's new key, FRA still on version 1")
    assert ops.sealed_to("VNM", to_new) == fra_new_enc
    arrives("VNM", to_new)
    # DEU is still on version 1, so keeps sealing to FRA's old key: it still opens, after FRA loaded the new.
    to_old = ops.send("DEU", "FRA", "sealed to FRA's old key")
    assert ops.sealed_to("DEU", to_old) in first["FRA"]["enc"]
    arrives("DEU", to_old)
    # The documented order, at FRA: it imports the version listing its new keys; both keys keep opening.
    ops.give("FRA", version_2)
    for sender in ("VNM", "DEU"):
        arrives(sender, ops.send(sender, "FRA", f"from {sender} after FRA imported version 2"))
    # FRA's answers and receipts to DEU, which is on version 1, are still signed by a key DEU knows.
    arrives("FRA", ops.send("FRA", "DEU", "from FRA, rotated, to DEU on version 1"))

    # VNM rotates its signing key; only VNM takes version 3. FRA (version 2) and DEU (version 1) do not
    # know VNM's new key, so VNM keeps signing with its old one: envelopes and receipts are accepted.
    version_3 = ops.rotate_and_publish("VNM")
    ops.give("VNM", version_3)
    for recipient in ("FRA", "DEU"):
        message_id = ops.send("VNM", recipient, f"from VNM, rotated, to {recipient}")
        arrives("VNM", message_id)
        assert ops.signed_with(recipient, message_id) in first["VNM"]["sig"]
        arrives(recipient, ops.send(recipient, "VNM", f"from {recipient} to VNM, rotated"))

    for state in network.members:
        assert not [a for a in ops.alarms(state) if a["code"] in {"own_key_missing", "keys_unreadable"}]
    # The nodes were never restarted.
    assert all(m.process is not None and m.process.poll() is None for m in network.members.values())
