"""Load a dataset reader's records into the database, in bulk and idempotently.

Set-based, chunked writes (one statement for many rows, not one ORM object per row; ratings
read and written as numpy columns). A re-run adds nothing: existing movies, users, genres and
tags are kept, a rating that did not change is left alone, and a rating whose value changed is
updated. An import that changed anything writes one event to the outbox at its end, not one per
rating (``mark_imported``): a million ratings are new data for a retrain, not a million
people's lists to refresh one by one.

All or nothing: the whole dataset is read once before the first write (``check_dataset``), so a
file that cannot be read (another encoding, broken quoting) stops the import before it changes
anything; malformed rows are skipped and every value is one the database columns hold. Chunks
rather than one transaction keep the site taking ratings meanwhile (SQLite has one writer) and
the database's undo log small; so what stops the writing itself (the database gone, a full disk,
a killed process) leaves whole chunks behind, and the same import run again resumes exactly:
being idempotent, it writes only what is missing.

Never two catalogues in one: before anything is read in full, the dataset's movie ids are
compared with the stored ones (``check_catalogue``); when many of them name other titles the import
stops (``CatalogueConflict``) and says how to replace the catalogue instead (``clear_catalogue``,
run by ``movierec import --replace``).
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, replace
from itertools import islice
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt
from sqlalchemy import CursorResult, Table, delete, exists, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from server.datasets.bulk import (
    bulk_insert,
    first_load,
    refresh_statistics,
    restore_rating_checks,
    upsert_ratings,
)
from server.datasets.columns import RatingColumns, rating_columns
from server.datasets.records import (
    DatasetError,
    DatasetReader,
    FeedbackRecord,
    MovieRecord,
    TagRecord,
)
from server.db import Database, now
from server.models import (
    IMPORT_EVENT,
    TRAINED_STATUSES,
    Account,
    ChampionSet,
    Feedback,
    Genre,
    ModelStatus,
    ModelVersion,
    Movie,
    MovieGenre,
    MovieTag,
    Rating,
    RatingEvent,
    User,
    UserGenre,
)
from server.presentation import clean_poster_path
from server.services.stats import database_counts

T = TypeVar("T")

RATINGS_CHUNK = 50_000
BIG_RATINGS_CHUNK = 250_000
# Below this, the keys and indexes of an empty ratings table are not worth making again.
FIRST_LOAD_MIN_RATINGS = 200_000
ROWS_CHUNK = 5_000
# SQLite allows 32,766 bound parameters per statement; stay well below for IN lists.
IN_LIST_CHUNK = 10_000
# The widths of the text columns a dataset fills (server/models.py).
TITLE_LENGTH, IMDB_ID_LENGTH, GENRE_LENGTH, TAG_LENGTH = 500, 16, 64, 255


@dataclass(frozen=True)
class ImportSummary:
    """What an import changed, and how long it took."""

    format: str
    added: dict[str, int]
    ratings_updated: int
    problems: int
    seconds: float


def import_dataset(
    database: Database,
    reader: DatasetReader,
    progress: Callable[[int], None] | None = None,
    checking: Callable[[int], None] | None = None,
    replace: Callable[[], object] | None = None,
) -> ImportSummary:
    """Check the whole dataset (``DatasetError`` before any write when a file cannot be read),
    then load its movies, tags and ratings. ``checking`` and ``progress`` are told the size of
    each chunk of ratings read by the check and written by the load.

    Without ``replace``, a dataset whose movie ids name other movies in the database is refused
    (``CatalogueConflict``) before anything is read in full; with it, ``replace()`` runs once the
    dataset is known to be readable, before the first write (it empties the catalogue).
    """
    started = time.perf_counter()
    if replace is None:
        check_catalogue(database, reader.reopened())
    checked = check_dataset(reader, checking)
    writing = reader.reopened()  # its problems were reported by the check
    if replace is not None:
        replace()
    with database.transaction() as session:
        before = database_counts(session)
    loader = _Loader(database, progress or (lambda _n: None))
    loader.load_movies(writing.movies())
    loader.load_tags(writing.tags())
    loader.load_people_and_movies(checked.users, checked.movies)
    restore_rating_checks(database)  # what an import that died while loading left dropped
    with first_load(database) if checked.ratings >= FIRST_LOAD_MIN_RATINGS else nullcontext():
        written = loader.load_ratings(rating_columns(writing, ratings_chunk(database)))
    loader.load_feedback(writing.feedback())
    refresh_statistics(database)
    with database.transaction() as session:
        if database_counts(session) != before or written:
            mark_imported(session)
        after = database_counts(session)
    counted = ("users", "movies", "ratings", "feedback", "events")
    added = {key: after[key] - before[key] for key in counted}
    return ImportSummary(
        reader.format_name,
        added,
        max(0, written - added["ratings"]),
        reader.problems.count,
        time.perf_counter() - started,
    )


def rating_writers(database: Database) -> int:
    """Chunks of ratings written at once: one on SQLite (one writer), one a core on
    PostgreSQL, whose time goes to its indexes and key checks, a core a connection."""
    return 1 if database.dialect == "sqlite" else max(1, min(4, os.cpu_count() or 1))


def ratings_chunk(database: Database) -> int:
    """Ratings per transaction: SQLite has one writer, which live ratings wait for; PostgreSQL
    goes faster with bigger statements and keeps taking ratings meanwhile."""
    return RATINGS_CHUNK if database.dialect == "sqlite" else BIG_RATINGS_CHUNK


def mark_imported(session: Session) -> None:
    """The import's one event: the data changed (so the next retrain trains, and the relay asks
    for one); born processed, it refreshes no one: the retrain's precompute does, once."""
    stamp = now()
    session.add(RatingEvent(kind=IMPORT_EVENT, created_at=stamp, processed_at=stamp))


