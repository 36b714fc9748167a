"""The Convention package is pure, and no other module of it writes an article number."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "hanoinet" / "convention"
MODULES = sorted(PACKAGE.glob("*.py"))
IO_LIBRARIES = ("sqlalchemy", "httpx", "fastapi", "uvicorn", "alembic", "psycopg", "typer", "boto3", "requests",
                "structlog", "socket", "urllib", "http", "sqlite3", "subprocess", "os", "pathlib", "io", "shutil")
EDGES = ("hanoinet.db", "hanoinet.api", "hanoinet.cli", "hanoinet.node", "hanoinet.demo")
#: The only modules of the node the package may use: errors, State codes, instants and the Declaration type.
ALLOWED_INTERNAL = ("hanoinet.errors", "hanoinet.states", "hanoinet.clock", "hanoinet.network.directory",
                    "hanoinet.convention")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_package_has_its_modules() -> None:
    assert [m.name for m in MODULES] == ["__init__.py", "articles.py", "rules.py"]


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_no_io_and_no_edge(module: Path) -> None:
    imported = _imports(module)
    offending = sorted(n for n in imported if n.startswith(EDGES) or n.split(".")[0] in IO_LIBRARIES)
    assert offending == [], f"{module.name} imports {offending}"
    internal = sorted(n for n in imported if n.startswith("hanoinet") and not n.startswith(ALLOWED_INTERNAL))
    assert internal == [], f"{module.name} imports {internal}"


@pytest.mark.parametrize("module", [m for m in MODULES if m.name != "articles.py"], ids=lambda p: p.name)
def test_article_numbers_live_in_the_data_module(module: Path) -> None:
    assert re.findall(r"Art\.\s*[0-9]", module.read_text(encoding="utf-8")) == []
