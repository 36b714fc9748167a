"""docs/convention.md is what scripts/make_convention_doc.py builds from the data."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT_PATH = ROOT / "scripts" / "make_convention_doc.py"


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_convention_doc", SCRIPT_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_page_is_up_to_date(script: ModuleType) -> None:
    assert script.main(["--check"]) == 0, "run .venv/bin/python scripts/make_convention_doc.py"


def test_a_stale_page_is_detected(script: ModuleType, tmp_path: Path) -> None:
    page = tmp_path / "convention.md"
    assert script.main(["--check", "--output", str(page)]) == 1
    assert script.main(["--output", str(page)]) == 0
    assert script.main(["--check", "--output", str(page)]) == 0
    page.write_text(page.read_text(encoding="utf-8").replace("42(a)", "42(2)(a)"), encoding="utf-8")
    assert script.main(["--check", "--output", str(page)]) == 1


def test_the_page_shows_the_data(script: ModuleType) -> None:
    text: str = script.render()
    assert "`hanoinet/convention/articles.py`" in text and "generated" in text and "(?)" in text
    assert "| `confidential` | Keep the request confidential | 42 (?) | no | bool |" in text
    assert "| `discrimination` | 40 (?) |" in text
    assert "| `disclosure.provider_state` |" in text
    for heading in ("## Offences", "### `preservation`", "### `location_query`", "## Refusal grounds",
                    "## Priorities and clocks", "## Languages"):
        assert heading in text
