"""Training reads every rating into numpy without a Python object a rating: on PostgreSQL packed
by the database (in pieces small enough for a bytea), on SQLite by one query; both give exactly
the rows the database holds."""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt
import pytest
from sqlalchemy import select

from server.datasets import bulk
from server.db import Database
from server.models import Rating
from server.services import ratings
from workers.training import load_training_table, rating_columns


def sorted_rows(columns: list[npt.NDArray[np.int64]]) -> npt.NDArray[np.int64]:
    """The columns as rows (user, movie, half stars, updated at), by user and movie."""
    assert all(column.dtype == np.int64 for column in columns)
    rows = np.column_stack(columns)
    return rows[np.lexsort((rows[:, 1], rows[:, 0]))]


def test_rating_columns_are_the_stored_ratings(seeded: Database) -> None:
    with seeded.transaction() as session:
        read = rating_columns(session)
        rows = session.execute(
            select(Rating.user_id, Rating.movie_id, Rating.half_stars, Rating.updated_at)
        ).all()
        table = load_training_table(session)
    expected = np.fromiter(itertools.chain.from_iterable(rows), np.int64).reshape(-1, 4)
    assert [len(column) for column in read] == [4000] * 4
    np.testing.assert_array_equal(sorted_rows(read), sorted_rows(list(expected.T)))
    assert set(np.unique(table.stars)) <= {h / 2 for h in range(1, 11)}
    assert len(table) == 4000


def test_no_ratings_read_as_an_empty_table(database: Database) -> None:
    with database.transaction() as session:
        assert [len(column) for column in rating_columns(session)] == [0] * 4


def test_ratings_packed_in_many_pieces_are_read_whole(
    seeded: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    if seeded.engine.dialect.name != "postgresql":
        pytest.skip("the database packs rows on PostgreSQL only (SQLite is read by one query)")
    with seeded.transaction() as session:
        whole = rating_columns(session)
        monkeypatch.setattr(bulk, "_PACKED_BYTES", 4096)  # about 220 ratings a query
        pieces = rating_columns(session)
    np.testing.assert_array_equal(sorted_rows(pieces), sorted_rows(whole))


def test_a_shards_ratings_are_each_persons_stored_ratings_by_movie(
    seeded: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ratings, "PEOPLE_A_QUERY", 7)  # several queries for the shard
    with seeded.transaction() as session:
        rows = session.execute(select(Rating.user_id, Rating.movie_id, Rating.half_stars)).all()
        people = sorted({user for user, _, _ in rows})
        asked = [*people[::2], 10**6]  # every other person, and one nobody is
        read = ratings.ratings_by_user(session, asked)
        assert ratings.ratings_by_user(session, []) == {}
    expected: dict[int, list[tuple[int, float]]] = {}
    for user, movie, half_stars in sorted(rows):
        expected.setdefault(user, []).append((movie, half_stars / 2))
    assert sorted(read) == people[::2]
    for user, rated in read.items():
        assert list(zip(rated.movies.tolist(), rated.stars.tolist(), strict=True)) == expected[user]
        assert rated.movies.dtype == np.int64 and rated.stars.dtype == np.float32
