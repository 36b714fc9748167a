"""The pure core does no I/O-layer imports: it never reaches into db, api, cli, node or the network services."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).parent.parent / "src" / "hanoinet"
CORE = [
    "errors.py", "clock.py", "ids.py", "durable.py", "states.py", "crypto/canonical.py", "crypto/keys.py",
    "crypto/jose.py",
    "network/directory.py", "network/envelope.py", "network/receipt.py", "network/kinds.py",
    "convention/articles.py", "convention/rules.py", "requests/machine.py", "requests/clocks.py",
    "requests/messages.py", "alerts/rota.py", "alerts/notice.py", "ledger/merkle.py", "ledger/events.py",
    "ledger/note.py", "ledger/checkpoint.py", "ledger/cosignature.py", "ledger/tiles.py",
    "ledger/bundle.py", "ledger/witness.py", "hashbank/kinds.py", "hashbank/index.py", "hashbank/pdq.py",
    "hashbank/takedown_rules.py", "ledger/names.py", "evidence/layout.py", "evidence/verify.py", "evidence/report.py",
    "privacy/reasons.py",
    "privacy/use.py",
]
EDGES = ("hanoinet.db", "hanoinet.api", "hanoinet.cli", "hanoinet.node", "hanoinet.demo",
         "hanoinet.network.outbox", "hanoinet.network.inbox", "hanoinet.network.delivery",
         "hanoinet.network.transport", "hanoinet.network.directory_sync", "hanoinet.network.authority")
IO_LIBRARIES = ("sqlalchemy", "httpx", "fastapi", "uvicorn", "alembic", "psycopg", "typer", "boto3")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", CORE)
def test_core_module_imports_no_edge(module: str) -> None:
    imported = _imports(SRC / module)
    offending = sorted(n for n in imported if n.startswith(EDGES) or n.split(".")[0] in IO_LIBRARIES)
    assert offending == [], f"{module} imports {offending}"


def test_offline_verification_imports_no_database_code() -> None:
    # `hanoinet verify` runs on a court's machine, often once: it must not load the ORM, even transitively.
    probe = ("import sys\n"
             "import hanoinet.evidence.verify, hanoinet.evidence.report, hanoinet.node.pinned\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'alembic')\n"
             "             or m.startswith('hanoinet.db')))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
