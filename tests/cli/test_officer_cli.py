"""``hanoinet officer add|token|disable`` on a node's data directory: a lost token is replaced, once, audited."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from hanoinet.cli.common import open_database
from hanoinet.crypto.keys import KeyPair
from hanoinet.db.models import AuditEntry
from hanoinet.errors import Unauthenticated
from hanoinet.node.officers import authenticate
from tests.cli.test_cli import invoke
from tests.support import make_node


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    make_node(tmp_path, "BRA", KeyPair.generate("sig")).close()
    return tmp_path / "BRA"


def officer_of(data_dir: Path, token: str) -> int | None:
    """The id of the officer ``token`` authenticates, or None if the node refuses it."""
    database = open_database(data_dir)
    try:
        with database.transaction(readonly=True) as uow:
            try:
                return authenticate(uow.session, token).id
            except Unauthenticated:
                return None
    finally:
        database.dispose()


def test_a_lost_token_is_replaced_and_stops_working(data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    code, lost, err = invoke(monkeypatch, capsys, "officer", "add", "--data", str(data_dir), "--name", "Ana",
                             "--role", "duty_officer", "--desk", "247")
    assert code == 0, err
    lost = lost.strip()
    code, other, err = invoke(monkeypatch, capsys, "officer", "add", "--data", str(data_dir), "--name", "Bruno",
                              "--role", "duty_officer", "--desk", "247")
    other = other.strip()
    ana = officer_of(data_dir, lost)
    assert code == 0 and ana is not None

    code, new, err = invoke(monkeypatch, capsys, "officer", "token", "--id", str(ana), "--data", str(data_dir))
    assert code == 0, err
    assert "Ana" in err and "old token no longer works" in err and "shown once" in err
    new = new.strip()
    assert new.startswith("hnt_") and len(new) > 40 and new != lost
    assert officer_of(data_dir, lost) is None and officer_of(data_dir, new) == ana
    assert officer_of(data_dir, other) is not None  # nobody else's token changes

    database = open_database(data_dir)
    with database.transaction(readonly=True) as uow:
        [entry] = uow.session.scalars(select(AuditEntry).where(AuditEntry.action == "officer.token")).all()
        assert entry.target == f"officer:{ana}" and entry.actor.startswith("operator:")
        assert new not in (entry.detail or "") and lost not in (entry.detail or "")
    database.dispose()


def test_no_token_for_a_disabled_or_unknown_officer(data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    code, token, _ = invoke(monkeypatch, capsys, "officer", "add", "--data", str(data_dir), "--name", "Ana",
                            "--role", "duty_officer", "--desk", "247")
    ana = officer_of(data_dir, token.strip())
    assert code == 0 and ana is not None
    assert invoke(monkeypatch, capsys, "officer", "disable", "--id", str(ana), "--data", str(data_dir))[0] == 0
    code, out, err = invoke(monkeypatch, capsys, "officer", "token", "--id", str(ana), "--data", str(data_dir))
    assert code == 2 and out == "" and "is disabled, so gets no new token" in err and "Traceback" not in err
    code, out, err = invoke(monkeypatch, capsys, "officer", "token", "--id", "999", "--data", str(data_dir))
    assert code == 2 and out == "" and "no officer 999" in err
