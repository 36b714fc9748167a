"""docs/mla.md shows every field of the MLA kinds with its article, (?) where uncertain, and whether required."""

from __future__ import annotations

from pathlib import Path

import pytest

from hanoinet.convention import REQUEST_KINDS, FieldSpec

PAGE = Path(__file__).resolve().parents[2] / "docs" / "mla.md"
MLA_FIELDS = sorted({(kind.name, spec) for kind in REQUEST_KINDS.values() if kind.desks
                     for spec in kind.fields + kind.results}, key=lambda pair: (pair[0], pair[1].name))


@pytest.fixture(scope="module")
def page() -> str:
    return PAGE.read_text(encoding="utf-8")


@pytest.mark.parametrize(("kind", "spec"), MLA_FIELDS, ids=[f"{k}.{s.name}" for k, s in MLA_FIELDS])
def test_every_field_is_on_the_page_with_its_article(page: str, kind: str, spec: FieldSpec) -> None:
    article = f"{spec.article} (?)" if spec.uncertain else spec.article
    row = f"| `{spec.name}` | {spec.label} | {article} | {'yes' if spec.required else 'no'} | {spec.type} |"
    assert row in page, f"{kind}: {row}"


def test_every_kind_has_its_section_and_every_part_of_the_workflow_its_own(page: str) -> None:
    for kind in REQUEST_KINDS.values():
        if kind.desks:
            assert f"### `{kind.name}`: {kind.title} (Art. {kind.article})" in page
    for title in ("## 8. The requested central authority's work", "## 9. Clocks",
                  "## 10. Safeguards for personal data", "## 11. One case, everything in it"):
        assert f"\n{title}\n" in page
    assert "(to be completed)" not in page
