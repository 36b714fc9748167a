"""``hanoinet rota`` through a node serving its API on loopback, and ``hanoinet officer add --email``."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from hanoinet.api.app import create_app
from hanoinet.cli import console
from hanoinet.demo.network import free_port
from hanoinet.node.node import Node
from tests.alerts.support import officer, policy_for
from tests.cli.test_cli import invoke
from tests.support import reset_logs


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    # run() configures the logs of the whole process; later tests must not inherit them.
    yield
    reset_logs()


@pytest.fixture
def served(local_node: Node) -> Iterator[str]:
    """The node's API on a free loopback port (no background work)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(local_node, background=False), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join()


def test_rota_add_list_remove(local_node: Node, served: str, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    policy_for(local_node, timezone="Europe/Paris")
    anh, _ = officer(local_node, "Anh")
    _, chief = officer(local_node, "Chief", role="supervisor")
    monkeypatch.setenv("HANOINET_NODE", served)
    monkeypatch.setenv("HANOINET_TOKEN", chief)
    code, out, err = invoke(monkeypatch, capsys, "rota", "add", "--desk", "247", "--officer", str(anh),
                            "--from", "2026-11-24 22:00", "--to", "2026-11-25 06:00", "--order", "1")
    assert code == 0, err
    assert "from 2026-11-24 22:00 CET (+01:00) · 2026-11-24 21:00 UTC\n" in out
    assert "to   2026-11-25 06:00 CET (+01:00) · 2026-11-25 05:00 UTC\n" in out

    code, out, err = invoke(monkeypatch, capsys, "rota", "list", "--desk", "247", "--at", "2026-11-24T23:00:00Z")
    assert code == 0, err
    assert "Anh (1)" in out and "ON DUTY" in out and "2026-11-24 22:00 CET" in out and "2026-11-24 21:00 UTC" in out
    assert "On duty, in call order: Anh" in out

    code, out, _ = invoke(monkeypatch, capsys, "rota", "list", "--desk", "247", "--at", "2026-11-25T06:00:00Z")
    assert code == 0 and "Nobody reachable is on duty" in out

    code, out, _ = invoke(monkeypatch, capsys, "rota", "remove", "1")
    assert code == 0 and "rota entry 1 of desk 247 removed" in out
    code, _, err = invoke(monkeypatch, capsys, "rota", "remove", "1")
    assert code == 2 and "no rota entry 1" in err and "hanoinet rota list" in err


def test_rota_add_with_an_end_before_the_start_is_explained(local_node: Node, served: str,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    anh, _ = officer(local_node, "Anh")
    _, chief = officer(local_node, "Chief", role="supervisor")
    code, _, err = invoke(monkeypatch, capsys, "rota", "add", "--desk", "247", "--officer", str(anh), "--from",
                          "2026-11-25 06:00", "--to", "2026-11-24 22:00", "--node", served, "--token", chief)
    assert code == 2 and "before it starts" in err and "what to do:" in err and "Traceback" not in err


def test_officer_add_with_an_email_and_list(local_node: Node, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    # The officer table is wider than 80 columns; the console measured its width when first imported.
    monkeypatch.setattr(console.out, "width", 200)
    data = str(local_node.settings.data_dir)
    code, out, err = invoke(monkeypatch, capsys, "officer", "add", "--data", data, "--name", "Anh", "--role",
                            "duty_officer", "--desk", "247", "--email", "anh@police.example.org")
    assert code == 0 and out.startswith("hnt_"), err
    code, out, _ = invoke(monkeypatch, capsys, "officer", "list", "--data", data)
    assert code == 0 and "anh@police.example.org" in out
    code, _, err = invoke(monkeypatch, capsys, "officer", "add", "--data", data, "--name", "B", "--role",
                          "duty_officer", "--desk", "247", "--email", "not an address")
    assert code == 2 and "'not an address' is not an e-mail address" in err
