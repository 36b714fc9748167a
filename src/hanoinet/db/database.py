"""The database handle: engine set-up for SQLite (WAL) and PostgreSQL, migrations, unit of work."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from hanoinet.errors import ConfigurationError

_MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_setup(engine: Engine, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: object) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front: a deferred transaction that later writes can fail with
        # SQLITE_BUSY without waiting, which busy_timeout does not cover.
        readonly = conn.get_execution_options().get("hanoinet_readonly", False)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


class Database:
    """One engine per process, created explicitly (never at import time)."""

    def __init__(self, url: str, *, sqlite_synchronous: str = "FULL") -> None:
        self.url = url
        if url.startswith("sqlite"):
            # hide_parameters: an error logged by the node must never quote the personal data being written.
            self.engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                                        hide_parameters=True)
            _sqlite_setup(self.engine, sqlite_synchronous)
        elif url.startswith("postgresql"):
            self.engine = create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True,
                                        hide_parameters=True)
        else:
            raise ConfigurationError(
                f"unsupported database URL {url!r}",
                hint="use sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DB",
            )
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time. Threads of this process queue on a lock instead of on SQLite's
        # busy handler, whose sleeps (up to 100 ms each) would dominate latency under load.
        self._write_lock: threading.Lock | contextlib.nullcontext[None] = (
            threading.Lock() if self.engine.dialect.name == "sqlite" else contextlib.nullcontext()
        )

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        cfg = Config()
        cfg.set_main_option("script_location", str(_MIGRATIONS))
        try:
            with self.engine.begin() as connection:
                cfg.attributes["connection"] = connection
                command.upgrade(cfg, "head")
        except OperationalError as exc:
            raise ConfigurationError(
                f"cannot open the database {self.engine.url.render_as_string(hide_password=True)}: "
                f"{exc.orig}",
                hint="check HANOINET_DATABASE_URL and that the database server is running",
            ) from None

    @contextmanager
    def transaction(self, *, readonly: bool = False) -> Iterator[UnitOfWork]:
        """A unit of work: commits if the block ends normally, rolls back on any exception.

        ``readonly`` transactions only read: on SQLite they neither take the write lock nor wait for it.
        """
        with self._write_lock if not readonly else contextlib.nullcontext(), self._sessions() as session:
            uow = UnitOfWork(session)
            with session.begin():
                if readonly:
                    session.connection(execution_options={"hanoinet_readonly": True})
                yield uow
                if readonly and (session.new or session.dirty or session.deleted):
                    raise RuntimeError("a read-only transaction changed data")
            for callback in uow.after_commit:
                callback()

    def dispose(self) -> None:
        """Close all pooled connections."""
        self.engine.dispose()


class UnitOfWork:
    """A session plus the callbacks to run once its transaction has committed."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.after_commit: list[Callable[[], None]] = []

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` after a successful commit (e.g. wake the delivery worker)."""
        self.after_commit.append(callback)
