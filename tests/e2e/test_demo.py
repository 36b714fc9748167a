"""The demo scenario as a test: three real node processes, a directory server and an SMTP sink on loopback.

It kills France's node with SIGKILL in the middle of the scenario and restarts it; every request must still
end in the same state on both sides, and nothing may be lost. Brazil's evidence package must reach Viet Nam
and verify offline. A victim's hashes must reach a platform in another State, be matched, reviewed and removed,
and a withdrawn hash must stop matching on every node. Viet Nam's central authority's request for the data
France preserved must be clarified, executed on both sides and answered by a verified package limited to that
request; sending it on to Brazil must be refused until France's consent arrives, then reach Brazil.
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
    assert outcome["requests"] == {"executed": 5, "refused": 1, "withdrawn": 1}
    assert outcome["alerts"] >= 4
    assert outcome["states"] == ["BRA", "FRA", "VNM"]
    evidence = outcome["evidence"]
    assert evidence["package_valid"] and evidence["files"] == 2 and evidence["witnesses"]
    mla = outcome["mla"]
    assert mla["state"] == "executed" and mla["clarified"] and mla["package_verified"] and mla["files"] == 2
    assert mla["purpose_names_request"] and mla["request"].startswith("VNM-")
    onward = outcome["onward_transfer"]
    assert onward["refused_before_consent"] and onward["refusal"] == "consent_required"
    assert onward["consent"] == "granted" and onward["delivered_to_BRA"]
    # Each envelope: sent, then received. Each evidence file: ingested, sealed and sent, then received and
    # exported (the package Viet Nam downloads). France's files add, on top of those five, the consent asked
    # and granted on both nodes (four), then Viet Nam's sealing and sending and Brazil's receipt (three); the
    # refused offer records nothing.
    assert outcome["custody_entries"] == 2 * outcome["envelopes_sent"] + 5 * evidence["files"] + 12 * mla["files"]
    assert outcome["victim"]["removed"] and outcome["victim"]["withdrawn_everywhere"]
