"""`hanoinet verify` read without Typer: the same options, the same values, and Typer for everything else."""

from __future__ import annotations

import sys

import pytest
from typer.main import get_command

from hanoinet.cli import verify
from hanoinet.cli.main import app
from hanoinet.cli.verify import FLAGS, VALUE_OPTIONS, VerifyArgs, parse

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