@dataclass(frozen=True)
class CheckedDataset:
    """What reading a whole dataset found: its ratings and the ids they name."""

    ratings: int
    users: set[str]
    movies: set[str]


def check_dataset(
    reader: DatasetReader, progress: Callable[[int], None] | None = None
) -> CheckedDataset:
    """Read every record the import would write, writing nothing.

    Raises ``DatasetError`` for a file that cannot be read; malformed rows go to the reader's
    problem log. ``progress`` is told the size of each chunk of ratings read.
    """
    deque(reader.movies(), maxlen=0)
    deque(reader.tags(), maxlen=0)
    deque(reader.feedback(), maxlen=0)
    checked = CheckedDataset(0, set(), set())
    count = 0
    for chunk in rating_columns(reader, BIG_RATINGS_CHUNK):
        count += len(chunk)
        checked.users.update(chunk.distinct_users())
        checked.movies.update(chunk.distinct_movies())
        if progress is not None:
            progress(len(chunk))
    return replace(checked, ratings=count)


# A re-import of the same dataset may differ in a few titles (a later release corrects some);
# two different catalogues differ in most. Above this share of the shared ids, it is a merge.
MERGE_TOLERANCE = 0.05
CONFLICT_EXAMPLES = 2


class CatalogueConflict(DatasetError):
    """The dataset's movie ids belong to other movies in the database: importing would merge two
    catalogues."""


def check_catalogue(database: Database, reader: DatasetReader) -> None:
    """``CatalogueConflict`` when more than ``MERGE_TOLERANCE`` of the movie ids the dataset
    shares with the database have another title there (titles compared normalised; a movie
    known by id alone has none and never conflicts). Reads only the dataset's catalogue."""
    incoming = {
        movie.external_id: title
        for movie in reader.movies()
        if (title := _text(movie.title, TITLE_LENGTH))
    }
    shared, differing = 0, list[tuple[str, str, str]]()
    with database.transaction() as session:
        for chunk in batched(incoming, IN_LIST_CHUNK):
            rows = session.execute(
                select(Movie.external_id, Movie.title).where(
                    Movie.external_id.in_(chunk), Movie.title.is_not(None), Movie.title != ""
                )
            )
            for external, stored in rows:
                shared += 1
                if normalised_title(stored or "") != normalised_title(incoming[external]):
                    differing.append((external, stored or "", incoming[external]))
    if differing and len(differing) > MERGE_TOLERANCE * shared:
        raise CatalogueConflict(_conflict_message(reader, shared, differing))


