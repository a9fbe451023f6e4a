"""Bulk writes for imports, each with the fastest path of each database, and the bulk read of
integer columns into numpy that training uses (``packed_columns``, PostgreSQL).

PostgreSQL: ``COPY`` into a temporary staging table, then one ``INSERT ... SELECT`` (with
``ON CONFLICT`` and ``RETURNING`` when asked). Multi-row INSERT statements are several
times slower there: the driver rewrites every huge statement and each one is a round trip.
Ratings, the bulk of any dataset, arrive as numpy columns and are copied in PostgreSQL's
binary format, built by numpy in one piece (no Python per row).
SQLite: ``executemany``, which is already fast in-process.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg import sql
from sqlalchemy import BigInteger, Integer, SmallInteger, Table, delete, exists, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.schema import AddConstraint, CreateIndex

from server.db import Database, insert_ignoring_conflicts
from server.models import Rating

log = logging.getLogger(__name__)


def bulk_insert(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    ignore_conflicts: bool = False,
    returning: Sequence[str] = (),
) -> list[tuple[Any, ...]]:
    """Insert ``rows`` (dicts with the same keys) into ``table``.

    Returns the ``returning`` columns of the rows really inserted (none when not asked).
    """
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        try:
            return _copy_insert(session, table, rows, ignore_conflicts, returning)
        except psycopg.Error as error:  # raised by the driver's own cursor: wrap it as SQLAlchemy
            # does for its statements, so callers handle one kind of database error
            raise DBAPIError.instance(
                f"COPY into {table.name}", None, error, psycopg.Error, hide_parameters=True
            ) from error
    statement = insert_ignoring_conflicts(table, dialect) if ignore_conflicts else table.insert()
    if returning:
        result = session.execute(statement.returning(*(table.c[c] for c in returning)), rows)
        return [tuple(row) for row in result]
    session.execute(statement, list(rows))
    return []


def _copy_insert(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    ignore_conflicts: bool,
    returning: Sequence[str],
) -> list[tuple[Any, ...]]:
    columns = list(rows[0])
    target = sql.Identifier(table.name)
    staging = sql.Identifier(f"staging_{table.name}")
    names = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor:
        # Column types only, no constraints: the target table checks every row on INSERT.
        cursor.execute(
            sql.SQL(
                "CREATE TEMP TABLE IF NOT EXISTS {s} ON COMMIT DROP "
                "AS SELECT {c} FROM {t} WITH NO DATA"
            ).format(s=staging, c=names, t=target)
        )
        cursor.execute(sql.SQL("TRUNCATE {s}").format(s=staging))
        with cursor.copy(sql.SQL("COPY {s} ({c}) FROM STDIN").format(s=staging, c=names)) as copy:
            for row in rows:
                copy.write_row([row[c] for c in columns])
        statement = sql.SQL("INSERT INTO {t} ({c}) SELECT {c} FROM {s}").format(
            t=target, c=names, s=staging
        )
        if ignore_conflicts:
            statement += sql.SQL(" ON CONFLICT DO NOTHING")
        if returning:
            statement += sql.SQL(" RETURNING ") + sql.SQL(", ").join(map(sql.Identifier, returning))
        cursor.execute(statement)
        return [tuple(row) for row in cursor.fetchall()] if returning else []


# The upsert of a chunk of ratings: a new pair is inserted, a pair whose stars changed updated,
# an unchanged one left alone (so a re-import writes nothing).
_UPSERT_RATINGS = (
    "INSERT INTO ratings (user_id, movie_id, half_stars, created_at, updated_at) {source} "
    "ON CONFLICT (user_id, movie_id) DO UPDATE "
    "SET half_stars = excluded.half_stars, updated_at = excluded.updated_at "
    "WHERE ratings.half_stars <> excluded.half_stars"
)
# The staging table's columns, their PostgreSQL types and numpy's big-endian binary forms.
_RATING_COLUMNS = (
    ("user_id", "integer", ">i4"),
    ("movie_id", "integer", ">i4"),
    ("half_stars", "smallint", ">i2"),
    ("created_at", "bigint", ">i8"),
    ("updated_at", "bigint", ">i8"),
)


def upsert_ratings(
    session: Session,
    users: npt.NDArray[np.integer[Any]],
    movies: npt.NDArray[np.integer[Any]],
    half_stars: npt.NDArray[np.integer[Any]],
    timestamps: npt.NDArray[np.integer[Any]],
) -> int:
    """Write ratings (one per user and movie pair, internal ids): new pairs inserted, changed
    stars updated (``updated_at`` the given time), the rest untouched. Returns the pairs
    written, new or changed."""
    if not len(users):
        return 0
    values = (users, movies, half_stars, timestamps, timestamps)
    if session.get_bind().dialect.name != "postgresql":
        rows = list(zip(*(column.tolist() for column in values), strict=True))
        statement = _UPSERT_RATINGS.format(source="VALUES (?, ?, ?, ?, ?)")
        return int(session.connection().exec_driver_sql(statement, rows).rowcount)
    try:
        return _copy_upsert_ratings(session, values)
    except psycopg.Error as error:
        raise DBAPIError.instance(
            "COPY into ratings", None, error, psycopg.Error, hide_parameters=True
        ) from error


def _copy_upsert_ratings(session: Session, values: tuple[npt.NDArray[Any], ...]) -> int:
    staging = ", ".join(f"{name} {kind}" for name, kind, _ in _RATING_COLUMNS)
    cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS staging_rating_columns ({staging}) ON COMMIT DROP"
        )
        cursor.execute("TRUNCATE staging_rating_columns")
        with cursor.copy("COPY staging_rating_columns FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(_binary_copy(values, [binary for _, _, binary in _RATING_COLUMNS]))
        # In key order: the primary key's pages are then visited once each, in order.
        source = "SELECT * FROM staging_rating_columns ORDER BY user_id, movie_id"
        cursor.execute(_UPSERT_RATINGS.format(source=source))
        return int(cursor.rowcount)


# PostgreSQL's binary COPY: a signature, flags and header extension, tuples, a -1 trailer.
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
_COPY_TRAILER = (-1).to_bytes(2, "big", signed=True)


def _binary_copy(columns: Sequence[npt.NDArray[Any]], types: Sequence[str]) -> bytes:
    """``columns`` (no NULLs) as one binary COPY stream: each tuple is its field count, then
    each field's length and big-endian value, which a numpy structured array lays out."""
    fields: list[tuple[str, str]] = [("count", ">i2")]
    for index, kind in enumerate(types):
        fields += [(f"length{index}", ">i4"), (f"value{index}", kind)]
    tuples = np.empty(len(columns[0]), dtype=np.dtype(fields))
    tuples["count"] = len(columns)
    for index, (column, kind) in enumerate(zip(columns, types, strict=True)):
        tuples[f"length{index}"] = np.dtype(kind).itemsize
        tuples[f"value{index}"] = column
    return _COPY_HEADER + tuples.tobytes() + _COPY_TRAILER


