"""What a list shows of each movie (its external id, title, year, genres and poster), read from
the database and kept for ``ROW_LIFETIME_SECONDS``: a cached answer then needs no database at
all, and a movie changed since (a poster from ``movierec enrich``, a catalogue replaced by
``movierec import --replace``) shows as it is now within minutes.

A catalogue of up to ``HOLD_ALL_MOVIES`` movies is read whole, in one query, and held: with
60,000 movies and people whose lists reach past everyone else's, reading rows per movie on first
use meant a database read on almost every list read. A bigger catalogue is read per movie, as
lists ask for them."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Row, Select, func, select
from sqlalchemy.orm import Session

from server.db import Database
from server.errors import NotFound
from server.models import Genre, Movie, MovieGenre, Rating
from server.presentation import display_title

# How long a movie's row is used before it is read again. Rows change after the web processes
# read them (``movierec enrich`` fills posters and overviews, ``import --replace`` gives the ids
# other movies) and nothing tells the web processes; five minutes bounds how long a page shows the
# old row, while a busy process still reads each movie at most once in that time.
ROW_LIFETIME_SECONDS = 300.0
# Up to this many movies, the whole catalogue is read in one query and held (about 0.3 KB a
# movie in a web process: 20 MB at 60,000); past it, rows are read as lists ask for them.
HOLD_ALL_MOVIES = 200_000
# Ids per ``IN (...)`` query: below every backend's limit of bound parameters (SQLite's 32,766).
IDS_PER_QUERY = 10_000


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
    """Movie rows by internal id, read again once older than ``ROW_LIFETIME_SECONDS``.

    Every row is read at once while the catalogue has at most ``hold_all`` movies (read whole
    again once old or once the catalogue changed); a movie added since is read on its first use.
    The fast path stays a dictionary lookup per movie: fetch times are kept per batch read, in
    order, and only when the oldest batch is due (one comparison per call) are its movies marked
    stale, to be read again on their next use. A stale row is kept until then: a thread that
    found it fresh a moment before still gets it.
    """

    def __init__(
        self,
        database: Database,
        clock: Callable[[], float] = time.monotonic,
        hold_all: int = HOLD_ALL_MOVIES,
    ) -> None:
        self.database = database
        self.clock = clock
        self.hold_all = hold_all
        # When the whole catalogue was last read (or found too big to hold): -inf before then.
        self._whole_read_at = -math.inf
        self._rows: dict[int, MovieRow] = {}
        self._genre_ids: dict[str, int] = {}
        self._genre_names: dict[int, str] = {}
        self._batches: deque[tuple[float, list[int]]] = deque()  # (read at, movies), oldest first
        self._stale: set[int] = set()
        self._next_due = math.inf  # when the oldest batch becomes stale
        self._lock = threading.Lock()  # taken on the slow paths only
        # Ratings per movie (``min_rating_count``), with when each was counted: read only for
        # the movies a filter asks about, as rows are, and counted again after the same time.
        self._counts: dict[int, tuple[int, float]] = {}
        # The catalogue generation the rows were read at (``follow``).
        self._generation: bytes | None = None

    def rows(self, ids: list[int]) -> dict[int, MovieRow]:
        """The rows of ``ids`` (unknown ids are left out); the database is read only for movies
        not seen before or seen more than ``ROW_LIFETIME_SECONDS`` ago."""
        if self.clock() - self._whole_read_at >= ROW_LIFETIME_SECONDS:
            self._read_whole()
        if self.clock() >= self._next_due:
            self._mark_stale()
        stale = self._stale
        missing = [movie for movie in ids if movie not in self._rows or movie in stale]
        if missing:
            with self.database.transaction() as session:
                for start in range(0, len(missing), IDS_PER_QUERY):
                    self._fetch(session, missing[start : start + IDS_PER_QUERY])
        found = ((movie, self._rows.get(movie)) for movie in ids)
        return {movie: row for movie, row in found if row is not None}

    def follow(self, generation: bytes | None) -> None:
        """Read every row again on its next use once the catalogue's generation changed (a
        movie edited or deleted: ``server.serving.catalogue``), not only after
        ``ROW_LIFETIME_SECONDS``."""
        if generation == self._generation:
            return
        with self._lock:
            self._generation = generation
            self._stale.update(self._rows)
            self._whole_read_at = -math.inf  # held whole: read whole again

    def rating_counts(self, ids: list[int]) -> dict[int, int]:
        """How many people rated each of ``ids`` (0 for unknown ids), as counted in the database
        at most ``ROW_LIFETIME_SECONDS`` ago: a busy process counts each movie once in that time,
        so a filter by counts on a cached list costs no query once its movies were counted."""
        now = self.clock()
        due = now - ROW_LIFETIME_SECONDS
        counts = self._counts
        missing = [movie for movie in ids if counts.get(movie, (0, -math.inf))[1] <= due]
        if missing:
            with self.database.transaction() as session:
                for start in range(0, len(missing), IDS_PER_QUERY):
                    chunk = missing[start : start + IDS_PER_QUERY]
                    found = {
                        movie: int(count)
                        for movie, count in session.execute(
                            select(Rating.movie_id, func.count())
                            .where(Rating.movie_id.in_(chunk))
                            .group_by(Rating.movie_id)
                        )
                    }
                    for movie in chunk:
                        counts[movie] = (found.get(movie, 0), now)
        return {movie: counts[movie][0] for movie in ids if movie in counts}

    def _mark_stale(self) -> None:
        """Mark the movies of every batch read ``ROW_LIFETIME_SECONDS`` ago or more as stale."""
        with self._lock:
            due = self.clock() - ROW_LIFETIME_SECONDS
            while self._batches and self._batches[0][0] <= due:
                self._stale.update(self._batches.popleft()[1])
            self._next_due = (
                self._batches[0][0] + ROW_LIFETIME_SECONDS if self._batches else math.inf
            )

    def every_genre(self) -> dict[int, frozenset[str]]:
        """Every movie's genres, in one query (for re-ranking's traits; not kept)."""
        with self.database.transaction() as session:
            genres = _genres(session, _GENRES)
        return {movie: frozenset(names) for movie, names in genres.items()}

    def genre_ids(self) -> dict[str, int]:
        """Every genre's id by name (kept; read again when a name is not known)."""
        if not self._genre_ids:
            self._read_genres()
        return dict(self._genre_ids)

    def known_genre(self, name: str, field: str = "genre") -> str:
        """The genre called ``name`` (any case), as the catalogue writes it; ``NotFound``
        (naming the parameter ``field``) when there is none."""
        by_lower = {genre.lower(): genre for genre in self.genre_ids()}
        if name.lower() not in by_lower:
            self._read_genres()  # a genre imported since
            by_lower = {genre.lower(): genre for genre in self._genre_ids}
        try:
            return by_lower[name.lower()]
        except KeyError:
            raise NotFound(f"no genre {name!r}", code="genre_not_found", field=field) from None

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

    def _read_whole(self) -> None:
        """Read and hold every row when the catalogue has at most ``hold_all`` movies (one
        thread reads; the others wait for it); otherwise note when it was found too big, so
        that the next look is a lifetime later."""
        with self._lock:
            read_at = self.clock()
            if read_at - self._whole_read_at < ROW_LIFETIME_SECONDS:
                return  # another thread read it meanwhile
            with self.database.transaction() as session:
                count = session.scalar(select(func.count()).select_from(Movie)) or 0
                held = count <= self.hold_all
                if held:
                    found = session.execute(_ROWS).all()
                    genres = _genres(session, _GENRES)
            if held:
                self._rows = _movie_rows(found, genres)  # swapped whole: readers see one or other
                self._batches = deque([(read_at, list(self._rows))])
                self._stale = set()
                self._next_due = read_at + ROW_LIFETIME_SECONDS
            self._whole_read_at = read_at

    def _fetch(self, session: Session, ids: list[int]) -> None:
        read_at = self.clock()
        found = session.execute(_ROWS.where(Movie.id.in_(ids))).all()
        genres = _genres(session, _GENRES.where(MovieGenre.movie_id.in_(ids)))
        self._rows.update(_movie_rows(found, genres))
        with self._lock:
            for movie in set(ids) - {row[0] for row in found}:  # gone from the database
                self._rows.pop(movie, None)
            self._stale.difference_update(ids)
            self._batches.append((read_at, [row[0] for row in found]))
            self._next_due = min(self._next_due, read_at + ROW_LIFETIME_SECONDS)


