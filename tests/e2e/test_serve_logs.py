"""A real `hanoinet serve` that hits an unexpected error logs one line with the id it answers, and nothing of the
request: not its token (header or query string), not its body."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from hanoinet.crypto.keys import KeyPair
from hanoinet.db.models import Alarm
from hanoinet.demo.network import free_port
from hanoinet.node import audit
from hanoinet.node.setup import init_node
from tests.support import DESKS, auth, officer_token


@pytest.mark.slow
@pytest.mark.parametrize("debug", [False, True])
def test_an_unexpected_error_in_a_running_node_logs_no_secret(tmp_path: Path, authority: KeyPair,
                                                              debug: bool) -> None:
    port = free_port()
    node = init_node(tmp_path / "node", state="VNM", name="Viet Nam", endpoint=f"http://127.0.0.1:{port}",
                     desks=DESKS, passphrase=None, authority=authority.public)
    token = officer_token(node, "admin")
    with node.db.transaction() as uow:
        # An alarm whose stored detail is not JSON (a damaged row): showing it fails in the node's own code.
        audit.alarm(uow.session, code="directory_expired", message="the directory expired")
        alarm_id = max(uow.session.scalars(select(Alarm.id)))
        uow.session.execute(update(Alarm).values(detail="{not json"))
    node.close()
    note = "calling the operator of FRA about case 42"
    log_file = tmp_path / "serve.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "hanoinet", "serve", "--data", str(tmp_path / "node")],
                                   stdout=log, stderr=log,
                                   env={**os.environ, "HANOINET_DEBUG_TRACEBACKS": "true" if debug else "false"})
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        listed = httpx.get(f"{base}/api/v1/alarms?token={token}", headers=auth(token), timeout=60)
        acknowledged = httpx.post(f"{base}/api/v1/alarms/{alarm_id}/acknowledge", json={"reason": note},
                                  headers=auth(token), timeout=60)
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert (listed.status_code, acknowledged.status_code) == (500, 500)
    text = log_file.read_text(encoding="utf-8")
    assert token.removeprefix("hnt_") not in text and note not in text
    lines = text.splitlines()
    for answer, route in ((listed, "/api/v1/alarms"), (acknowledged, "/api/v1/alarms/{alarm_id}/acknowledge")):
        error_id = answer.json()["error_id"]
        logged = [line for line in lines if error_id in line]
        assert len(logged) == 1 and f"route={route} " in logged[0] + " "
        assert "error_type=json.decoder.JSONDecodeError" in logged[0]
    assert "Exception in ASGI application" not in text  # uvicorn does not log it again
    # The frames, without values, only when the operator asked for them.
    assert ("Traceback (most recent call last)" in text) is debug and ('alarms.py", line' in text) is debug
    assert 'GET /api/v1/alarms?[redacted] HTTP/1.1" 500' in text
