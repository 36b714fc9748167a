"""The bodies of consent.request and consent.answer: the examples of docs/protocol.md, and what is refused."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from hanoinet.errors import EnvelopeRefused
from hanoinet.network import kinds
from hanoinet.privacy import consent

PROTOCOL = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text(encoding="utf-8")
ITEM = {"sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "package": "0193a1b2-7c4d-4e5f-8a6b-1c2d3e4f5a6b"}
REQUEST = {"request": "6f1e2d9c-0b7a-4c3e-9a51-2f8d7c6b5a40", "items": [ITEM], "use": "transfer", "target": "VNM",
           "reason": "r"}
ANSWER = {"request": REQUEST["request"], "items": [ITEM], "granted": False, "conditions": [], "reason": "no"}


def _example(heading: str) -> dict[str, Any]:
    start = PROTOCOL.index(heading)
    block = re.search(r"Example body:\n\n```json\n(.*?)```", PROTOCOL[start:], flags=re.DOTALL)
    assert block is not None, heading
    parsed: dict[str, Any] = json.loads(block[1])
    return parsed


@pytest.mark.parametrize(("heading", "kind"), [("### 10.6 `consent.request`", consent.REQUEST_KIND),
                                               ("### 10.7 `consent.answer`", consent.ANSWER_KIND)])
def test_the_documented_examples_are_complete_valid_bodies(heading: str, kind: str) -> None:
    example = _example(heading)
    assert kinds.validate_body(kind, example, complete=True) == example
    assert not kinds.get(kind).direct  # only the consent workflow sends them


@pytest.mark.parametrize("changes", [
    {"use": "publish"}, {"target": "vnm"}, {"target": "org:"}, {"use": "case", "target": "/x"},
    {"items": []}, {"items": [ITEM, ITEM]}, {"items": [{**ITEM, "sha256": "AB" * 32}]},
    {"items": [{**ITEM, "package": "not-a-uuid"}]}, {"reason": ""}, {"request": "1"}, {"extra": 1},
])
def test_malformed_requests_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(EnvelopeRefused) as caught:
        kinds.validate_body(consent.REQUEST_KIND, {**REQUEST, **changes}, complete=True)
    assert caught.value.code == "invalid_body"


@pytest.mark.parametrize("changes", [
    {"granted": "yes"}, {"conditions": [""]}, {"conditions": ["two\nlines"]}, {"reason": ""},
    {"items": [ITEM, ITEM]}, {"conditions": ["c"] * 51},
])
def test_malformed_answers_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(EnvelopeRefused) as caught:
        kinds.validate_body(consent.ANSWER_KIND, {**ANSWER, **changes}, complete=True)
    assert caught.value.code == "invalid_body"


def test_an_answer_without_its_conditions_is_refused_on_the_wire() -> None:
    body = {k: v for k, v in ANSWER.items() if k != "conditions"}
    with pytest.raises(EnvelopeRefused) as caught:
        kinds.validate_body(consent.ANSWER_KIND, body, complete=True)
    assert caught.value.code == "invalid_body"