# How long dropping the checks may wait for a lock (a long transaction reading ratings): past
# it, the import loads with the checks in place instead of making the site's writes queue.
_LOCK_TIMEOUT = "2s"


@contextmanager
def first_load(database: Database) -> Iterator[bool]:
    """While the first ratings are loaded into an empty ``ratings`` table on PostgreSQL, its
    foreign keys and secondary indexes are dropped, then made again over the loaded rows, as
    ``pg_restore`` does: a key checked and an index entry added row by row is most of a bulk
    insert's time, and building them in one pass afterwards takes seconds.

    The primary key stays, so the site's own ratings meanwhile conflict as they should. After
    the load (or a failure), ``restore_rating_checks`` builds the index concurrently (writes go
    on), deletes ratings whose person or movie went meanwhile, and adds the keys. Yields
    whether the checks were dropped; any other database loads with them in place."""
    dropped = database.dialect == "postgresql" and _drop_rating_checks(database)
    try:
        yield dropped
    finally:
        if dropped:
            restore_rating_checks(database)


def _drop_rating_checks(database: Database) -> bool:
    with database.transaction() as session:
        session.execute(text(f"SET LOCAL lock_timeout = '{_LOCK_TIMEOUT}'"))
        try:
            session.execute(text("LOCK TABLE ratings IN ACCESS EXCLUSIVE MODE"))
        except OperationalError:
            log.info("ratings are in use: the import keeps their checks")
            return False
        if session.execute(text("SELECT 1 FROM ratings LIMIT 1")).first() is not None:
            return False
        for constraint in _rating_foreign_keys():
            session.execute(text(f"ALTER TABLE ratings DROP CONSTRAINT IF EXISTS {constraint}"))
        for index in _rating_indexes():
            session.execute(text(f"DROP INDEX IF EXISTS {index}"))
    log.info("an empty ratings table: its keys and indexes are made after the load")
    return True


