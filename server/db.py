"""Database access: one engine and session factory per process, shared by the web app, the
workers, the CLI and Alembic. Plain SQLAlchemy sessions (no Flask-SQLAlchemy), so nothing needs
an app context.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Insert, MetaData, Table, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from server.config import create_private_file

# Named constraints make migrations reviewable and let errors name the rule that was broken.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every model."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def now() -> int:
    """The current time as UTC Unix seconds, the unit of every timestamp column."""
    return int(time.time())


def iso(timestamp: int) -> str:
    """Unix seconds as an ISO 8601 UTC string."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


class Database:
    """An engine and its session factory. Creating one does not connect."""

    def __init__(self, url: str, echo: bool = False) -> None:
        self.engine = make_engine(url, echo=echo)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._sqlite_writer = threading.Lock()

    @contextmanager
    def transaction(self, writes: bool = False) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on any exception.

        ``writes`` marks a transaction that reads rows and then changes them. On SQLite it starts
        with the database's write lock (``BEGIN IMMEDIATE``): otherwise pysqlite runs the reads
        outside any transaction, and another writer can commit between a read and the write
        that depends on it. The threads of one process take turns first: SQLite's busy handler
        polls with growing sleeps, so many threads waiting on its lock leave it idle between
        writers. On PostgreSQL such transactions lock the rows they change instead.
        """
        if not (writes and self.dialect == "sqlite"):
            with self.sessions.begin() as session:
                yield session
            return
        with self._sqlite_writer, self.sessions.begin() as session:
            session.execute(_BEGIN_IMMEDIATE)
            yield session

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def dispose(self) -> None:
        """Close every pooled connection (before a fork, or at shutdown)."""
        self.engine.dispose()


_BEGIN_IMMEDIATE = text("BEGIN IMMEDIATE")


def make_engine(url: str, echo: bool = False) -> Engine:
    """Create an engine with the per-dialect settings this project relies on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            create_private_file(Path(parsed.database))
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30})
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    """Foreign keys on (SQLite's default is off), WAL so readers never block the writer."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def insert_ignoring_conflicts(table: Table, dialect: str) -> Insert:
    """``INSERT ... ON CONFLICT DO NOTHING`` for the given dialect (idempotent bulk loads)."""
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    raise NotImplementedError(f"unsupported database dialect {dialect!r}")
