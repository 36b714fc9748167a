"""``hanoinet directory list|show`` through a node's API, as an officer told "not in the directory" uses them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from hanoinet.cli import console
from hanoinet.crypto.keys import KeyPair
from hanoinet.node.node import Node
from tests.cli.test_cli import invoke
from tests.cli.test_request_cli import serving
from tests.requests.support import Officers, two_nodes
from tests.requests.test_service import PRESERVATION

Run = tuple[dict[str, Node], Officers, dict[str, str]]


@pytest.fixture
def running(tmp_path: Path, authority: KeyPair, monkeypatch: pytest.MonkeyPatch,
            capsys: pytest.CaptureFixture[str]) -> Iterator[Run]:
    monkeypatch.setattr(console.out, "width", 80)
    nodes, officers = two_nodes(tmp_path, authority)
    with serving(nodes) as urls:
        capsys.readouterr()
        yield nodes, officers, urls


def test_the_hint_for_an_unknown_state_names_a_listing_that_shows_the_members(
        running: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    nodes, officers, urls = running
    asking = ["--node", urls["VNM"], "--token", officers.lan]
    path = tmp_path / "request.json"
    path.write_text(json.dumps({"kind": "preservation", "to": "BRA/247", "fields": PRESERVATION}), encoding="utf-8")
    code, _, err = invoke(monkeypatch, capsys, "request", "new", "--from", str(path), *asking)
    assert code == 2 and "BRA is not in the directory" in err
    [command] = re.findall(r"`hanoinet ([a-z ]+)`", err)
    assert "2 members of directory version 1" in err

    code, out, err = invoke(monkeypatch, capsys, *command.split(), *asking)
    assert code == 0, err
    assert "Directory version 1: 2 member(s)" in out
    lines = out.splitlines()
    for state, node in nodes.items():
        at = lines.index(f"{state}  Node of {state}")
        assert lines[at + 1:at + 3] == [f"     {node.settings.endpoint}", f"     desks: {state}/247, {state}/CA"]
    assert max(len(line) for line in out.splitlines()) <= 80


def test_show_prints_desks_and_whole_key_fingerprints_at_80_columns(
        running: Run, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    nodes, officers, urls = running
    asking = ["--node", urls["VNM"], "--token", officers.lan]
    code, out, err = invoke(monkeypatch, capsys, "directory", "show", "fra", *asking)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("FRA  ") and f"endpoint     {nodes['FRA'].settings.endpoint}" in lines
    assert {line.split()[0] for line in lines if line.startswith("  FRA/")} == {"FRA/247", "FRA/CA"}
    card = nodes["VNM"].require_directory().member("FRA")
    for key in card.keys:
        use = "signing" if key.use == "sig" else "encryption"
        assert f"  {key.kid}  {use}" in lines
    assert max(len(line) for line in lines) <= 80

    code, out, _ = invoke(monkeypatch, capsys, "directory", "show", "FRA", "--json", *asking)
    assert code == 0 and {k["kid"] for k in json.loads(out)["keys"]} == {k.kid for k in card.keys}

    code, out, err = invoke(monkeypatch, capsys, "directory", "show", "BRA", *asking)
    assert code == 2 and out == ""
    assert "BRA is not a member in directory version 1" in err and "members: VNM, FRA" in err