# A movie's row as lists show it, and its genres' names.
_ROWS = select(
    Movie.id,
    Movie.external_id,
    Movie.title,
    Movie.year,
    Movie.poster_path,
    Movie.tmdb_id,
    Movie.imdb_id,
).order_by(Movie.id)
# id, external id, title, year, poster path, TMDB id, IMDb id
_Found = Row[int, str, str | None, int | None, str | None, int | None, str | None]
_GENRES = select(MovieGenre.movie_id, Genre.name).join(Genre, Genre.id == MovieGenre.genre_id)


def _genres(session: Session, query: Select[int, str]) -> dict[int, set[str]]:
    """The genres' names of each movie ``query`` gives (movie id, genre name) pairs for."""
    genres: dict[int, set[str]] = {}
    for movie, name in session.execute(query):
        genres.setdefault(movie, set()).add(name)
    return genres


def _movie_rows(found: Sequence[_Found], genres: dict[int, set[str]]) -> dict[int, MovieRow]:
    """``MovieRow``s of ``_ROWS``'s rows, by movie id."""
    return {
        movie: MovieRow(
            external_id,
            title,
            frozenset(genres.get(movie, ())),
            year,
            poster_path,
            tmdb_id,
            imdb_id,
        )
        for movie, external_id, title, year, poster_path, tmdb_id, imdb_id in found
    }
