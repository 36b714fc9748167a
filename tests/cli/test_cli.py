"""The CLI turns bad input into a message saying what is wrong and what to do, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hanoinet.cli import console
from hanoinet.cli.main import run
from hanoinet.crypto.keys import KeyPair
from hanoinet.node.officers import add_officer
from tests.support import make_node


def invoke(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["hanoinet", *args])
    code = 0
    try:
        run()
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_unknown_state_code_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = invoke(monkeypatch, capsys, "node", "init", "--data", str(tmp_path / "n"), "--state", "XXX",
                          "--name", "X", "--endpoint", "http://127.0.0.1:1", "--insecure-plaintext-keys")
    assert code == 2
    assert "'XXX' is not an ISO 3166-1 alpha-3 country code" in err
    assert "what to do:" in err and "Traceback" not in err


def test_bad_language_tag_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = invoke(monkeypatch, capsys, "node", "init", "--data", str(tmp_path / "n"), "--state", "VNM",
                          "--name", "X", "--endpoint", "http://127.0.0.1:1", "--language", "English",
                          "--insecure-plaintext-keys")
    assert code == 2
    assert "English" in err and "language" in err and "Traceback" not in err


def test_missing_data_directory_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = invoke(monkeypatch, capsys, "node", "card", "--data", str(tmp_path / "nowhere"))
    assert code == 2
    assert "is not a node data directory" in err and "hanoinet node init" in err


def test_officer_command_without_a_node_is_explained(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("HANOINET_NODE", raising=False)
    monkeypatch.setenv("HANOINET_CLI_CONFIG", "/nonexistent/cli.toml")
    monkeypatch.setattr("hanoinet.cli.common.CLI_CONFIG", Path("/nonexistent/cli.toml"))
    code, _, err = invoke(monkeypatch, capsys, "whoami", "--token", "hnt_x")
    assert code == 2
    assert "no node URL given" in err


@pytest.mark.parametrize(
    "args",
    [
        ("directory", "add", "/nonexistent/card.jws", "--dir", "/nonexistent"),
        ("message", "send", "--to", "FRA/247", "--body", "{bad", "--node", "http://127.0.0.1:9", "--token", "t"),
        ("directory", "publish", "--dir", "/nonexistent", "--valid-days", "100000000"),
        ("node", "backup", "--data", "/nonexistent", "--out", "/nonexistent/b.tgz"),
    ],
)
def test_bad_paths_and_values_are_explained_regression(
    args: tuple[str, ...], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = invoke(monkeypatch, capsys, *args)
    assert code == 2, err
    assert err.startswith("error:") and "Traceback" not in err


def test_node_init_card_and_officer_token_through_the_real_command(tmp_path: Path) -> None:
    def hanoinet(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "hanoinet", *args], capture_output=True, text=True,
                              timeout=60, check=False)

    data = str(tmp_path / "node")
    created = hanoinet("node", "init", "--data", data, "--state", "BRA", "--name", "Brazil",
                       "--endpoint", "http://127.0.0.1:8409", "--insecure-plaintext-keys")
    assert created.returncode == 0, created.stderr
    assert "UNENCRYPTED" in created.stderr
    card = hanoinet("node", "card", "--data", data)
    assert card.returncode == 0 and card.stdout.count(".") == 2
    officer = hanoinet("officer", "add", "--data", data, "--name", "Ana", "--role", "duty_officer", "--desk", "247")
    assert officer.returncode == 0 and officer.stdout.startswith("hnt_")
    assert len(officer.stdout.strip()) > 40
    keys = list((tmp_path / "node" / "keys").glob("*.pem"))
    assert len(keys) == 2 and all(k.stat().st_mode & 0o777 == 0o600 for k in keys)


def test_encrypted_keys_need_the_passphrase(tmp_path: Path) -> None:
    import os

    def hanoinet(*args: str, passphrase: str | None) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HANOINET_KEY_PASSPHRASE")}
        if passphrase is not None:
            env["HANOINET_KEY_PASSPHRASE"] = passphrase
        return subprocess.run([sys.executable, "-m", "hanoinet", *args], capture_output=True, text=True,
                              timeout=60, check=False, env=env, stdin=subprocess.DEVNULL)

    data = str(tmp_path / "node")
    created = hanoinet("node", "init", "--data", data, "--state", "VNM", "--name", "Viet Nam",
                       "--endpoint", "http://127.0.0.1:8409", passphrase="correct horse")
    assert created.returncode == 0, created.stderr
    assert all(b"ENCRYPTED PRIVATE KEY" in p.read_bytes() for p in (tmp_path / "node" / "keys").glob("*.pem"))
    assert hanoinet("node", "card", "--data", data, passphrase="correct horse").returncode == 0
    missing = hanoinet("node", "card", "--data", data, passphrase=None)
    assert missing.returncode == 2 and "HANOINET_KEY_PASSPHRASE" in missing.stderr
    wrong = hanoinet("node", "card", "--data", data, passphrase="wrong")
    assert wrong.returncode == 2 and "passphrase" in wrong.stderr and "Traceback" not in wrong.stderr


def test_operator_lists_show_times_in_the_zone_the_desks_share(tmp_path: Path, authority: KeyPair,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    node = make_node(tmp_path, "VNM", authority)
    with node.db.transaction() as uow:
        officer, _ = add_officer(uow.session, name="Lan", role="duty_officer", desk="247", desks=node.settings.desk_ids)
        created = officer.created_at
    node.close()
    monkeypatch.setattr(console.out, "width", 200)
    config = tmp_path / "VNM" / "hanoinet.toml"
    plain = config.read_text(encoding="utf-8")
    hanoi = created.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).strftime("%Y-%m-%d %H:%M") + " (+07:00)"
    utc = created.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")

    code, out, err = invoke(monkeypatch, capsys, "officer", "list", "--data", str(tmp_path / "VNM"))
    assert code == 0, err
    assert utc in out and "(+07:00)" not in out  # no desk has a zone: UTC alone

    zones = "".join(f'\n[desk_policies.{d}]\ntimezone = "Asia/Ho_Chi_Minh"\n' for d in node.settings.desk_ids)
    config.write_text(plain + zones, encoding="utf-8")
    code, out, err = invoke(monkeypatch, capsys, "officer", "list", "--data", str(tmp_path / "VNM"))
    assert code == 0, err
    lines = out.splitlines()
    row = next(i for i, line in enumerate(lines) if "Lan" in line)
    assert hanoi in lines[row] and utc in lines[row + 1]
