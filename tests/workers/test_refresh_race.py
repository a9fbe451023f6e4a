"""A slow refresh must not undo a newer one: two tasks refreshing one person's lists, the first
having read the person's data before a change the second saw, leave the second's lists (a
refused movie stays out). The slow task is a refresh reading a snapshot taken before the
change, run after the change was folded in."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from server.db import Database
from server.models import Rating, RatingEvent, User
from tests.workers.test_feedback_pipeline import give, movies_of
from tests.workers.test_pipeline import recommended
from workers.context import WorkerContext
from workers.events import process_events
from workers.precompute import refresh_users


@contextmanager
def snapshot_before(database: Database) -> Iterator[Session]:
    """A session whose reads all see the database as it is now, whatever commits later."""
    with database.sessions() as session:
        if database.dialect == "sqlite":
            session.execute(text("BEGIN"))  # WAL: the first read pins the snapshot
        else:
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        session.scalar(select(func.count()).select_from(Rating))
        yield session
        session.rollback()


def user_id(database: Database, external_id: str) -> int:
    with database.transaction() as session:
        return int(session.scalar(select(User.id).where(User.external_id == external_id)) or 0)


def waiting_events(database: Database) -> list[int]:
    with database.transaction() as session:
        query = select(RatingEvent.id).where(RatingEvent.processed_at.is_(None))
        return list(session.scalars(query))


def test_a_refresh_that_read_before_a_change_does_not_overwrite_the_one_after(
    seeded: Database, train: Callable[..., Any], context: WorkerContext, api: FlaskClient
) -> None:
    train("als", "content")
    refused = movies_of(recommended(api, "1"))[0]
    person = user_id(seeded, "1")
    with snapshot_before(seeded) as stale:
        assert give(api, "1", refused, "not_interested") == 201
        assert process_events(context, waiting_events(seeded)) == 1
        assert refused not in movies_of(recommended(api, "1"))
        refresh_users(context, stale, [person])  # the slow task writes last
    answer = recommended(api, "1")
    assert answer["cached"] and refused not in movies_of(answer)
