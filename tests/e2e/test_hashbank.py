"""Real node processes on loopback: a hash added in one State matches on every node, and once withdrawn it never
matches again anywhere, across a restart."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hanoinet.demo.network import LocalNetwork

pytestmark = pytest.mark.slow


@pytest.fixture
def network(tmp_path: Path) -> Iterator[LocalNetwork]:
    net = LocalNetwork(tmp_path, [("BRA", "Brazil", ["pt", "en"]), ("FRA", "France", ["fr", "en"]),
                                  ("VNM", "Viet Nam", ["vi", "en"])],
                       env={"HANOINET_DELIVERY_BACKOFF_MAX_SECONDS": "1"})
    net.setup()
    try:
        yield net
    finally:
        net.stop_all()


def near(code: str) -> str:
    """``code`` with its last 12 bits inverted: a near-duplicate at distance 12."""
    value = int(code, 16) ^ 0xFFF
    return f"{value:064x}"


def test_additions_and_withdrawals_reach_every_node_and_are_honoured(network: LocalNetwork) -> None:
    platforms = {}
    for state in network.members:
        network.start(state)
        platforms[state] = network.cli("platform", "add", f"Photos of {state}", "--data",
                                       str(network.members[state].data)).strip()
    bra = str(network.members["BRA"].data)
    kept_code, gone_code = secrets.token_hex(32), secrets.token_hex(32)
    added = json.loads(network.cli("hashes", "add", f"{kept_code}:95", f"{gone_code}:95", "--category", "art16",
                                   "--data", bra, "--json"))
    kept, gone = added[0]["id"], added[1]["id"]

    def matches(state: str, code: str) -> list[str]:
        answer: dict[str, Any] = network.api(state, platforms[state], "POST", "/api/v1/match",
                                             json={"items": [{"hashes": [near(code)]}]})
        return [m["entry"] for m in answer["items"][0]["matches"]]

    for state in network.members:
        assert network.wait_until(lambda s=state: matches(s, gone_code) == [gone], timeout=30), state  # type: ignore[misc]
        assert matches(state, kept_code) == [kept]

    network.cli("hashes", "withdraw", gone, "--data", bra)
    assert matches("BRA", gone_code) == [], "withdrawn at the origin: no match from that moment"
    for state in ("FRA", "VNM"):
        assert network.wait_until(lambda s=state: matches(s, gone_code) == [], timeout=30), state  # type: ignore[misc]

    feed = network.api("FRA", platforms["FRA"], "GET", "/api/v1/hashbank/feed")
    assert [(c["op"], c["id"]) for c in feed["changes"]] == [("add", kept), ("withdraw", gone)]
    assert kept_code in json.dumps(feed) and gone_code not in json.dumps(feed)

    # A node killed and started again reloads its index: the withdrawn hash stays gone, the other stays.
    network.kill("VNM")
    network.start("VNM")
    assert matches("VNM", gone_code) == [] and matches("VNM", kept_code) == [kept]
