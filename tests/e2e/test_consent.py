"""Real node processes: France cannot send Brazil's evidence on to Viet Nam until Brazil's consent arrives."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hanoinet.demo.network import LocalNetwork

pytestmark = pytest.mark.slow

CASE = "BRA-2026-0042"


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


def _offers(net: LocalNetwork, state: str, token: str) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = net.api(state, token, "GET", "/api/v1/evidence/offers")
    return listed


def _consents(net: LocalNetwork, state: str, token: str) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = net.api(state, token, "GET", "/api/v1/evidence/consents")
    return listed


def test_onward_transfer_waits_for_the_originating_states_consent(network: LocalNetwork) -> None:
    tokens = {state: network.add_officer(state, f"Officer of {state}", "duty_officer", "247")
              for state in ("BRA", "FRA", "VNM")}
    for state in tokens:
        network.start(state)
    bra, fra, vnm = tokens["BRA"], tokens["FRA"], tokens["VNM"]
    data = b"From: suspect@example.org\n" * 1000
    upload = network.api("BRA", bra, "POST", "/api/v1/evidence/uploads",
                         json={"case": CASE, "name": "mail.mbox", "size": len(data)})
    network.api("BRA", bra, "PUT", f"/api/v1/evidence/uploads/{upload['id']}", content=data,
                headers={"upload-offset": "0", "content-type": "application/octet-stream"})
    network.api("BRA", bra, "POST", f"/api/v1/evidence/uploads/{upload['id']}/complete")
    network.api("BRA", bra, "POST", "/api/v1/evidence/offers",
                json={"case": CASE, "to": "FRA/247", "purpose": "answer to request FRA-2026-0001"})
    assert network.wait_until(lambda: any(o["status"] == "complete" for o in _offers(network, "FRA", fra)),
                              timeout=60)
    [received] = network.api("FRA", fra, "GET", "/api/v1/evidence")
    assert received["received"]["purpose"] == "answer to request FRA-2026-0001"

    onward = {"case": CASE, "to": "VNM/247", "purpose": "Viet Nam's case"}
    with pytest.raises(httpx.HTTPStatusError) as caught:
        network.api("FRA", fra, "POST", "/api/v1/evidence/offers", json=onward)
    assert caught.value.response.status_code == 403
    assert caught.value.response.json()["code"] == "consent_required"

    asked = network.api("FRA", fra, "POST", "/api/v1/evidence/consents", json={
        "files": [received["id"]], "use": "transfer", "target": "VNM", "reason": "Viet Nam prosecutes the group"})
    assert network.wait_until(lambda: bool(_consents(network, "BRA", bra)), timeout=60)
    network.api("BRA", bra, "POST", f"/api/v1/evidence/consents/{asked['request']}/answer",
                json={"granted": True, "reason": "same investigation"})
    assert network.wait_until(lambda: _consents(network, "FRA", fra)[0]["status"] == "granted", timeout=60)

    network.api("FRA", fra, "POST", "/api/v1/evidence/offers", json=onward)
    assert network.wait_until(lambda: any(o["status"] == "complete" for o in _offers(network, "VNM", vnm)),
                              timeout=60)
    [arrived] = network.api("VNM", vnm, "GET", "/api/v1/evidence")
    assert arrived["sha256"] == received["sha256"] and arrived["origin"] == "FRA"
