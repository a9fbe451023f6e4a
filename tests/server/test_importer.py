"""Loading every format into the database: counts, idempotent re-runs, updates with events."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from server.datasets import Problems, open_dataset
from server.datasets.importer import import_dataset
from server.db import Database
from server.models import Movie, Rating, RatingEvent
from server.services.stats import database_counts
from tests.conftest import FIXTURES

EXPECTED = {  # users, movies, ratings after importing each fixture
    "ml-100k": (3, 3, 5),
    "ml-1m": (3, 3, 4),
    "ml-10m": (2, 2, 3),
    "ml-latest": (3, 4, 5),
    "kaggle": (2, 3, 3),
    "netflix": (2, 3, 4),
    "ml-100k/u1.base": (2, 2, 2),
}


def counts(database: Database) -> dict[str, int]:
    with database.transaction() as session:
        return database_counts(session)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_import_loads_everything_and_a_rerun_adds_nothing(database: Database, name: str) -> None:
    summary = import_dataset(database, open_dataset(FIXTURES / name, Problems()))
    users, movies, ratings = EXPECTED[name]
    first = counts(database)
    assert (first["users"], first["movies"], first["ratings"]) == (users, movies, ratings)
    assert first["events"] == ratings  # one 'created' event per rating
    assert summary.added["ratings"] == ratings
    again = import_dataset(database, open_dataset(FIXTURES / name, Problems()))
    assert counts(database) == first
    assert again.added == {"users": 0, "movies": 0, "ratings": 0, "events": 0}


def test_import_keeps_metadata_genres_and_tags(database: Database) -> None:
    import_dataset(database, open_dataset(FIXTURES / "ml-latest", Problems()))
    with database.transaction() as session:
        toy = session.scalars(select(Movie).where(Movie.external_id == "1")).one()
        assert (toy.title, toy.year, toy.imdb_id, toy.tmdb_id) == (
            "Toy Story",
            1995,
            "tt0114709",
            862,
        )
        assert [g.name for g in toy.genres] == [
            "Adventure",
            "Animation",
            "Children",
            "Comedy",
            "Fantasy",
        ]
        assert [(t.tag, t.count) for t in toy.tags] == [("pixar", 2)]


def test_changed_rating_is_updated_with_an_event(database: Database, tmp_path: Path) -> None:
    source = tmp_path / "ratings.csv"
    source.write_text("userId,movieId,rating,timestamp\n1,1,4.0,100\n1,2,3.0,100\n")
    import_dataset(database, open_dataset(source, Problems()))
    source.write_text("userId,movieId,rating,timestamp\n1,1,2.5,200\n1,2,3.0,200\n")
    summary = import_dataset(database, open_dataset(source, Problems()))
    assert summary.ratings_updated == 1
    with database.transaction() as session:
        values = sorted(session.execute(select(Rating.half_stars, Rating.updated_at)).all())
        kinds = session.scalars(select(RatingEvent.kind).order_by(RatingEvent.id)).all()
    assert [tuple(v) for v in values] == [(5, 200), (6, 100)]
    assert kinds == ["created", "created", "updated"]


def test_the_newest_duplicate_in_a_file_wins(database: Database, tmp_path: Path) -> None:
    source = tmp_path / "ratings.csv"
    source.write_text("userId,movieId,rating,timestamp\n1,1,5.0,300\n1,1,1.0,100\n")
    import_dataset(database, open_dataset(source, Problems()))
    with database.transaction() as session:
        assert session.scalars(select(Rating.half_stars)).all() == [10]
