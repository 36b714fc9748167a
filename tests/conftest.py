"""Shared fixtures: keys, nodes, and the two databases (SQLite always; PostgreSQL on the local server)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from hanoinet.crypto.keys import KeyPair

PG_ADMIN = os.environ.get("HANOINET_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def authority() -> KeyPair:
    """The test Secretariat's signing key."""
    return KeyPair.generate("sig")


def _pg_available() -> str | None:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards.

    Skipped when no server answers, except under CI=true, where that is a failure: the production database
    must be tested.
    """
    problem = _pg_available()
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI=true and is unreachable: {problem}")
        pytest.skip(f"PostgreSQL unreachable: {problem}")
    name = f"hanoinet_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Run a storage test once on SQLite and once on PostgreSQL ('' means the node's default SQLite)."""
    if request.param == "sqlite":
        return ""
    url: str = request.getfixturevalue("pg_url")
    return url
