"""Bulk inserts for imports: one function, the fastest path of each database.

PostgreSQL: ``COPY`` into a temporary staging table, then one ``INSERT ... SELECT`` (with
``ON CONFLICT DO NOTHING`` and ``RETURNING`` when asked). Multi-row INSERT statements are several
times slower there: the driver rewrites every huge statement and each one is a round trip.
SQLite: ``executemany`` of an insert, which is already fast in-process.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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
