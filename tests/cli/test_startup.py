"""Start-up: `hanoinet --help` and `hanoinet verify` load neither the ORM nor the web stack.

Each command runs in a fresh interpreter, as a user starts it, which then lists the modules it loaded. Times
are measured by bench/evidence.py and `python -X importtime -m hanoinet --help`, not here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hanoinet.crypto.keys import KeyPair
from tests.cli.test_cli import invoke
from tests.support import make_node, publish

#: What only node-side commands need: the ORM, migrations, the web server and its clients.
NODE_SIDE = ("sqlalchemy", "alembic", "fastapi", "uvicorn", "starlette", "httpx")

_PROBE = r"""
import json, os, sys
modules_file, sys.argv = sys.argv[1], ["hanoinet", *sys.argv[2:]]
parent, leave = os.getpid(), os._exit


def _exit(code):  # `verify` leaves with os._exit; this process must first say what it loaded
    if os.getpid() != parent:
        leave(code)  # the child that reads the package
    raise SystemExit(code)


os._exit = _exit
from hanoinet.cli.start import run
try:
    run()
except SystemExit as exit_:
    code = exit_.code
with open(modules_file, "w", encoding="utf-8") as out:
    json.dump({"code": code, "modules": sorted(sys.modules)}, out)
"""


def _loaded(tmp_path: Path, *args: str, cache: Path | None = None) -> tuple[object, set[str], str]:
    """Run ``hanoinet ARGS`` in a new interpreter, as the installed command does (hanoinet.cli.start); its exit
    code, the top-level packages it imported, and what it printed. Help texts are kept in ``cache``."""
    listing = tmp_path / "modules.json"
    env = {**os.environ, "HANOINET_CACHE": str(cache or tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", _PROBE, str(listing), *args], check=True, capture_output=True,
                          timeout=120, env=env, text=True)
    found = json.loads(listing.read_text(encoding="utf-8"))
    return found["code"], {name.split(".")[0] for name in found["modules"]}, done.stdout


def test_help_loads_only_the_command_line(tmp_path: Path) -> None:
    code, loaded, _ = _loaded(tmp_path, "--help")
    assert code == 0
    assert sorted(loaded.intersection((*NODE_SIDE, "structlog", "pydantic", "cryptography", "numpy"))) == []


@pytest.mark.parametrize("args", [("--help",), ("evidence", "--help"), ("request", "send", "--help")])
def test_help_asked_again_is_printed_from_the_cache_without_typer(tmp_path: Path, args: tuple[str, ...]) -> None:
    code, loaded, rendered = _loaded(tmp_path, *args)
    assert code == 0 and "typer" in loaded and "Usage: hanoinet" in rendered
    code, loaded, replayed = _loaded(tmp_path, *args)
    assert code == 0
    assert replayed == rendered
    assert sorted(loaded.intersection(("typer", "rich", "click", *NODE_SIDE, "pydantic"))) == []


@pytest.mark.parametrize("args", [("evidence", "--help"), ("verify", "--help"), ("hashes", "--help")])
def test_help_of_a_command_loads_nothing_of_the_node(tmp_path: Path, args: tuple[str, ...]) -> None:
    code, loaded, _ = _loaded(tmp_path, *args)
    assert code == 0
    assert sorted(loaded.intersection(NODE_SIDE)) == []


def test_verify_loads_nothing_of_the_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    authority = KeyPair.generate("sig")
    node = make_node(tmp_path, "BRA", authority)
    publish([node], authority)
    node.close()
    data = tmp_path / "BRA"
    evidence = tmp_path / "access.log"
    evidence.write_bytes(b"203.0.113.7 - - [23/Nov/2026:02:10:07] POST /upload\n" * 100)
    package = tmp_path / "BRA-7.zip"
    for args in (("evidence", "add", str(evidence), "--case", "BRA-7", "--data", str(data)),
                 ("evidence", "package", "--case", "BRA-7", "--out", str(package), "--data", str(data),
                  "--purpose", "request FRA-2026-0001", "--reason", "request FRA-2026-0001")):
        code, _, err = invoke(monkeypatch, capsys, *args)
        assert code == 0, err

    # The whole verification runs (exit 0: the package is valid, anchored by the Secretariat's key the node
    # pins), the court's HTML report included, without Typer (which builds a pydantic adapter per option).
    code, loaded, printed = _loaded(tmp_path, "verify", str(package), "--data", str(data), "--report",
                                    str(tmp_path / "report.html"))
    assert code == 0, printed
    assert "VALID" in printed and (tmp_path / "report.html").stat().st_size > 0
    assert sorted(loaded.intersection((*NODE_SIDE, "structlog", "typer", "click"))) == []
