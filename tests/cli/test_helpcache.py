"""Help texts kept and printed again: only for plain requests for help, never stale, never in the way."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from hanoinet.cli import helpcache


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HANOINET_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "help"


@pytest.mark.parametrize("args", [[], ["verify", "p.zip"], ["--help", "evidence"], ["verify", "/tmp/x", "--help"],
                                  ["--trust", "AB", "--help"], ["a", "b", "c", "d", "--help"], ["Evidence", "--help"]])
def test_only_command_words_then_help_are_kept(args: list[str]) -> None:
    assert helpcache.key(args) is None
    assert helpcache.replay(args) is False


def test_the_key_changes_with_the_command_the_terminal_and_the_sources(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sources = tmp_path / "package"
    sources.mkdir()
    (sources / "cli.py").write_text("HELP = 'one'\n", encoding="utf-8")
    monkeypatch.setattr(helpcache, "_PACKAGE", sources)
    monkeypatch.setenv("COLUMNS", "80")
    first = helpcache.key(["--help"])
    assert first is not None and first == helpcache.key(["--help"])
    assert helpcache.key(["evidence", "--help"]) != first
    monkeypatch.setenv("COLUMNS", "200")
    assert helpcache.key(["--help"]) != first
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("NO_COLOR", "1")
    assert helpcache.key(["--help"]) != first
    monkeypatch.delenv("NO_COLOR")
    (sources / "cli.py").write_text("HELP = 'a new text'\n", encoding="utf-8")
    assert helpcache.key(["--help"]) != first


def _render(text: str, status: int = 0) -> None:
    sys.stdout.write(text)
    sys.stdout.buffer.write(b"through the buffer\n")  # Click writes there
    raise SystemExit(status)


def test_what_was_printed_is_printed_again(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", out)
    with pytest.raises(SystemExit):
        helpcache.record(["evidence", "--help"], lambda: _render("Usage: hanoinet evidence\n"))
    assert len(list(cache.glob("*.txt"))) == 1
    out.flush()
    first = out.buffer.getvalue()  # type: ignore[attr-defined]
    again = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", again)
    assert helpcache.replay(["evidence", "--help"]) is True
    again.flush()
    assert again.buffer.getvalue() == first == b"Usage: hanoinet evidence\nthrough the buffer\n"  # type: ignore[attr-defined]


def test_a_command_that_fails_is_not_kept(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BytesIO(), encoding="utf-8"))
    with pytest.raises(SystemExit):
        helpcache.record(["nosuch", "--help"], lambda: _render("Error: No such command 'nosuch'.\n", status=2))
    assert not cache.exists() or not list(cache.glob("*.txt"))
    assert helpcache.replay(["nosuch", "--help"]) is False


def test_a_cache_that_cannot_be_written_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("", encoding="utf-8")
    monkeypatch.setenv("HANOINET_CACHE", str(blocked))
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", out)
    with pytest.raises(SystemExit) as exit_:
        helpcache.record(["--help"], lambda: _render("Usage: hanoinet\n"))
    assert exit_.value.code == 0
    out.flush()
    assert out.buffer.getvalue().startswith(b"Usage: hanoinet\n")  # type: ignore[attr-defined]
    assert helpcache.replay(["--help"]) is False


def _kept_text(cache: Path, args: list[str], text: str) -> Path:
    cache.mkdir(parents=True, exist_ok=True, mode=0o700)
    found = helpcache.key(args)
    assert found is not None
    kept = cache / f"{found}.txt"
    kept.write_text(text, encoding="utf-8")
    return kept


def test_a_kept_text_with_other_escape_sequences_is_not_printed(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BytesIO(), encoding="utf-8"))
    _kept_text(cache, ["--help"], "\x1b[1mUsage:\x1b[0m hanoinet\n")
    assert helpcache.replay(["--help"]) is True  # colours are what Rich writes
    _kept_text(cache, ["--help"], "Usage: hanoinet\x1b]52;c;ZWNobyBvd25lZA==\x07\n")  # OSC 52 writes the clipboard
    assert helpcache.replay(["--help"]) is False


def test_a_cache_others_may_write_to_is_not_used(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BytesIO(), encoding="utf-8"))
    _kept_text(cache, ["--help"], "Take the fingerprint from signer.json\n")
    cache.chmod(0o777)
    assert helpcache.replay(["--help"]) is False
    with pytest.raises(SystemExit):
        helpcache.record(["--help"], lambda: _render("Usage: hanoinet\n"))
    assert (cache / f"{helpcache.key(['--help'])}.txt").read_text(encoding="utf-8").startswith("Take")


def test_a_kept_text_that_is_a_link_is_not_followed(cache: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BytesIO(), encoding="utf-8"))
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("Usage: planted\n", encoding="utf-8")
    kept = _kept_text(cache, ["--help"], "")
    kept.unlink()
    kept.symlink_to(elsewhere)
    assert helpcache.replay(["--help"]) is False


def test_without_stdout_nothing_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdout", None)
    assert helpcache.key(["--help"]) is None