def _conflict_message(
    reader: DatasetReader, shared: int, differing: list[tuple[str, str, str]]
) -> str:
    examples = "; ".join(
        f"id {external} is {stored!r} there, {title!r} here"
        for external, stored, title in sorted(differing, key=_id_order)[:CONFLICT_EXAMPLES]
    )
    return (
        f"{reader.path}: {len(differing)} of the {shared} movie ids it shares with the database "
        f"belong to other movies ({examples}): importing would merge two catalogues. Run "
        f"'movierec import {reader.path} --replace' to delete the existing catalogue, its "
        "ratings, trained models and cached lists first, or point MOVIEREC_DATA_DIR at a fresh "
        "directory"
    )


def _id_order(row: tuple[str, str, str]) -> tuple[int, str]:
    """Numeric ids in numeric order (examples read 1, 2, 10), others after them."""
    return (int(row[0]), "") if row[0].isdigit() else (1 << 62, row[0])


def normalised_title(title: str) -> str:
    """A title as compared between imports: case, punctuation, spacing, a trailing year and the
    "Matrix, The" form of articles do not count."""
    folded = re.sub(r"\s*\(\d{4}\)\s*$", "", title).casefold()
    folded = re.sub(r", (the|a|an)$", "", folded)
    folded = re.sub(r"^(the|a|an) ", "", folded)
    return re.sub(r"[\W_]+", "", folded)


def clear_catalogue(session: Session) -> dict[str, int]:
    """Delete the catalogue and everything that depends on its ids, in ``session``'s
    transaction: ratings and their events, movies with their genres and tags, the people known
    only from a dataset (people with an account stay, without ratings), and genres nobody picked.

    Trained versions are retired and lose their artifact: they map the old internal ids. Their
    rows stay, so version numbers keep growing (a web process holds a model by its number), and
    their data version becomes -1, which no data has, so the next retrain trains. Champion sets
    are retired: until a new model is promoted, popularity serves. Returns what was deleted."""
    counts = {
        "ratings": _delete(session, delete(Rating)),
        "feedback": _delete(session, delete(Feedback)),
        "events": _delete(session, delete(RatingEvent)),
    }
    _delete(session, delete(MovieTag))
    _delete(session, delete(MovieGenre))
    counts["movies"] = _delete(session, delete(Movie))
    has_account = exists().where(Account.user_id == User.id)
    counts["users"] = _delete(session, delete(User).where(~has_account))
    picked = exists().where(UserGenre.genre_id == Genre.id)
    _delete(session, delete(Genre).where(~picked))
    counts["model versions"] = _delete(
        session,
        update(ModelVersion)
        .where(ModelVersion.status.in_(TRAINED_STATUSES))
        .values(
            status=ModelStatus.RETIRED,
            artifact=None,
            data_version=-1,
            error="retired by an import with --replace: trained on the catalogue it replaced",
        ),
    )
    session.execute(update(ChampionSet).values(status="retired"))
    return counts


def _delete(session: Session, statement: Any) -> int:
    """Run a DELETE or UPDATE; the number of rows it changed."""
    result = cast("CursorResult[Any]", session.execute(statement))
    return int(result.rowcount or 0)


def describe_failure(error: BaseException) -> str:
    """One line for an error that stopped an import: the driver's message for a database error
    (SQLAlchemy's own repeats the statement and its parameters)."""
    cause = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    first = (str(cause).strip().splitlines() or [""])[0]
    return f"{type(cause).__name__}: {first}"[:500]