def restore_rating_checks(database: Database) -> None:
    """Make every foreign key and index of ``ratings`` that the database lacks (PostgreSQL;
    idempotent): an import that died while loading left them dropped, and the next import (or
    this call) puts them back."""
    if database.dialect != "postgresql":
        return
    table: Table = Rating.__table__  # type: ignore[assignment]
    dialect = database.engine.dialect
    with database.engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        for index in table.indexes:
            valid = connection.execute(
                text(
                    "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                    "WHERE c.relname = :name"
                ),
                {"name": index.name},
            ).scalar()
            if valid:
                continue
            if valid is not None:  # a concurrent build that failed leaves an invalid index
                connection.execute(text(f"DROP INDEX IF EXISTS {index.name}"))
            create = str(CreateIndex(index).compile(dialect=dialect))
            # Concurrently: the site's ratings are written while the index is built.
            connection.execute(text(create.replace("CREATE INDEX", "CREATE INDEX CONCURRENTLY", 1)))
    for constraint in table.foreign_key_constraints:
        with database.transaction() as session:
            present = session.execute(
                text("SELECT 1 FROM pg_constraint WHERE conname = :name"),
                {"name": constraint.name},
            ).first()
            if present:
                continue
            (element,) = constraint.elements
            # Ratings of a person or movie deleted while the key was away: the cascade would
            # have taken them. From the key on, deletes cascade again.
            orphan = ~exists().where(element.column == element.parent)
            session.execute(delete(table).where(orphan))
            added = str(AddConstraint(constraint).compile(dialect=dialect))
            session.execute(text(added + " NOT VALID"))
        # Validated apart: it reads every rating but lets the site write meanwhile.
        with database.transaction() as session:
            session.execute(text(f"ALTER TABLE ratings VALIDATE CONSTRAINT {constraint.name}"))


def _rating_foreign_keys() -> list[str]:
    table: Table = Rating.__table__  # type: ignore[assignment]
    return [str(constraint.name) for constraint in table.foreign_key_constraints]


def _rating_indexes() -> list[str]:
    table: Table = Rating.__table__  # type: ignore[assignment]
    return [str(index.name) for index in table.indexes]


# Each integer type's binary send function and its numpy (big-endian) type.
_SENDS = {2: ("int2send", ">i2"), 4: ("int4send", ">i4"), 8: ("int8send", ">i8")}
# A bytea is at most 1 GB: each query packs at most about this many bytes.
_PACKED_BYTES = 256 << 20


# The tables an import writes, whose planner statistics it refreshes.
IMPORTED_TABLES = ("users", "genres", "movies", "movie_genres", "movie_tags", "ratings", "feedback")


def refresh_statistics(database: Database) -> None:
    """``ANALYZE`` the tables an import wrote (PostgreSQL; a sample of each, seconds at 25M
    ratings). Without it the planner knows nothing of millions of rows just loaded until
    autovacuum comes round, and plans a scan of every rating for a shard's ``user_id IN (...)``
    (1.1 s a query at 25M, against 0.27 s through the primary key)."""
    if database.dialect != "postgresql":
        return
    with database.engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        connection.execute(text("ANALYZE " + ", ".join(IMPORTED_TABLES)))


