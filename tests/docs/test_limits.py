"""Numbers the docs state against the constants the code enforces, so that the two cannot drift apart."""

from __future__ import annotations

import re
from pathlib import Path

from hanoinet.api.hashbank import MATCH_BODY_LIMIT

DOCS = Path(__file__).resolve().parents[2] / "docs"
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
