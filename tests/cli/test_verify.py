"""`hanoinet verify` read without Typer: the same options, the same values, and Typer for everything else."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command

from hanoinet.cli import verify
from hanoinet.cli.main import app
from hanoinet.cli.verify import FLAGS, VALUE_OPTIONS, VerifyArgs, parse
from tests.cli.test_cli import invoke

FP = "PIHUxvd35WMILub6-GV1ah05Z9qdSYcyxi5MggtX1bM"
DASHED = "-IHUxvd35WMILub6-GV1ah05Z9qdSYcyxi5MggtX1bM"  # base64url: a fingerprint may begin with "-"

READ_HERE = [
    ["p.zip"],
    ["p.zip", "--trust", FP],
    ["--trust", FP, "--trust", DASHED, "p.zip"],
    [f"--trust={FP}", "p.zip", "--json"],
    ["p.zip", "-d", "node", "--report", "court.html"],
    ["--data=node", "--data", "other", "p.zip"],
    ["--report=r.html", "--json", "--json", "p.zip"],
    ["--", "-odd name.zip"],
    ["--trust", FP, "--", "--json"],
    ["-", "--trust", FP],
]
LEFT_TO_TYPER = [
    [], ["--help"], ["p.zip", "--help"], ["-h"], ["p.zip", "q.zip"], ["p.zip", "--trust"], ["--json=1", "p.zip"],
    ["p.zip", "--unknown"], ["-dnode", "p.zip"], ["-d=node", "p.zip"], ["p.zip", "--trus", FP],
]


def _typer_reads(monkeypatch: pytest.MonkeyPatch, args: list[str]) -> VerifyArgs | None:
    """What the Typer command hands to verify.run for ``hanoinet verify ARGS``; None if it does not get there."""
    seen: list[VerifyArgs] = []

    def capture(parsed: VerifyArgs, reading: object = None) -> int:
        seen.append(parsed)
        return 0

    monkeypatch.setattr(verify, "run", capture)
    monkeypatch.setattr(sys, "argv", ["hanoinet", "verify", *args])
    try:
        get_command(app)(["verify", *args], standalone_mode=False)
    except Exception:  # Typer refused the command line: parse must leave it to Typer too
        return None
    return seen[0] if seen else None


@pytest.mark.parametrize("args", READ_HERE, ids=" ".join)
def test_the_fast_reading_gives_what_typer_gives(monkeypatch: pytest.MonkeyPatch, args: list[str]) -> None:
    fast = parse(args)
    assert fast is not None
    assert fast == _typer_reads(monkeypatch, args)


@pytest.mark.parametrize("args", LEFT_TO_TYPER, ids=lambda a: " ".join(a) or "nothing")
def test_anything_else_is_left_to_typer(args: list[str]) -> None:
    assert parse(args) is None


def test_the_fast_reading_knows_every_option_of_the_command() -> None:
    command = get_command(app).commands["verify"]  # type: ignore[attr-defined]
    declared = {name for param in command.params for name in param.opts} - {"package_file"}
    assert declared == set(VALUE_OPTIONS) | set(FLAGS)


def _command(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """``hanoinet verify ARGS`` as a person runs it: a new process through hanoinet.cli.start."""
    done = subprocess.run([sys.executable, "-m", "hanoinet", "verify", *args], capture_output=True, text=True,
                          timeout=120, env=env, check=False)
    return done.returncode, done.stdout, done.stderr


def test_the_command_and_the_typer_command_give_the_same_verdicts(
        story: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("HANOINET_TRUST", raising=False)
    env = {k: v for k, v in os.environ.items() if k != "HANOINET_TRUST"}
    garbage = tmp_path / "garbage.zip"
    garbage.write_bytes(b"not a zip at all")
    cases = {
        0: [str(story["genuine"]), "--data", str(story["fra"])],
        1: [str(garbage)],
        3: [str(story["forged"])],
        4: [str(story["forged"]), "--trust", story["real"]],
        2: [str(story["genuine"]), "--trust", "FINGERPRINT"],
    }
    unreadable = {"missing": tmp_path / "missing.zip", "a folder": tmp_path}
    for status, args in [*cases.items(), *((1, [str(path)]) for path in unreadable.values())]:
        code, out, err = _command(args, env)
        assert code == status, (args, out, err)
        assert "Traceback" not in err
        typer_code, typer_out, typer_err = invoke(monkeypatch, capsys, "verify", *args)
        assert typer_code == status, (args, typer_out, typer_err)
        assert out.splitlines()[-2:] == typer_out.splitlines()[-2:]  # the same verdict and next step
        assert err == typer_err


def test_text_from_the_package_is_printed_as_written_not_as_markup(tmp_path: Path) -> None:
    folder = tmp_path / "[bold]not [white on white]hidden"
    folder.mkdir()
    code, out, err = _command([str(folder / "x.zip")], dict(os.environ))
    assert code == 1 and "Traceback" not in err
    assert "[white on white]hidden" in out
