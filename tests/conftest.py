"""Shared fixtures: keys, nodes, and the two databases (SQLite always; PostgreSQL on the local server)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import hypothesis
import psycopg
import pytest

from hanoinet.crypto.keys import KeyPair
from hanoinet.node.node import Node
from tests.support import make_node, publish

# Timing deadlines make property tests flaky on a loaded two-core machine; correctness is what they check.
hypothesis.settings.register_profile("hanoinet", deadline=None, print_blob=True)
hypothesis.settings.load_profile("hanoinet")

PG_ADMIN = os.environ.get("HANOINET_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session", autouse=True)
def _help_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Help texts the CLI keeps (hanoinet.cli.helpcache) go to a folder of this run, not the user's cache."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HANOINET_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


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
def pg_databases() -> Iterator[Callable[[], str]]:
    """A factory of fresh, empty PostgreSQL databases for one test, all dropped afterwards.

    Skipped when no server answers, except under CI=true, where that is a failure: the production database
    must be tested.
    """
    problem = _pg_available()
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI=true and is unreachable: {problem}")
        pytest.skip(f"PostgreSQL unreachable: {problem}")
    created: list[str] = []
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")

    def create() -> str:
        name = f"hanoinet_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return f"{base}/{name}"

    try:
        yield create
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            for name in created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url(pg_databases: Callable[[], str]) -> str:
    """One fresh PostgreSQL database."""
    return pg_databases()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_urls(request: pytest.FixtureRequest) -> Callable[[], str]:
    """Run a storage test on SQLite and on PostgreSQL: call it once per node ('' is the node's own SQLite)."""
    if request.param == "sqlite":
        return lambda: ""
    factory: Callable[[], str] = request.getfixturevalue("pg_databases")
    return factory


@pytest.fixture
def database_url(database_urls: Callable[[], str]) -> str:
    """One database of the kind under test."""
    return database_urls()


@pytest.fixture
def pair_on_both(tmp_path: Path, authority: KeyPair, database_urls: Callable[[], str]) -> tuple[Node, Node]:
    """Two nodes on the database kind under test (SQLite, then PostgreSQL)."""
    vnm = make_node(tmp_path, "VNM", authority, port=8401, database_url=database_urls())
    fra = make_node(tmp_path, "FRA", authority, port=8402, database_url=database_urls())
    publish([vnm, fra], authority)
    return vnm, fra
