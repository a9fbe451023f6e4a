"""Bulk inserts for imports, one function with the fastest path of each database, and the
bulk read of integer columns into numpy that training uses (``copy_out``, PostgreSQL).

PostgreSQL: ``COPY`` into a temporary staging table, then one ``INSERT ... SELECT`` (with
``ON CONFLICT DO NOTHING`` and ``RETURNING`` when asked). Multi-row INSERT statements are several
times slower there: the driver rewrites every huge statement and each one is a round trip.
SQLite: ``executemany`` of an insert, which is already fast in-process.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg import sql
from sqlalchemy import Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from server.db import insert_ignoring_conflicts


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


# PostgreSQL's binary COPY: an 11-byte signature, a flags word and a header extension length
# before the first row; a row count of -1 after the last.
_COPY_HEADER = 19
_COPY_TRAILER = 2


def copy_out(
    session: Session, columns: Sequence[str], table: str, width: int
) -> npt.NDArray[np.int64]:
    """Every row of ``table``'s ``columns`` (integers) as an n x ``width`` int64 array, read by
    one binary ``COPY ... TO STDOUT`` (PostgreSQL): each value arrives as 8 big-endian bytes
    after its length, so numpy reads the whole stream as one structured array, with no Python
    object per row. Millions of rows a second, where fetching rows manages a few hundred
    thousand."""
    if len(columns) != width:
        raise ValueError(f"{width} columns wanted, {len(columns)} named")
    names = sql.SQL(", ").join(
        sql.SQL("{}::int8").format(sql.Identifier(column)) for column in columns
    )
    statement = sql.SQL("COPY (SELECT {c} FROM {t}) TO STDOUT (FORMAT BINARY)").format(
        c=names, t=sql.Identifier(table)
    )
    buffer = bytearray()
    cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor, cursor.copy(statement) as copy:
        for chunk in copy:
            buffer += chunk
    row = np.dtype(
        [("fields", ">i2")] + [(f"f{i}", [("size", ">i4"), ("value", ">i8")]) for i in range(width)]
    )
    body = memoryview(buffer)[_COPY_HEADER : len(buffer) - _COPY_TRAILER]
    records = np.frombuffer(body, dtype=row)
    if len(records) and (
        (records["fields"] != width).any()
        or any((records[f"f{i}"]["size"] != 8).any() for i in range(width))
    ):
        raise ValueError(f"COPY of {table} sent a NULL or a value that is not 8 bytes")
    return np.column_stack([records[f"f{i}"]["value"].astype(np.int64) for i in range(width)])
