"""``hanoinet case show`` through the API of a node serving on loopback, read at an 80-column terminal."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from hanoinet.cli import console
from hanoinet.crypto.keys import KeyPair
from tests.cli.test_cli import invoke
from tests.cli.test_request_cli import serving
from tests.test_cases import CA_CASE, CASE, READ, World, build


@pytest.fixture
def world(tmp_path: Path, authority: KeyPair) -> Iterator[World]:
    built = build(tmp_path, authority, lambda: "")
    yield built
    for node in built.nodes.values():
        node.close()


def test_a_case_is_shown_in_sections_at_80_columns_with_every_reference_whole(
        world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with serving(world.nodes) as urls:
        capsys.readouterr()

        def case(state: str, who: str, *args: str) -> tuple[int, str, str]:
            return invoke(monkeypatch, capsys, "case", "show", *args, "--node", urls[state], "--token",
                          world.officers[state, who][1])

        monkeypatch.setattr(console.out, "width", 80)
        code, out, err = case("VNM", "chief", CASE, "--reason", READ["reason"])
        assert code == 0, err
        lines = out.splitlines()
        assert max(len(line) for line in lines) <= 80, out
        assert "…" not in out  # columns fold or wrap; nothing is hidden
        for title in ("Requests (3)", "Evidence (2)", "Packages (1)", "Consents (1)"):
            assert sum(1 for line in lines if title in line) == 1, (title, out)
        for whole in (*world.refs.values(), world.made["received"], world.made["own"], world.made["package"],
                      world.made["consent"]):
            # Whole, on one line, and so copied whole into another command.
            assert any(re.search(rf"│ {re.escape(whole)} *│", line) for line in lines), (whole, out)
        requests, evidence = column(out, "Requests (3)", 2), column(out, "Evidence (2)", 2)
        assert f"names {world.refs['stored']}" in requests and "CONFIDENTIAL DO-NOT-NOTIFY-USER" in requests
        assert "from FRA/CA for VNM-HN-2026-0117 purpose: Evidence answering" in evidence
        assert "ours (VNM) SHREDDED" in evidence
        custody = column(out, "Evidence (2)", 3)
        assert "consent_requested officer:2" in custody and "received peer:FRA" in custody
        assert "OUT to FRA/CA" in column(out, "Requests (3)", 3)
        assert "preservation: held" in column(out, "Requests (3)", 4)
        assert "received from FRA 1/1 file(s)" in column(out, "Packages (1)", 2)
        assert "complete verified" in column(out, "Packages (1)", 3)
        assert "sent to FRA transfer: BRA" in column(out, "Consents (1)", 2) and "UTC" in out

        code, out, err = case("VNM", "chief", CASE, "--reason", READ["reason"], "--json")
        assert code == 0, err
        shown = json.loads(out)
        assert shown["case"] == CASE and len(shown["requests"]) == 3

        code, out, err = case("VNM", "lawyer", CA_CASE, "--reason", READ["reason"])
        assert code == 0, err
        assert f"Case {CA_CASE}" in out and "Requests (0)" in out and world.made["alone"] in out

        code, _, err = case("VNM", "duty", CA_CASE, "--reason", READ["reason"])
        assert code == 2 and "no case 'VNM-CA/2026 0001' that your desk can see" in err

        code, _, err = case("VNM", "chief", CASE, "--reason", " ")
        assert code == 2 and "a reason is required" in err and "--reason TEXT" in err


def column(out: str, title: str, index: int) -> str:
    """The text of column ``index`` (1-based) of the table titled ``title``, its lines joined by spaces."""
    lines = out.splitlines()
    start = [line.strip() for line in lines].index(title)
    cells = []
    for line in lines[start + 1:]:
        if line.startswith("└"):
            break
        if line.startswith("│"):
            cells.append(line.split("│")[index].strip())
    return " ".join(cell for cell in cells if cell)
