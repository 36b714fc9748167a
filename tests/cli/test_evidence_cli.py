"""``hanoinet evidence add|list|package|shred`` on a data directory, and ``hanoinet verify`` with its exit codes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hanoinet.crypto.keys import KeyPair
from tests.cli.test_cli import invoke
from tests.support import make_node


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    node = make_node(tmp_path, "BRA", KeyPair.generate("sig"))
    node.close()
    return tmp_path / "BRA"


def test_add_package_verify_and_shred(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"203.0.113.7 - - [23/Nov/2026:02:10:07] POST /upload\n" * 100)
    image = tmp_path / "disk.img"
    image.write_bytes(os.urandom(1_500_000))
    code, out, err = invoke(monkeypatch, capsys, "evidence", "add", str(log), str(image), "--case", "BRA-7",
                            "--data", str(data_dir), "--actor", "officer:3")
    assert code == 0, err
    import hashlib

    assert hashlib.sha256(log.read_bytes()).hexdigest() in out and "access.log" in out

    code, out, _ = invoke(monkeypatch, capsys, "evidence", "list", "--case", "BRA-7", "--data", str(data_dir),
                          "--json")
    listed = json.loads(out)
    assert code == 0 and [i["name"] for i in listed] == ["access.log", "disk.img"]

    package = tmp_path / "BRA-7.zip"
    code, out, err = invoke(monkeypatch, capsys, "evidence", "package", "--case", "BRA-7", "--out", str(package),
                            "--data", str(data_dir), "--purpose", "request FRA-2026-0001", "--recipient", "FRA")
    assert code == 0, err
    assert "sealed 2 files" in out and package.exists()

    report = tmp_path / "report.html"
    code, out, _ = invoke(monkeypatch, capsys, "verify", str(package), "--report", str(report))
    assert code == 0 and "VALID" in out and "not anchored" in out
    assert "VALID" in report.read_text(encoding="utf-8")

    code, out, _ = invoke(monkeypatch, capsys, "verify", str(package), "--json")
    assert code == 0 and json.loads(out)["ok"] is True

    damaged = tmp_path / "damaged.zip"
    data = bytearray(package.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    code, out, _ = invoke(monkeypatch, capsys, "verify", str(damaged))
    assert code == 1 and "NOT VALID" in out and "FAIL" in out

    code, out, _ = invoke(monkeypatch, capsys, "evidence", "shred", listed[1]["id"], "--reason", "retention ended",
                          "--yes", "--data", str(data_dir))
    assert code == 0 and "shredded disk.img" in out
    code, out, err = invoke(monkeypatch, capsys, "evidence", "package", "--case", "BRA-7", "--out",
                            str(tmp_path / "again.zip"), "--data", str(data_dir), "--purpose", "x")
    assert code == 2 and "shredded" in err and "Traceback" not in err


def test_verify_exit_codes_for_unreadable_files_and_usage_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    garbage = tmp_path / "garbage.zip"
    garbage.write_bytes(b"not a zip at all")
    code, out, _ = invoke(monkeypatch, capsys, "verify", str(garbage))
    assert code == 1 and "NOT VALID" in out and "layout" in out
    code, out, _ = invoke(monkeypatch, capsys, "verify", str(tmp_path / "missing.zip"))
    assert code == 1 and "cannot read" in out
    code, _, err = invoke(monkeypatch, capsys, "verify")
    assert code == 2 and "Missing argument" in err
    code, _, err = invoke(monkeypatch, capsys, "verify", str(garbage), "--no-such-option")
    assert code == 2


def test_adding_a_missing_file_is_explained(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = invoke(monkeypatch, capsys, "evidence", "add", str(tmp_path / "nope.bin"), "--case", "BRA-7",
                          "--data", str(data_dir))
    assert code == 2 and "not a readable file" in err and "Traceback" not in err
    code, _, err = invoke(monkeypatch, capsys, "evidence", "add", str(data_dir / "hanoinet.toml"), "--case", "../x",
                          "--data", str(data_dir))
    assert code == 2 and "case reference" in err


def test_sweep_lists_then_removes_leftovers_in_80_columns(data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    import time

    partial = data_dir / "blobs" / "partial"
    partial.mkdir(parents=True)
    leftover = partial / f"{'c' * 32}.tmp"
    leftover.write_bytes(b"x" * 5000)
    exports = data_dir / "exports"
    exports.mkdir()
    download = exports / "67f7b460-b9fb-4d9d-a26a-ab4bbd94a694-0123abcd.zip.partial"
    download.write_bytes(b"y" * 300)
    for path in (leftover, download):
        then = time.time() - 3 * 86400 - 3600
        os.utime(path, (then, then))

    code, out, err = invoke(monkeypatch, capsys, "evidence", "sweep", "--data", str(data_dir), "--dry-run")
    assert code == 0, err
    assert "unfinished blob writes: 1, 4.88 KiB" in out and f"4.88 KiB  3d 01h  {'c' * 32}" in out
    assert download.name in out and "would remove 2 leftover(s), 5.18 KiB" in out
    assert max(len(line) for line in out.splitlines()) <= 80
    assert leftover.exists() and download.exists()

    code, out, err = invoke(monkeypatch, capsys, "evidence", "sweep", "--data", str(data_dir), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["totals"]["unfinished_write"] == {"count": 1, "bytes": 5000}
    assert report["totals"]["export"] == {"count": 1, "bytes": 300}
    assert not leftover.exists() and not download.exists()

    code, out, _ = invoke(monkeypatch, capsys, "evidence", "sweep", "--data", str(data_dir))
    assert code == 0 and out.strip() == "nothing to remove"
    code, _, err = invoke(monkeypatch, capsys, "evidence", "sweep", "--data", str(data_dir), "--older-than", "60")
    assert code == 2 and "600" in err
