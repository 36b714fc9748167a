"""docs/protocol.md against the node: every federation endpoint the node serves is specified there."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.routing import APIRoute

from hanoinet.api import ledger

PROTOCOL = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
PREFIX = "/federation/v1/ledger/"


def section(number: str) -> str:
    text = PROTOCOL.read_text(encoding="utf-8")
    start = text.index(f"\n### {number} ")
    return text[start:text.index("\n### ", start + 1)]


def test_every_custody_log_endpoint_is_in_section_14_6_with_its_method() -> None:
    text = section("14.6")
    rows = re.findall(r"^\| `(GET|POST) ([^`?]+)", text, flags=re.MULTILINE)
    documented = {(method, re.sub(r"<[^>]+>", "{}", path).split("[")[0]) for method, path in rows}
    served = {
        (method, re.sub(r"\{[^}]+\}", "{}", route.path.removeprefix(PREFIX)))
        for route in ledger.router.routes if isinstance(route, APIRoute) and route.path.startswith(PREFIX)
        for method in route.methods
    }
    # tile/{path:path} covers both tile/<L>/<N> and tile/entries/<N>.
    documented = {(m, "tile/{}" if p.startswith("tile/") else p) for m, p in documented}
    assert served == documented


def test_section_14_6_says_what_a_witness_does_with_a_404_and_with_garbage() -> None:
    text = section("14.6")
    for phrase in ("`no_checkpoint`", "`ledger_checkpoint_gone`", "`witness_unusable_answer`", "`not_witnessed`"):
        assert phrase in text, phrase
