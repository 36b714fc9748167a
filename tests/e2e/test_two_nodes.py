"""Real node processes on loopback: delivery survives the receiver being killed with SIGKILL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hanoinet.demo.network import LocalNetwork

pytestmark = pytest.mark.slow


@pytest.fixture
def network(tmp_path: Path) -> Iterator[LocalNetwork]:
    net = LocalNetwork(
        tmp_path, [("VNM", "Viet Nam", ["vi", "en"]), ("FRA", "France", ["fr", "en"])],
        # Retry quickly so the test does not wait minutes for the backoff after the receiver returns.
        env={"HANOINET_DELIVERY_BACKOFF_MAX_SECONDS": "1"},
    )
    net.setup()
    try:
        yield net
    finally:
        net.stop_all()


def _send(net: LocalNetwork, token: str, n: int, start: int) -> list[str]:
    return [
        net.api("VNM", token, "POST", "/api/v1/messages",
                json={"to": "FRA/247", "kind": "note.text", "case": "E2E-1",
                      "body": {"subject": f"message {i}", "text": "preserve the logs"}})["message_id"]
        for i in range(start, start + n)
    ]


def test_receiver_killed_with_pending_messages_gets_each_exactly_once(network: LocalNetwork) -> None:
    sender = network.add_officer("VNM", "Sender", "duty_officer", "247")
    reader = network.add_officer("FRA", "Reader", "duty_officer", "247")
    network.start("VNM")
    network.start("FRA")

    ids = _send(network, sender, 20, 0)
    network.kill("FRA")  # SIGKILL, possibly in the middle of receiving
    ids += _send(network, sender, 20, 20)

    def outbox() -> list[dict[str, object]]:
        rows: list[dict[str, object]] = network.api("VNM", sender, "GET", "/api/v1/messages",
                                                     params={"direction": "out", "limit": 1000})
        return rows

    assert any(r["status"] == "pending" for r in outbox()), "the outbox should hold messages for the dead node"
    network.start("FRA")
    assert network.wait_until(lambda: all(r["status"] == "delivered" for r in outbox()), timeout=60)

    sent = outbox()
    assert sorted(str(r["message_id"]) for r in sent) == sorted(ids)
    received = network.api("FRA", reader, "GET", "/api/v1/messages", params={"direction": "in", "limit": 1000})
    received_ids = [r["message_id"] for r in received]
    assert len(received_ids) == len(set(received_ids)) == len(ids)
    assert set(received_ids) == set(ids)
    for message_id in ids[:3] + ids[-3:]:
        detail = network.api("VNM", sender, "GET", f"/api/v1/messages/{message_id}")
        assert detail["receipt"], "every delivered message keeps its signed receipt"
