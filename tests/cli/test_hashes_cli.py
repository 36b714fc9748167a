"""``hanoinet hashes add|withdraw|list|stats``, ``hanoinet platform ...`` and ``hanoinet match`` on a data directory."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import pytest

from hanoinet.crypto.keys import KeyPair
from tests.cli.test_cli import invoke
from tests.support import make_node

# The shared test data sits beside the project (../shared/testdata); HANOINET_TESTDATA names it elsewhere.
TESTDATA = Path(os.environ.get("HANOINET_TESTDATA") or Path(__file__).resolve().parents[3] / "shared" / "testdata")
BRIDGE = TESTDATA / "pdq" / "bridge-mods" / "aaa-orig.jpg"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    node = make_node(tmp_path, "BRA", KeyPair.generate("sig"))
    node.close()
    return tmp_path / "BRA"


def test_add_list_match_withdraw_and_count(data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    data = ["--data", str(data_dir)]
    first, second = secrets.token_hex(32), secrets.token_hex(32)
    code, out, err = invoke(monkeypatch, capsys, "hashes", "add", f"{first}:90", second, "--quality", "70",
                            "--category", "art16", *data, "--json")
    assert code == 0, err
    added = json.loads(out)
    assert [(a["hash"], a["quality"], a["origin"], a["status"]) for a in added] == [
        (first, 90, "BRA", "active"), (second, 70, "BRA", "active")]

    code, out, _ = invoke(monkeypatch, capsys, "match", first, *data, "--json")
    assert code == 1, "exit 1: something matched"
    assert json.loads(out)[0]["matches"][0]["entry"] == added[0]["id"]

    code, out, _ = invoke(monkeypatch, capsys, "hashes", "withdraw", added[0]["id"], *data)
    assert code == 0 and "withdrawn" in out
    code, out, _ = invoke(monkeypatch, capsys, "match", first, *data, "--json")
    assert code == 0 and json.loads(out)[0]["matches"] == []

    code, out, _ = invoke(monkeypatch, capsys, "hashes", "list", *data, "--json")
    listed = json.loads(out)
    assert [(e["id"], e["status"]) for e in listed] == [(added[0]["id"], "withdrawn"), (added[1]["id"], "active")]
    assert "hash" not in listed[0], "hashes are printed only when asked for"
    code, out, _ = invoke(monkeypatch, capsys, "hashes", "list", *data, "--status", "active", "--show-hashes")
    assert code == 0 and second in out and first not in out

    code, out, _ = invoke(monkeypatch, capsys, "hashes", "stats", *data, "--json")
    counts = json.loads(out)
    assert counts["active"] == 1 and counts["withdrawn"] == 1 and counts["log"]["seq"] == 3


def test_bad_input_is_refused_with_what_to_do(data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    data = ["--data", str(data_dir)]
    for args, words in (
        (["hashes", "add", "ab" * 32, "--category", "art16"], "quality"),
        (["hashes", "add", "zz" * 32 + ":90", "--category", "art16"], "not hexadecimal"),
        (["hashes", "add", "ab" * 32 + ":20", "--category", "art16"], "below 50"),
        (["hashes", "add", "ab" * 32 + ":90", "--category", "adult"], "art14"),
        (["hashes", "withdraw", "nope"], "not a hash bank entry id"),
        (["match", "ab" * 31], "64"),
    ):
        code, _, err = invoke(monkeypatch, capsys, *args, *data)
        assert code == 2, args
        assert words in err and "Traceback" not in err, err


@pytest.mark.skipif(not BRIDGE.exists(), reason="the shared PDQ test images are not beside the project")
def test_an_image_is_added_and_matched_by_its_file(data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    data = ["--data", str(data_dir)]
    code, out, err = invoke(monkeypatch, capsys, "hashes", "add", str(BRIDGE), "--category", "art14", *data,
                            "--json")
    assert code == 0, err
    assert json.loads(out)[0]["hash"] == "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
    code, out, _ = invoke(monkeypatch, capsys, "match", str(BRIDGE), *data)
    assert code == 1 and "distance 0" in out and "art14" in out


def test_platform_accounts(data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    data = ["--data", str(data_dir)]
    code, out, err = invoke(monkeypatch, capsys, "platform", "add", "Example Photos", "--email",
                            "safety@photos.example", *data)
    assert code == 0 and out.startswith("hnp_") and "shown once" in err
    code, _, err = invoke(monkeypatch, capsys, "platform", "add", "Example Photos", *data)
    assert code == 2 and "already registered" in err
    code, again, _ = invoke(monkeypatch, capsys, "platform", "token", "Example Photos", *data)
    assert code == 0 and again.startswith("hnp_") and again != out
    code, out, _ = invoke(monkeypatch, capsys, "platform", "disable", "Example Photos", *data)
    assert code == 0 and "disabled" in out
    code, out, _ = invoke(monkeypatch, capsys, "platform", "list", *data)
    assert code == 0 and "Example Photos" in out