def packed_columns(
    session: Session, table: Table, columns: Sequence[str]
) -> list[npt.NDArray[np.int64]]:
    """Every row of ``table``'s integer ``columns``, one int64 array a column (PostgreSQL). The
    database packs the rows into one ``bytea`` a query (``string_agg`` of each value's binary
    form), which numpy reads as one structured array: a few million rows a second, where
    fetching rows, or a COPY read message by message, manages well under one. Queries cover
    ranges of the first column, each small enough for a ``bytea``; each one's rows are copied
    into one array as they come, so the packed rows are held once (25M ratings: 450 MB)."""
    packed, row = _packing(table, columns)
    first = sql.Identifier(columns[0])
    name = sql.Identifier(table.name)
    cursor = session.connection().connection.driver_connection.cursor(binary=True)  # type: ignore[union-attr]
    with cursor:
        cursor.execute(
            sql.SQL("SELECT count(*), min({f}), max({f}) FROM {t}").format(f=first, t=name)
        )
        count, low, high = cursor.fetchone()
        records = np.empty(count or 0, dtype=row)
        filled = 0
        if count:
            parts = max(1, -(-count * row.itemsize // _PACKED_BYTES))
            bounds = np.linspace(low, high + 1, parts + 1).round().astype(np.int64)
            query = sql.SQL(
                "SELECT string_agg({p}, ''::bytea) FROM {t} WHERE {f} >= %s AND {f} < %s"
            ).format(p=packed, t=name, f=first)
            for start, end in itertools.pairwise(bounds.tolist()):
                cursor.execute(query, (start, end))
                part = np.frombuffer(cursor.fetchone()[0] or b"", dtype=row)
                if filled + len(part) > len(records):  # rows written since the count
                    records = np.concatenate([records[:filled], np.empty(len(part), row)])
                records[filled : filled + len(part)] = part
                filled += len(part)
    return [records[column][:filled].astype(np.int64) for column in columns]


def packed_rows(
    session: Session, table: Table, columns: Sequence[str], key: str, keys: Sequence[int]
) -> list[npt.NDArray[np.int64]]:
    """The integer ``columns`` of ``table``'s rows whose ``key`` is one of ``keys``, one int64
    array a column, packed by the database as ``packed_columns`` does (PostgreSQL; ``keys``
    few enough for one ``bytea``): a shard's people's ratings without a Python row each."""
    packed, row = _packing(table, columns)
    query = sql.SQL("SELECT string_agg({p}, ''::bytea) FROM {t} WHERE {k} = ANY(%s)").format(
        p=packed, t=sql.Identifier(table.name), k=sql.Identifier(key)
    )
    cursor = session.connection().connection.driver_connection.cursor(binary=True)  # type: ignore[union-attr]
    with cursor:
        cursor.execute(query, (list(keys),))
        records = np.frombuffer(cursor.fetchone()[0] or b"", dtype=row)
    return [records[column].astype(np.int64) for column in columns]


def _packing(table: Table, columns: Sequence[str]) -> tuple[sql.Composed, np.dtype[np.void]]:
    """The SQL expression of a row of ``columns`` in binary, and numpy's type of that row."""
    types = [(column, _SENDS[_width(table, column)]) for column in columns]
    packed = sql.SQL(" || ").join(
        sql.SQL("{}({})").format(sql.SQL(send), sql.Identifier(column))
        for column, (send, _) in types
    )
    return packed, np.dtype([(column, dtype) for column, (_, dtype) in types])


def _width(table: Table, column: str) -> int:
    """The bytes of an integer column (2, 4 or 8)."""
    kind = table.c[column].type
    if isinstance(kind, SmallInteger):
        return 2
    if isinstance(kind, BigInteger):
        return 8
    if isinstance(kind, Integer):
        return 4
    raise TypeError(f"{table.name}.{column} is not an integer column")
