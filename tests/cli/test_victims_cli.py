"""``hanoinet victims submit|status|withdraw`` on a data directory."""

from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from hanoinet.crypto.keys import KeyPair
from hanoinet.db.database import Database
from hanoinet.db.models import HashEntry, VictimCase, VictimImage
from hanoinet.hashbank import pdq
from hanoinet.node.settings import load_settings
from tests.cli.test_cli import invoke
from tests.support import make_node

# The shared test data sits beside the project (../shared/testdata); HANOINET_TESTDATA names it elsewhere.
TESTDATA = Path(os.environ.get("HANOINET_TESTDATA") or Path(__file__).resolve().parents[3] / "shared" / "testdata")
BRIDGE = TESTDATA / "pdq" / "bridge-mods" / "aaa-orig.jpg"
SECRET = re.compile(r"^[2-9A-HJ-NP-Z]{4}(-[2-9A-HJ-NP-Z]{4}){4}$")

@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    node = make_node(tmp_path, "BRA", KeyPair.generate("sig"))
    node.close()
    return tmp_path / "BRA"


def submit(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], data_dir: Path,
           *args: str) -> tuple[str, str]:
    code, out, err = invoke(monkeypatch, capsys, "victims", "submit", *args, "--data", str(data_dir))
    assert code == 0, err
    number, secret = out.splitlines()
    return number, secret


def stored(data_dir: Path) -> list[tuple[Any, ...]]:
    """(number, category, created_by, position, hash) of every case image in the node's database."""
    database = Database(load_settings(data_dir).db_url)
    try:
        with database.transaction(readonly=True) as uow:
            rows = uow.session.execute(
                select(VictimCase.number, VictimCase.category, VictimCase.created_by, VictimImage.position,
                       HashEntry.hash)
                .join(VictimImage, VictimImage.case_id == VictimCase.id)
                .join(HashEntry, HashEntry.id == VictimImage.entry_row).order_by(VictimImage.id))
            return [tuple(row) for row in rows]
    finally:
        database.dispose()


def test_submit_follow_and_withdraw_a_case(data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    first, second = secrets.token_hex(32), secrets.token_hex(32)
    code, out, err = invoke(monkeypatch, capsys, "victims", "submit", f"{first}:90", f"{second}:60",
                            "--category", "art16", "--language", "vi", "--actor", "advocate:hotline",
                            "--data", str(data_dir))
    assert code == 0, err
    number, secret = out.splitlines()
    assert re.fullmatch(r"BRA-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}", number) and SECRET.fullmatch(secret)
    assert "shown only this once" in err and secret not in err
    assert stored(data_dir) == [(number, "art16", "advocate:hotline", 1, first),
                                (number, "art16", "advocate:hotline", 2, second)]

    monkeypatch.setenv("HANOINET_CASE_SECRET", secret.lower().replace("-", " "))
    code, out, err = invoke(monkeypatch, capsys, "victims", "status", number, "--data", str(data_dir))
    assert code == 0, err
    assert f"case {number}  art16  language vi" in out
    assert "image 1  active" in out and "image 2  active" in out and "no platform has reported" in out

    code, out, err = invoke(monkeypatch, capsys, "victims", "withdraw", number, "--image", "2",
                            "--data", str(data_dir))
    assert code == 0, err
    assert "image 1  active" in out and "image 2  withdrawn" in out
    code, out, err = invoke(monkeypatch, capsys, "victims", "withdraw", number, "--data", str(data_dir), "--json")
    assert code == 0, err
    assert [i["status"] for i in json.loads(out)["images"]] == ["withdrawn", "withdrawn"]
    code, out, _ = invoke(monkeypatch, capsys, "match", first, second, "--data", str(data_dir))
    assert code == 0, "nothing matches once withdrawn"


def test_the_secret_is_never_a_command_line_argument(data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    number, secret = submit(monkeypatch, capsys, data_dir, f"{secrets.token_hex(32)}:90", "--about-a-child",
                            "--language", "en")
    monkeypatch.delenv("HANOINET_CASE_SECRET", raising=False)
    code, _, err = invoke(monkeypatch, capsys, "victims", "status", number, secret, "--data", str(data_dir))
    assert code == 2 and "unexpected extra argument" in err.lower()
    code, _, err = invoke(monkeypatch, capsys, "victims", "status", number, "--data", str(data_dir))
    assert code == 2 and "HANOINET_CASE_SECRET" in err and "Traceback" not in err


def test_a_wrong_secret_is_refused_and_counted(data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    number, secret = submit(monkeypatch, capsys, data_dir, f"{secrets.token_hex(32)}:90", "--category", "art16",
                            "--language", "en")
    monkeypatch.setenv("HANOINET_CASE_SECRET", ("2222" if not secret.startswith("2222") else "3333") + secret[4:])
    for _ in range(4):
        code, _, err = invoke(monkeypatch, capsys, "victims", "status", number, "--data", str(data_dir))
        assert code == 2 and "no case with this number and secret" in err
    code, _, err = invoke(monkeypatch, capsys, "victims", "withdraw", number, "--data", str(data_dir))
    assert code == 2 and "locked" in err
    monkeypatch.setenv("HANOINET_CASE_SECRET", secret)
    code, _, err = invoke(monkeypatch, capsys, "victims", "status", number, "--data", str(data_dir))
    assert code == 2 and "locked" in err and "wait until then" in err


@pytest.mark.parametrize(("args", "words"), [
    (["ab" * 32 + ":90", "--category", "art16", "--language", "de"], "ar, en, es, fr, ru, vi, zh"),
    (["ab" * 32 + ":90", "--language", "en"], "under 18"),
    (["ab" * 32 + ":20", "--category", "art16", "--language", "en"], "image 1: PDQ quality 20"),
    (["ab" * 32, "--category", "art16", "--language", "en"], "HASH:QUALITY"),
    (["zz" * 32 + ":90", "--category", "art16", "--language", "en"], "not hexadecimal"),
])
def test_bad_submissions_say_what_to_do(data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str], args: list[str], words: str) -> None:
    code, out, err = invoke(monkeypatch, capsys, "victims", "submit", *args, "--data", str(data_dir))
    assert code == 2 and out == ""
    assert words in err and "what to do:" in err and "Traceback" not in err
    assert stored(data_dir) == []


@pytest.mark.skipif(not BRIDGE.exists(), reason="the shared PDQ test images are not beside the project")
def test_an_image_file_is_hashed_here_and_a_case_about_a_child_is_art14(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = invoke(monkeypatch, capsys, "victims", "submit", str(BRIDGE), "--category", "art16",
                            "--about-a-child", "--language", "zh", "--data", str(data_dir), "--json")
    assert code == 0, err
    created = json.loads(out)
    assert (created["category"], created["language"], created["images"]) == ("art14", "zh", 1)
    expected = pdq.dihedral_hashes(BRIDGE.read_bytes())[0].code.hex()
    assert [row[4] for row in stored(data_dir)] == [expected]
    code, out, _ = invoke(monkeypatch, capsys, "match", str(BRIDGE), "--data", str(data_dir))
    assert code == 1 and "distance 0" in out and "art14" in out
