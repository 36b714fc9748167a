"""``program()``: the command printed for the user to run again must be the one they ran, and work as typed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from hanoinet.cli.common import ApiClient, program
from hanoinet.errors import ValidationError


def test_the_script_is_named_as_it_was_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / ".venv" / "bin" / "hanoinet"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n", encoding="ascii")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(sys, "argv", [".venv/bin/hanoinet", "demo"])
    assert program() == ".venv/bin/hanoinet"
    monkeypatch.setattr(sys, "argv", [str(script), "demo"])
    assert program() == str(script)
    # The same script found on the PATH is simply `hanoinet`.
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(script.parent))
    assert program() == "hanoinet"


def test_python_dash_m_names_the_interpreter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [str(tmp_path / "hanoinet" / "__main__.py")])
    monkeypatch.setattr(sys, "executable", str(tmp_path / "my venv" / "bin" / "python"))
    assert program() == "'my venv/bin/python' -m hanoinet"


@pytest.mark.parametrize(("kwargs", "field"), [({"json": {"body": {"subject": "Lan\udcff"}}}, "body.subject"),
                                               ({"json": {"case": "a\x00"}}, "case"),
                                               ({"params": {"kind": "a\x1b[2J"}}, "--kind")])
def test_the_client_checks_what_it_sends_with_the_nodes_rule(kwargs: dict[str, Any], field: str) -> None:
    # Regression: a command-line byte that is not UTF-8 (a lone surrogate to Python) crashed the JSON encoder.
    # Port 9 (discard) is closed: the refusal comes before any connection is tried.
    client = ApiClient("http://127.0.0.1:9", "token")
    with pytest.raises(ValidationError) as info:
        client.call("POST", "/api/v1/messages", **kwargs)
    assert info.value.code == "invalid_text" and info.value.message.startswith(f"{field}: character")
