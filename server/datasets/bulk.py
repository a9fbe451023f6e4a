"""Bulk inserts for imports, one function with the fastest path of each database, and the
bulk read of integer columns into numpy that training uses (``packed_columns``, PostgreSQL).

PostgreSQL: ``COPY`` into a temporary staging table, then one ``INSERT ... SELECT`` (with
``ON CONFLICT DO NOTHING`` and ``RETURNING`` when asked). Multi-row INSERT statements are several
times slower there: the driver rewrites every huge statement and each one is a round trip.
SQLite: ``executemany`` of an insert, which is already fast in-process.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg import sql
from sqlalchemy import BigInteger, Integer, SmallInteger, Table
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


# Each integer type's binary send function and its numpy (big-endian) type.
_SENDS = {2: ("int2send", ">i2"), 4: ("int4send", ">i4"), 8: ("int8send", ">i8")}
# A bytea is at most 1 GB: each query packs at most about this many bytes.
_PACKED_BYTES = 256 << 20


def packed_columns(session: Session, table: Table, columns: Sequence[str]) -> npt.NDArray[np.int64]:
    """Every row of ``table``'s integer ``columns`` as an n x len(columns) int64 array
    (PostgreSQL). The database packs the rows into one ``bytea`` a query (``string_agg`` of each
    value's binary form), which numpy reads as one structured array: a few million rows a
    second, where fetching rows, or a COPY read message by message, manages well under one.
    Queries cover ranges of the first column, each small enough for a ``bytea``."""
    types = [(column, _SENDS[_width(table, column)]) for column in columns]
    packed = sql.SQL(" || ").join(
        sql.SQL("{}({})").format(sql.SQL(send), sql.Identifier(column))
        for column, (send, _) in types
    )
    row = np.dtype([(column, dtype) for column, (_, dtype) in types])
    first = sql.Identifier(columns[0])
    name = sql.Identifier(table.name)
    cursor = session.connection().connection.driver_connection.cursor(binary=True)  # type: ignore[union-attr]
    with cursor:
        cursor.execute(
            sql.SQL("SELECT count(*), min({f}), max({f}) FROM {t}").format(f=first, t=name)
        )
        count, low, high = cursor.fetchone()
        if not count:
            return np.empty((0, len(columns)), np.int64)
        parts = max(1, -(-count * row.itemsize // _PACKED_BYTES))
        bounds = np.linspace(low, high + 1, parts + 1).round().astype(np.int64)
        query = sql.SQL(
            "SELECT string_agg({p}, ''::bytea) FROM {t} WHERE {f} >= %s AND {f} < %s"
        ).format(p=packed, t=name, f=first)
        chunks = []
        for start, end in itertools.pairwise(bounds.tolist()):
            cursor.execute(query, (start, end))
            blob = cursor.fetchone()[0]
            if blob:
                chunks.append(np.frombuffer(blob, dtype=row))
    records = np.concatenate(chunks)
    return np.column_stack([records[column].astype(np.int64) for column in columns])


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
