"""The database itself refuses bad ratings and events, whatever code writes them."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from server.db import Database
from server.models import Movie, Rating, RatingEvent, User


def test_database_refuses_out_of_range_ratings_and_bad_events(database: Database) -> None:
    with database.transaction() as session:
        session.add_all(
            [User(id=1, external_id="u", created_at=0), Movie(id=1, external_id="m", created_at=0)]
        )
    bad_rows = [
        Rating(user_id=1, movie_id=1, half_stars=11, created_at=0, updated_at=0),
        Rating(user_id=1, movie_id=1, half_stars=0, created_at=0, updated_at=0),
        RatingEvent(user_id=1, movie_id=1, kind="created", half_stars=None, created_at=0),
        RatingEvent(user_id=1, movie_id=1, kind="renamed", half_stars=4, created_at=0),
        Rating(user_id=1, movie_id=99, half_stars=4, created_at=0, updated_at=0),
    ]
    for row in bad_rows:
        with pytest.raises(IntegrityError), database.transaction() as session:
            session.add(row)