class _Loader:
    """Keeps the external -> internal id maps of one import run."""

    def __init__(self, database: Database, progress: Callable[[int], None]) -> None:
        self.database = database
        self.progress = progress
        self.movie_ids: dict[str, int] = {}
        self.user_ids: dict[str, int] = {}

    def load_movies(self, movies: Iterable[MovieRecord]) -> None:
        """Insert the movies not yet stored, with their genres."""
        for chunk in batched(movies, ROWS_CHUNK):
            with self.database.transaction() as session:
                self._insert_movies(session, chunk)

    def _insert_movies(self, session: Session, movies: tuple[MovieRecord, ...]) -> None:
        stamp = now()
        chunk = [_storable(movie) for movie in movies]
        rows = [_movie_row(movie, stamp) for movie in {m.external_id: m for m in chunk}.values()]
        self._insert_ignore(session, Movie.__table__, rows)  # type: ignore[arg-type]
        ids = self._ids(session, Movie, [movie.external_id for movie in chunk], self.movie_ids)
        genre_names = {name for movie in chunk for name in movie.genres}
        self._insert_ignore(session, Genre.__table__, [{"name": n} for n in genre_names])  # type: ignore[arg-type]
        genre_ids = {name: id_ for name, id_ in session.execute(select(Genre.name, Genre.id))}
        links = {
            (ids[movie.external_id], genre_ids[name]) for movie in chunk for name in movie.genres
        }
        link_rows = [{"movie_id": m, "genre_id": g} for m, g in links]
        self._insert_ignore(session, MovieGenre.__table__, link_rows)  # type: ignore[arg-type]

    def load_tags(self, tags: Iterable[TagRecord]) -> None:
        """Insert tag counts for tags not yet stored on a movie (existing ones are kept)."""
        texts = ((tag.movie_id, _text(tag.tag, TAG_LENGTH)) for tag in tags)
        counts = Counter((movie, text) for movie, text in texts if text)
        if not counts:
            return
        with self.database.transaction() as session:
            ids = self._ensure_movies(session, {movie for movie, _ in counts})
            merged: Counter[tuple[int, str]] = Counter()
            for (movie, tag), count in counts.items():
                merged[(ids[movie], tag)] += count
            rows = [{"movie_id": m, "tag": t, "count": c} for (m, t), c in merged.items()]
            self._insert_ignore(session, MovieTag.__table__, rows)  # type: ignore[arg-type]

    def load_people_and_movies(self, users: set[str], movies: set[str]) -> None:
        """Create the users and movies the ratings name that are not stored yet, before the
        ratings: their writers then only read ids, and never wait on each other's inserts."""
        for model, wanted, cache in ((User, users, self.user_ids), (Movie, movies, self.movie_ids)):
            for chunk in batched(sorted(wanted), ROWS_CHUNK):
                with self.database.transaction() as session:
                    self._ensure(session, model, set(chunk), cache)

    def load_ratings(self, chunks: Iterator[RatingColumns]) -> int:
        """Insert new ratings and update changed ones, a chunk a transaction, ``writers``
        transactions at a time; returns how many it wrote (new or changed)."""
        writers = rating_writers(self.database)
        written = 0

        def write(columns: RatingColumns) -> int:
            with self.database.transaction() as session:
                return self._write_ratings(session, columns)

        with ThreadPoolExecutor(writers, thread_name_prefix="import-writer") as pool:
            pending: deque[tuple[Future[int], int]] = deque()
            for columns in chunks:  # read the next chunk while the writers write
                pending.append((pool.submit(write, columns), len(columns)))
                while len(pending) > writers or (pending and pending[0][0].done()):
                    written += self._finished(pending.popleft())
            while pending:
                written += self._finished(pending.popleft())
        return written

    def _finished(self, task: tuple[Future[int], int]) -> int:
        """Wait for a chunk's write (its error raised here); progress told its size."""
        future, size = task
        written = future.result()
        self.progress(size)
        return written

    def _write_ratings(self, session: Session, columns: RatingColumns) -> int:
        users = self._internal_ids(session, User, columns.users, self.user_ids)
        movies = self._internal_ids(session, Movie, columns.movies, self.movie_ids)
        # The newest rating of a pair wins (a stable sort: the later line of equal times).
        order = np.lexsort((columns.timestamps, movies, users))
        pairs_user, pairs_movie = users[order], movies[order]
        last = np.ones(len(order), dtype=bool)
        last[:-1] = (pairs_user[1:] != pairs_user[:-1]) | (pairs_movie[1:] != pairs_movie[:-1])
        kept = order[last]
        return upsert_ratings(
            session, users[kept], movies[kept], columns.half_stars[kept], columns.timestamps[kept]
        )

    def _internal_ids(
        self,
        session: Session,
        model: type[User] | type[Movie],
        external: npt.NDArray[np.object_],
        cache: dict[str, int],
    ) -> npt.NDArray[np.int64]:
        """The internal id of each external id, creating the ones not yet stored."""
        import pandas as pd

        codes, distinct = pd.factorize(external)
        known = self._ensure(session, model, set(distinct), cache)
        ids: npt.NDArray[np.int64] = np.fromiter(
            (known[e] for e in distinct), np.int64, len(distinct)
        )[codes]
        return ids

    def load_feedback(self, feedback: Iterator[FeedbackRecord]) -> int:
        """Insert the feedback not yet stored (the same feedback again is kept as stored);
        returns how many it inserted."""
        table: Table = Feedback.__table__  # type: ignore[assignment]
        inserted = 0
        for chunk in batched(feedback, RATINGS_CHUNK):
            with self.database.transaction() as session:
                users = self._ensure_users(session, {f.user_id for f in chunk})
                movies = self._ensure_movies(session, {f.movie_id for f in chunk})
                rows = {(users[f.user_id], movies[f.movie_id], f.type): f.timestamp for f in chunk}
                values = [
                    {"user_id": u, "movie_id": m, "type": t, "created_at": stamp}
                    for (u, m, t), stamp in rows.items()
                ]
                inserted += len(
                    bulk_insert(
                        session, table, values, ignore_conflicts=True, returning=("user_id",)
                    )
                )
        return inserted

    def _ensure_users(self, session: Session, external_ids: set[str]) -> dict[str, int]:
        """Ids of these users, creating the new ones."""
        return self._ensure(session, User, external_ids, self.user_ids)

    def _ensure_movies(self, session: Session, external_ids: set[str]) -> dict[str, int]:
        """Ids of these movies, creating the ones the catalogue lacked (known by id only)."""
        return self._ensure(session, Movie, external_ids, self.movie_ids)

    def _ensure(
        self,
        session: Session,
        model: type[User] | type[Movie],
        external_ids: set[str],
        cache: dict[str, int],
    ) -> dict[str, int]:
        missing = [e for e in external_ids if e not in cache]
        stamp = now()
        rows = [{"external_id": e, "created_at": stamp} for e in missing]
        self._insert_ignore(session, model.__table__, rows)  # type: ignore[arg-type]
        return self._ids(session, model, missing, cache)

    def _ids(
        self,
        session: Session,
        model: type[User] | type[Movie],
        wanted: list[str],
        cache: dict[str, int],
    ) -> dict[str, int]:
        """Fill ``cache`` with the internal ids of ``wanted`` external ids; returns the cache."""
        for chunk in batched([e for e in wanted if e not in cache], IN_LIST_CHUNK):
            rows = session.execute(
                select(model.external_id, model.id).where(model.external_id.in_(chunk))
            )
            cache.update({external: internal for external, internal in rows})
        return cache

    def _insert_ignore(self, session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
        bulk_insert(session, table, rows, ignore_conflicts=True)


def batched(items: Iterable[T], size: int) -> Iterator[tuple[T, ...]]:
    """Consecutive tuples of ``size`` items (``itertools.batched`` arrives with Python 3.12)."""
    iterator = iter(items)
    while chunk := tuple(islice(iterator, size)):
        yield chunk


def _text(value: str | None, length: int | None = None) -> str | None:
    """Text as every database stores it: without NUL characters (PostgreSQL refuses them),
    at most ``length`` characters."""
    if value is None:
        return None
    return value.replace("\x00", "")[:length]


def _storable(movie: MovieRecord) -> MovieRecord:
    """The movie with text that fits its columns (a title longer than the column is cut)."""
    genres = (_text(name, GENRE_LENGTH) for name in movie.genres)
    imdb_id = _text(movie.imdb_id)
    return replace(
        movie,
        title=_text(movie.title, TITLE_LENGTH) or None,
        overview=_text(movie.overview),
        genres=tuple(dict.fromkeys(name for name in genres if name)),
        imdb_id=imdb_id if imdb_id and len(imdb_id) <= IMDB_ID_LENGTH else None,
        poster_path=clean_poster_path(movie.poster_path),
    )


def _movie_row(movie: MovieRecord, stamp: int) -> dict[str, Any]:
    return {
        "external_id": movie.external_id,
        "title": movie.title,
        "year": movie.year,
        "overview": movie.overview,
        "imdb_id": movie.imdb_id,
        "tmdb_id": movie.tmdb_id,
        "poster_path": movie.poster_path,
        "created_at": stamp,
    }
