"""The demo scenario as a test: three real node processes, a directory server and an SMTP sink on loopback.

It kills France's node with SIGKILL in the middle of the scenario and restarts it; every request must still
end in the same state on both sides, and nothing may be lost. Brazil's evidence package must reach Viet Nam
and verify offline. A victim's hashes must reach a platform in another State, be matched, reviewed and removed,
and a withdrawn hash must stop matching on every node.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from hanoinet.demo.scenario import run


@pytest.mark.slow
def test_the_demo_completes_with_nothing_lost(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = run(tmp_path / "demo", as_json=True, console=Console(file=None, quiet=True))
    line = capsys.readouterr().out.strip().splitlines()[-1]
    outcome = json.loads(line)
    assert status == 0, outcome
    assert outcome["ok"] and outcome["checks_failed"] == 0
    assert outcome["lost"] == 0 and outcome["envelopes_sent"] == outcome["envelopes_delivered"] > 0
    assert outcome["requests"] == {"executed": 4, "refused": 1, "withdrawn": 1}
    assert outcome["alerts"] >= 4
    assert outcome["states"] == ["BRA", "FRA", "VNM"]
    evidence = outcome["evidence"]
    assert evidence["package_valid"] and evidence["files"] == 2 and evidence["witnesses"]
    # Each envelope: sent, then received; each evidence file: ingested, sealed and sent, then received and
    # exported (the package Viet Nam downloads).
    assert outcome["custody_entries"] == 2 * outcome["envelopes_sent"] + 5 * evidence["files"]
    assert outcome["victim"]["removed"] and outcome["victim"]["withdrawn_everywhere"]
