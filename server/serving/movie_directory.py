"""What a list shows of each movie (its external id, title, year, genres and poster), read from
the database once per movie and kept: a cached answer then needs no database at all."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db import Database
from server.models import Genre, Movie, MovieGenre
from server.presentation import display_title


@dataclass(frozen=True)
class MovieRow:
    """What a list shows of a movie."""

    external_id: str
    title: str | None
    genres: frozenset[str]
    year: int | None = None
    poster_path: str | None = None
    tmdb_id: int | None = None
    imdb_id: str | None = None

    @property
    def display_title(self) -> str:
        """The title as people write it ("The Matrix"), or the id of a movie with no title."""
        return display_title(self.title) or self.external_id


class MovieDirectory:
    """Movie rows by internal id, fetched once and kept (a movie's title and genres don't
    change once imported)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._rows: dict[int, MovieRow] = {}
        self._genre_ids: dict[str, int] = {}
        self._genre_names: dict[int, str] = {}

    def rows(self, ids: list[int]) -> dict[int, MovieRow]:
        """The rows of ``ids`` (unknown ids are left out); the database is read only for movies
        not seen before."""
        missing = [movie for movie in ids if movie not in self._rows]
        if missing:
            with self.database.transaction() as session:
                self._fetch(session, missing)
        return {movie: self._rows[movie] for movie in ids if movie in self._rows}

    def every_genre(self) -> dict[int, frozenset[str]]:
        """Every movie's genres, in one query (for re-ranking's traits; not kept)."""
        genres: dict[int, set[str]] = {}
        with self.database.transaction() as session:
            for movie, name in session.execute(
                select(MovieGenre.movie_id, Genre.name).join(Genre, Genre.id == MovieGenre.genre_id)
            ):
                genres.setdefault(movie, set()).add(name)
        return {movie: frozenset(names) for movie, names in genres.items()}

    def genre_ids(self) -> dict[str, int]:
        """Every genre's id by name (kept; read again when a name is not known)."""
        if not self._genre_ids:
            self._read_genres()
        return dict(self._genre_ids)

    def genre_name(self, genre_id: int) -> str | None:
        """The name of a genre id (None for an id that does not exist)."""
        if genre_id not in self._genre_names:
            self._read_genres()
        return self._genre_names.get(genre_id)

    def _read_genres(self) -> None:
        with self.database.transaction() as session:
            rows = session.execute(select(Genre.id, Genre.name)).all()
        self._genre_ids = {name: genre for genre, name in rows}
        self._genre_names = {genre: name for genre, name in rows}

    def _fetch(self, session: Session, ids: list[int]) -> None:
        found = session.execute(
            select(
                Movie.id,
                Movie.external_id,
                Movie.title,
                Movie.year,
                Movie.poster_path,
                Movie.tmdb_id,
                Movie.imdb_id,
            ).where(Movie.id.in_(ids))
        ).all()
        genres: dict[int, set[str]] = {}
        for movie, name in session.execute(
            select(MovieGenre.movie_id, Genre.name)
            .join(Genre, Genre.id == MovieGenre.genre_id)
            .where(MovieGenre.movie_id.in_(ids))
        ):
            genres.setdefault(movie, set()).add(name)
        for movie, external_id, title, year, poster_path, tmdb_id, imdb_id in found:
            self._rows[movie] = MovieRow(
                external_id,
                title,
                frozenset(genres.get(movie, ())),
                year,
                poster_path,
                tmdb_id,
                imdb_id,
            )
