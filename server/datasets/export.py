"""Writing the database out in the MovieLens "latest" layout (``movies.csv``, ``ratings.csv``,
``links.csv``), plus ``feedback.csv`` (feedback besides stars: ``userId,movieId,type,timestamp``),
which ``movierec import`` reads back to the same catalogue, people, ratings and feedback. Tags
are not written: movierec keeps a movie's tags with their counts, not who gave them, and a
MovieLens tag row needs its person.

Rows are streamed in id order with ``yield_per``, so memory stays flat however large the
database. Files are written beside their final names and renamed once complete: an interrupted
export leaves no half file under a name an import would read.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db import Database
from server.models import Feedback, Genre, Movie, MovieGenre, Rating, User

# What MovieLens writes for a movie without genres.
NO_GENRES = "(no genres listed)"
BATCH = 10_000


@dataclass(frozen=True)
class Exported:
    """How many rows each file holds."""

    movies: int
    ratings: int
    links: int
    feedback: int


def export_dataset(database: Database, out_dir: Path) -> Exported:
    """Write every movie, rating and link to ``out_dir`` (created if missing)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with database.transaction() as session:
        movies, links = _write_movies(session, out_dir)
        ratings = _write(
            out_dir / "ratings.csv",
            ["userId", "movieId", "rating", "timestamp"],
            _ratings(session),
        )
        feedback = _write(
            out_dir / "feedback.csv",
            ["userId", "movieId", "type", "timestamp"],
            _feedback(session),
        )
    return Exported(movies, ratings, links, feedback)


def _write_movies(session: Session, out_dir: Path) -> tuple[int, int]:
    genres: dict[int, list[str]] = {}
    for movie_id, name in session.execute(
        select(MovieGenre.movie_id, Genre.name).join(Genre, Genre.id == MovieGenre.genre_id)
    ):
        genres.setdefault(movie_id, []).append(name)
    movie_rows: list[list[object]] = []
    link_rows: list[list[object]] = []
    for movie in session.scalars(
        select(Movie).order_by(Movie.id).execution_options(yield_per=BATCH)
    ):
        title = movie.title or ""
        if movie.year is not None:
            title = f"{title} ({movie.year})"
        names = sorted(genres.get(movie.id, []))
        movie_rows.append([movie.external_id, title, "|".join(names) or NO_GENRES])
        if movie.imdb_id or movie.tmdb_id is not None:
            imdb = (movie.imdb_id or "").removeprefix("tt")
            link_rows.append(
                [movie.external_id, imdb, "" if movie.tmdb_id is None else movie.tmdb_id]
            )
    written = _write(out_dir / "movies.csv", ["movieId", "title", "genres"], movie_rows)
    links = _write(out_dir / "links.csv", ["movieId", "imdbId", "tmdbId"], link_rows)
    return written, links


def _ratings(session: Session) -> Iterator[list[object]]:
    rows = session.execute(
        select(User.external_id, Movie.external_id, Rating.half_stars, Rating.updated_at)
        .join(User, User.id == Rating.user_id)
        .join(Movie, Movie.id == Rating.movie_id)
        .order_by(Rating.user_id, Rating.movie_id)
        .execution_options(yield_per=BATCH)
    )
    for user, movie, half_stars, updated_at in rows:
        yield [user, movie, f"{half_stars / 2:g}", updated_at]


def _feedback(session: Session) -> Iterator[list[object]]:
    rows = session.execute(
        select(User.external_id, Movie.external_id, Feedback.type, Feedback.created_at)
        .join(User, User.id == Feedback.user_id)
        .join(Movie, Movie.id == Feedback.movie_id)
        .order_by(Feedback.user_id, Feedback.movie_id, Feedback.type)
        .execution_options(yield_per=BATCH)
    )
    for user, movie, kind, created_at in rows:
        yield [user, movie, kind, created_at]


def _write(path: Path, header: list[str], rows: Iterator[list[object]] | list[list[object]]) -> int:
    """Write ``rows`` under ``header`` to ``path`` through a temporary name; the row count."""
    partial = path.with_name(path.name + ".partial")
    count = 0
    with partial.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            count += 1
    os.replace(partial, path)
    return count
