"""Platform accounts: names, tokens, disabling."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hanoinet.db.database import Database
from hanoinet.errors import Conflict, Unauthenticated, ValidationError
from hanoinet.hashbank import platforms


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'p.db'}")
    database.migrate()
    yield database
    database.dispose()


@pytest.mark.parametrize("name", ["", "   ", "x" * 201, "Photos\x00Ltd", "Photos\nLtd", "Photos\x85Ltd"])
def test_bad_names_are_refused(db: Database, name: str) -> None:
    with pytest.raises(ValidationError) as caught, db.transaction() as uow:
        platforms.register(uow.session, name=name, email=None, actor="test")
    assert caught.value.code == "bad_platform"


def test_tokens_authenticate_until_replaced_or_disabled(db: Database) -> None:
    with db.transaction() as uow:
        row, first = platforms.register(uow.session, name=" Exemple Photos SAS ", email=None, actor="test")
    assert row.name == "Exemple Photos SAS" and platforms.is_platform_token(first)
    with db.transaction() as uow:
        assert platforms.authenticate(uow.session, first).name == "Exemple Photos SAS"
        second = platforms.new_token(uow.session, "Exemple Photos SAS", actor="test")
    with db.transaction(readonly=True) as uow:
        with pytest.raises(Unauthenticated):
            platforms.authenticate(uow.session, first)
        assert platforms.authenticate(uow.session, second).id == row.id
    with db.transaction() as uow:
        platforms.disable(uow.session, "Exemple Photos SAS", actor="test")
    with db.transaction(readonly=True) as uow, pytest.raises(Unauthenticated):
        platforms.authenticate(uow.session, second)
    with pytest.raises(Conflict), db.transaction() as uow:
        platforms.register(uow.session, name="Exemple Photos SAS", email=None, actor="test")
