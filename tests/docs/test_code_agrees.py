"""What the docs state against what the code does (a limit, the custody actions recorded), so that the two
cannot drift apart."""

from __future__ import annotations

import re
from pathlib import Path

from hanoinet.api.app import SMALL_BODY, body_limits
from hanoinet.api.gate import JSON_BODY
from hanoinet.api.hashbank import MATCH_BODY_LIMIT
from hanoinet.ledger.events import ACTIONS

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SRC = ROOT / "src" / "hanoinet"
MIB = 1024 * 1024


def section(doc: str, heading: str) -> str:
    """The text of ``doc`` from ``heading`` to the next heading of any level."""
    text = (DOCS / doc).read_text(encoding="utf-8")
    start = text.index(heading)
    following = re.search(r"^#", text[start + len(heading):], flags=re.MULTILINE)
    return text[start:start + len(heading) + following.start()] if following else text[start:]


def test_hashbank_states_the_match_body_limit_the_node_enforces() -> None:
    matching = section("hashbank.md", "### 5.2 Matching: `POST /api/v1/match`")
    stated = {int(number) for number in re.findall(r"Body[^.\n]*?at most (\d+) MiB", matching)}
    assert stated == {MATCH_BODY_LIMIT // MIB}, "docs/hashbank.md section 5.2 and api/hashbank.MATCH_BODY_LIMIT"
    assert MATCH_BODY_LIMIT % MIB == 0


def test_protocol_states_the_body_limits_the_gate_enforces() -> None:
    limits = section("protocol.md", "### 15.6 Status codes of the officer API (informative)")
    sizes = {"KiB": 1024, "MiB": MIB}
    stated = {row.split("|")[1].strip(): [int(n) * sizes[unit] for n, unit in re.findall(r"(\d+) (KiB|MiB)",
                                                                                        row.split("|")[2])]
              for row in limits.splitlines() if row.startswith("| `") or row.startswith("| a")}
    enforced = body_limits(max_envelope_bytes=4 * MIB)
    assert stated["`POST /api/v1/match`"] == [enforced["POST /api/v1/match"]]
    assert stated["`PUT /api/v1/evidence/uploads/{id}`"] == [enforced["PUT /api/v1/evidence/uploads/{upload_id}"]]
    assert stated["`POST /api/v1/directory`"] == [enforced["POST /api/v1/directory"]]
    assert stated["`POST /api/v1/victims/cases`, `POST /victims/v1/cases`"][0] == enforced["POST /victims/v1/cases"]
    assert stated["`POST /victims/v1/cases/status`, `.../withdraw`"] == [enforced["POST /victims/v1/cases/status"]]
    assert stated["`POST /federation/v1/ledger/cosignatures`, `.../reports`"] == [
        enforced["POST /federation/v1/ledger/cosignatures"], enforced["POST /federation/v1/ledger/reports"]]
    small = next(sizes for route, sizes in stated.items() if route.startswith("alarms"))
    assert small == [SMALL_BODY] and enforced["POST /api/v1/rota"] == SMALL_BODY
    assert next(sizes for route, sizes in stated.items() if route.startswith("any other")) == [JSON_BODY]


def test_ledger_names_the_custody_actions_the_code_records() -> None:
    # Every custody event in src/ is built as CustodyEvent(action="<literal>", ...): those are the actions recorded.
    recorded: set[str] = set()
    for path in SRC.rglob("*.py"):
        recorded |= set(re.findall(r'CustodyEvent\(\s*action="([a-z_]+)"', path.read_text(encoding="utf-8")))
    assert recorded and recorded <= ACTIONS
    actions = section("ledger.md", "### 2.3 Actions")
    today = actions[actions.index("**Recorded today.**"):]
    in_tables = set(re.findall(r"^\| `([a-z_]+)` \|", today, flags=re.MULTILINE))
    assert in_tables == recorded, "docs/ledger.md section 2.3, 'Recorded today'"
    unrecorded = re.findall(r"`[a-z_]+`(?:,\s+`[a-z_]+`)*\s+and\s+`[a-z_]+`\s+are\s+(?:defined but recorded|emitted)"
                            r"\s+by\s+no\s+code\s+yet", actions)
    assert len(unrecorded) == 2
    for sentence in unrecorded:
        assert set(re.findall(r"`([a-z_]+)`", sentence)) == ACTIONS - recorded, sentence
    built = section("ledger.md", "### 7.2 Not built yet")
    [unbuilt] = re.findall(r"\*\*The custody actions ([^*]+)\*\*", built)
    assert set(re.findall(r"`([a-z_]+)`", unbuilt)) == ACTIONS - recorded
