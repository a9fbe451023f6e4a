"""What a list shows of each movie (its external id, title and genres), read from the database
once per movie and kept: a cached answer then needs no database at all."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db import Database
from server.models import Genre, Movie, MovieGenre


@dataclass(frozen=True)
class MovieRow:
    """What a list shows of a movie."""

    external_id: str
    title: str | None
    genres: frozenset[str]


class MovieDirectory:
    """Movie rows by internal id, fetched once and kept (a movie's title and genres don't
    change once imported)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._rows: dict[int, MovieRow] = {}

    def rows(self, ids: list[int]) -> dict[int, MovieRow]:
        """The rows of ``ids`` (unknown ids are left out); the database is read only for movies
        not seen before."""
        missing = [movie for movie in ids if movie not in self._rows]
        if missing:
            with self.database.transaction() as session:
                self._fetch(session, missing)
        return {movie: self._rows[movie] for movie in ids if movie in self._rows}

    def _fetch(self, session: Session, ids: list[int]) -> None:
        found = session.execute(
            select(Movie.id, Movie.external_id, Movie.title).where(Movie.id.in_(ids))
        ).all()
        genres: dict[int, set[str]] = {}
        for movie, name in session.execute(
            select(MovieGenre.movie_id, Genre.name)
            .join(Genre, Genre.id == MovieGenre.genre_id)
            .where(MovieGenre.movie_id.in_(ids))
        ):
            genres.setdefault(movie, set()).add(name)
        for movie, external_id, title in found:
            self._rows[movie] = MovieRow(external_id, title, frozenset(genres.get(movie, ())))
