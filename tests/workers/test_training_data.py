"""Training reads every rating into numpy without a Python object a rating: on PostgreSQL by
one binary COPY, on SQLite by one query; both give exactly the rows the database holds."""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt
from sqlalchemy import select

from server.db import Database
from server.models import Rating
from workers.training import load_training_table, rating_columns


def sorted_rows(columns: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    return columns[np.lexsort((columns[:, 1], columns[:, 0]))]


def test_rating_columns_are_the_stored_ratings(seeded: Database) -> None:
    with seeded.transaction() as session:
        read = rating_columns(session)
        rows = session.execute(
            select(Rating.user_id, Rating.movie_id, Rating.half_stars, Rating.updated_at)
        ).all()
        table = load_training_table(session)
    expected = np.fromiter(itertools.chain.from_iterable(rows), np.int64).reshape(-1, 4)
    assert read.dtype == np.int64 and read.shape == (4000, 4)
    np.testing.assert_array_equal(sorted_rows(read), sorted_rows(expected))
    assert set(np.unique(table.stars)) <= {h / 2 for h in range(1, 11)}
    assert len(table) == 4000


def test_no_ratings_read_as_an_empty_table(database: Database) -> None:
    with database.transaction() as session:
        assert rating_columns(session).shape == (0, 4)
