"""Ratings and their events. Every change of a rating writes one ``rating_events`` row in the
same transaction (the outbox): a committed rating always has its event, a failed write neither.

Every writer of a rating first locks its user (the ``users`` row on PostgreSQL, the database's
write lock on SQLite: ``Database.transaction(writes=True)``) and only then reads the rating it
changes, so concurrent PUTs and DELETEs of one pair apply one at a time, each on the latest value.

``rate_movie``, ``rate_movies`` and ``remove_rating`` are how the API, the pages and anyone else
change ratings: they commit, then announce the events to the workers.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt
from sqlalchemy import ColumnElement, Table, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from server.datasets.bulk import packed_rows
from server.db import Database, insert_ignoring_conflicts, now
from server.errors import Conflict, NotFound, ValidationError
from server.models import Feedback, Movie, Rating, RatingEvent, User
from server.services.movies import get_movie, movie_key
from server.services.users import get_user, user_key
from server.serving.feedback import with_feedback
from server.serving.policy import NO_RATINGS, RatedMovies

if TYPE_CHECKING:
    from server.tasks import TaskQueue

MIN_HALF_STARS, MAX_HALF_STARS = 1, 10


def to_half_stars(stars: float) -> int:
    """0.5-5.0 in half steps to 1-10; ``ValidationError`` for anything else."""
    doubled = stars * 2
    if not MIN_HALF_STARS <= doubled <= MAX_HALF_STARS or doubled != int(doubled):
        raise ValidationError(
            f"rating must be 0.5 to 5.0 in steps of 0.5, not {stars}",
            code="invalid_rating",
            field="rating",
        )
    return int(doubled)


@dataclass(frozen=True)
class RatingChange:
    """The outcome of a write: the rating (detached), whether it is new, and the id of the event
    it wrote (None when nothing changed)."""

    rating: Rating
    created: bool
    event_id: int | None


def rate_movie(
    database: Database, tasks: TaskQueue, user_id: str, movie_id: str, half_stars: int
) -> RatingChange:
    """Create or change a rating (``put_rating``) and, once committed, announce its event."""
    with database.transaction(writes=True) as session:
        change = put_rating(session, user_id, movie_id, half_stars)
    if change.event_id is not None:
        tasks.announce_event(change.event_id)
    return change


def rate_movies(
    database: Database, tasks: TaskQueue, user_id: str, half_stars: Mapping[str, int]
) -> int:
    """Rate several movies in one transaction (all or none), then announce their events;
    returns how many ratings changed."""
    with database.transaction(writes=True) as session:
        changes = [put_rating(session, user_id, movie, half) for movie, half in half_stars.items()]
    events = [change.event_id for change in changes if change.event_id is not None]
    for event_id in events:
        tasks.announce_event(event_id)
    return len(events)


def remove_rating(database: Database, tasks: TaskQueue, user_id: str, movie_id: str) -> None:
    """Delete a rating (``delete_rating``) and, once committed, announce its event."""
    with database.transaction(writes=True) as session:
        event_id = delete_rating(session, user_id, movie_id)
    tasks.announce_event(event_id)


def put_rating(session: Session, user_id: str, movie_id: str, half_stars: int) -> RatingChange:
    """Create or change a user's rating of a movie, in a ``transaction(writes=True)``.

    Setting the value it already has changes nothing and writes no event (PUT is idempotent).
    This is the hottest write, so it runs as Core statements built once (``_WRITES``): building
    and cache-keying ORM statements per request cost more CPU than the database did.
    """
    user, movie = _lock_pair(session, user_id, movie_id)
    # Read after the lock: this sees every committed write of the pair, and none can follow
    # until this transaction ends.
    current = _current_rating(session, user, movie)
    stamp = now()
    key = {"user": user, "movie": movie}
    if current is None:
        values = {**key, "half_stars": half_stars, "stamp": stamp}
        dialect = session.get_bind().dialect.name
        # RETURNING says whether the row went in on both dialects (rowcount does not on psycopg).
        if session.execute(_WRITES.insert_rating(dialect), values).first() is not None:
            event_id = _record_event(session, user, movie, "created", half_stars)
            rating = Rating(
                user_id=user,
                movie_id=movie,
                half_stars=half_stars,
                created_at=stamp,
                updated_at=stamp,
            )
            return RatingChange(rating, True, event_id)
        # A bulk import (which takes no user lock) put the row in first: update it instead.
        current = _current_rating(session, user, movie)
        if current is None:
            raise _changed_meanwhile()
    created_at, old_half_stars = current
    rating = Rating(
        user_id=user, movie_id=movie, half_stars=half_stars, created_at=created_at, updated_at=stamp
    )
    if old_half_stars == half_stars:
        return RatingChange(rating, False, None)
    values = {**key, "half_stars": half_stars, "stamp": stamp}
    if session.execute(_WRITES.update_rating, values).first() is None:
        raise _changed_meanwhile()
    return RatingChange(rating, False, _record_event(session, user, movie, "updated", half_stars))


def _changed_meanwhile() -> Conflict:
    """A rating changed by a writer that takes no user lock (an import, a deleted movie): the
    request is refused rather than acknowledged unwritten."""
    return Conflict("the rating changed while it was being written; try again", code="conflict")


class _WriteStatements:
    """The statements of ``put_rating``, built once with bound parameters (SQLAlchemy then
    reuses their compiled form; only the parameters change per request)."""

    def __init__(self) -> None:
        users, movies, ratings, events = (
            cast(Table, model.__table__) for model in (User, Movie, Rating, RatingEvent)
        )
        self.ratings = ratings
        self.lock_pair = (
            select(users.c.id, movies.c.id)
            .select_from(users.join(movies, movies.c.external_id == bindparam("movie_key")))
            .where(users.c.external_id == bindparam("user_key"))
            .with_for_update(of=users)
        )
        this_rating = (ratings.c.user_id == bindparam("user")) & (
            ratings.c.movie_id == bindparam("movie")
        )
        self.current = select(ratings.c.created_at, ratings.c.half_stars).where(this_rating)
        # RETURNING says whether a row matched on both dialects (rowcount does not on psycopg).
        self.update_rating = (
            update(ratings)
            .where(this_rating)
            .values(half_stars=bindparam("half_stars"), updated_at=bindparam("stamp"))
            .returning(ratings.c.user_id)
        )
        self.delete_rating = delete(ratings).where(this_rating).returning(ratings.c.user_id)
        # The columns a new rating and an event both get from the parameters.
        self.new_row: dict[str, Any] = {
            "user_id": bindparam("user"),
            "movie_id": bindparam("movie"),
            "half_stars": bindparam("half_stars"),
            "created_at": bindparam("stamp"),
        }
        self.insert_event = (
            insert(events).values(**self.new_row, kind=bindparam("kind")).returning(events.c.id)
        )
        self._inserts: dict[str, Any] = {}

    def insert_rating(self, dialect: str) -> Any:
        """``INSERT ... ON CONFLICT DO NOTHING RETURNING user_id`` for ``dialect``."""
        if dialect not in self._inserts:
            self._inserts[dialect] = (
                insert_ignoring_conflicts(self.ratings, dialect)
                .values(**self.new_row, updated_at=bindparam("stamp"))
                .returning(self.ratings.c.user_id)
            )
        return self._inserts[dialect]


_WRITES = _WriteStatements()


def _lock_pair(session: Session, user_id: str, movie_id: str) -> tuple[int, int]:
    """The internal ids of the user and the movie, with the user's row locked for update (on
    PostgreSQL): one user's writes go one at a time and their events commit in order.
    ``NotFound`` names whichever id is unknown."""
    row = session.execute(_WRITES.lock_pair, {"user_key": user_id, "movie_key": movie_id}).first()
    if row is None:
        user_key(session, user_id)
        movie_key(session, movie_id)
        raise NotFound(f"no user {user_id!r} or no movie {movie_id!r}", code="not_found")
    return row[0], row[1]


def _current_rating(session: Session, user: int, movie: int) -> tuple[int, int] | None:
    """(created_at, half_stars) of the rating; None when there is none."""
    row = session.execute(_WRITES.current, {"user": user, "movie": movie}).first()
    return None if row is None else (row[0], row[1])


def get_rating(session: Session, user_id: str, movie_id: str) -> Rating:
    """A user's rating of a movie; ``NotFound`` when the user, movie or rating does not exist."""
    user, movie = get_user(session, user_id), get_movie(session, movie_id)
    rating = session.get(Rating, (user.id, movie.id))
    if rating is None:
        raise NotFound(
            f"user {user_id!r} has not rated movie {movie_id!r}", code="rating_not_found"
        )
    return rating


def delete_rating(session: Session, user_id: str, movie_id: str) -> int:
    """Remove a rating and write its ``deleted`` event, in a ``transaction(writes=True)``;
    ``NotFound`` if there is none. Returns the event's id."""
    user, movie = _lock_pair(session, user_id, movie_id)
    if session.execute(_WRITES.delete_rating, {"user": user, "movie": movie}).first() is None:
        raise NotFound(
            f"user {user_id!r} has not rated movie {movie_id!r}", code="rating_not_found"
        )
    return _record_event(session, user, movie, "deleted", None)


def _record_event(
    session: Session, user: int, movie: int, kind: str, half_stars: int | None
) -> int:
    """Write the change's outbox row; returns its id."""
    values = {"user": user, "movie": movie, "kind": kind, "half_stars": half_stars}
    return int(session.execute(_WRITES.insert_event, {**values, "stamp": now()}).scalar_one())


def user_ratings(
    session: Session, user: User, limit: int, offset: int
) -> tuple[list[tuple[Rating, str]], int]:
    """A page of a user's ratings, newest first, with each movie's external id; and the total."""
    belongs = Rating.user_id == user.id
    total = session.scalar(select(func.count()).select_from(Rating).where(belongs)) or 0
    return _ratings_page(session, belongs, Movie, Rating.movie_id, limit, offset), total


def movie_ratings(
    session: Session, movie: Movie, limit: int, offset: int
) -> list[tuple[Rating, str]]:
    """A page of a movie's ratings, newest first, with each user's external id."""
    belongs = Rating.movie_id == movie.id
    return _ratings_page(session, belongs, User, Rating.user_id, limit, offset)


def _ratings_page(
    session: Session,
    belongs: ColumnElement[bool],
    other: type[User] | type[Movie],
    other_key: InstrumentedAttribute[int],
    limit: int,
    offset: int,
) -> list[tuple[Rating, str]]:
    """Ratings matching ``belongs``, each with the external id of the ``other`` side."""
    rows = session.execute(
        select(Rating, other.external_id)
        .join(other, other.id == other_key)
        .where(belongs)
        .order_by(Rating.updated_at.desc(), other.external_id)
        .limit(limit)
        .offset(offset)
    ).all()
    return [(rating, external_id) for rating, external_id in rows]


# How a person's rated movies can be ordered on their profile.
RATED_ORDERS = {
    "recent": (Rating.updated_at.desc(), Movie.title),
    "title": (Movie.title, Movie.id),
    "rating": (Rating.half_stars.desc(), Movie.title),
}


def rated_movies(
    session: Session, user_id: int, order: str, limit: int, offset: int
) -> tuple[list[tuple[Rating, Movie]], int]:
    """A page of the movies a user rated, with their ratings, in ``order`` (a key of
    ``RATED_ORDERS``; unknown keys mean "recent"); and how many there are in all."""
    belongs = Rating.user_id == user_id
    total = session.scalar(select(func.count()).select_from(Rating).where(belongs)) or 0
    rows = session.execute(
        select(Rating, Movie)
        .join(Movie, Movie.id == Rating.movie_id)
        .where(belongs)
        .order_by(*RATED_ORDERS.get(order, RATED_ORDERS["recent"]))
        .limit(limit)
        .offset(offset)
    ).all()
    return [(rating, movie) for rating, movie in rows], total


# People whose ratings one query reads (``ratings_by_user``).
PEOPLE_A_QUERY = 500
# What ``ratings_by_user`` reads of each rating.
RATED_COLUMNS = ("user_id", "movie_id", "half_stars")


def newest_changes(session: Session, user_ids: list[int]) -> dict[int, int]:
    """Each person's newest change (outbox event id) among ``user_ids``; people without any are
    left out. Read before their ratings, it stamps the lists computed from them: every change
    writes an event in its own transaction, so data read after the stamp is at least that new,
    and a list with an older stamp than the one cached is a slower writer's stale one."""
    newest: dict[int, int] = {}
    for start in range(0, len(user_ids), PEOPLE_A_QUERY):
        rows = session.execute(
            select(RatingEvent.user_id, func.max(RatingEvent.id))
            .where(RatingEvent.user_id.in_(user_ids[start : start + PEOPLE_A_QUERY]))
            .group_by(RatingEvent.user_id)
        )
        newest.update((int(user or 0), int(event)) for user, event in rows)
    return newest


def ratings_by_user(
    session: Session,
    user_ids: list[int],
    feedback_weights: Mapping[str, float] | None = None,
    stamps: Mapping[int, int] | None = None,
) -> dict[int, RatedMovies]:
    """The current ratings of each of ``user_ids`` that has any, each person's by movie id.
    With ``feedback_weights`` (the served lists' case) their feedback besides stars too, as
    signals and exclusions (``server.serving.feedback``), and people with feedback alone are
    included. With ``stamps`` (``newest_changes``, read before this) each carries its person's."""
    users, movies, half_stars = _rating_rows(session, user_ids)
    order = np.argsort(users << 32 | movies)  # ids are int32 in the database
    users, movies = users[order], movies[order]
    stars = half_stars[order].astype(np.float32) / np.float32(2.0)
    starts = np.flatnonzero(np.diff(users, prepend=-1))
    stamp = (stamps or {}).get
    rated = {
        user: RatedMovies(own_movies, own_stars, stamp=stamp(user, 0))
        for user, own_movies, own_stars in zip(
            users[starts].tolist(),
            np.split(movies, starts)[1:],  # the first piece is before the first start
            np.split(stars, starts)[1:],
            strict=True,
        )
    }
    if feedback_weights is None:
        return rated
    for user, given in feedback_by_user(session, user_ids).items():
        alone = replace(NO_RATINGS, stamp=stamp(user, 0))
        rated[user] = with_feedback(rated.get(user, alone), given, feedback_weights)
    return rated


def _rating_rows(
    session: Session, user_ids: list[int]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The user, movie and half stars of every rating of ``user_ids``, one array a column, in
    no order: on PostgreSQL packed by the database (``server.datasets.bulk.packed_rows``: a
    precompute reads 25M ratings' worth in shards, and a Python row each was most of its
    reading), elsewhere rows flattened by ``np.fromiter``. Asked ``PEOPLE_A_QUERY`` people at a
    time: for a few thousand PostgreSQL's estimate (from a sample of the people) swings to
    scanning every rating, 3-5x slower than its index."""
    chunks = [
        user_ids[start : start + PEOPLE_A_QUERY]
        for start in range(0, len(user_ids), PEOPLE_A_QUERY)
    ]
    parts: list[list[npt.NDArray[np.int64]]] = []
    packed = session.get_bind().dialect.name == "postgresql"
    for chunk in chunks:
        if packed:
            table = cast(Table, Rating.__table__)
            parts.append(packed_rows(session, table, RATED_COLUMNS, "user_id", chunk))
            continue
        rows = session.execute(
            select(Rating.user_id, Rating.movie_id, Rating.half_stars).where(
                Rating.user_id.in_(chunk)
            )
        ).all()
        flat = np.fromiter(itertools.chain.from_iterable(rows), np.int64, count=3 * len(rows))
        parts.append(list(flat.reshape(-1, 3).T))
    if not parts:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64)
    users, movies, half_stars = (np.concatenate(column) for column in zip(*parts, strict=True))
    return users, movies, half_stars


def feedback_by_user(session: Session, user_ids: list[int]) -> dict[int, list[tuple[int, str]]]:
    """Each person's feedback besides stars as (internal movie id, type) pairs, in one query."""
    given: dict[int, list[tuple[int, str]]] = defaultdict(list)
    rows = session.execute(
        select(Feedback.user_id, Feedback.movie_id, Feedback.type).where(
            Feedback.user_id.in_(user_ids)
        )
    )
    for user, movie, kind in rows:
        given[user].append((movie, kind))
    return given


def rated_by(
    session: Session,
    user_id: int,
    feedback_weights: Mapping[str, float] | None = None,
    stamped: bool = False,
) -> RatedMovies:
    """One user's current ratings (``NO_RATINGS`` when they have none), and their feedback
    besides stars with ``feedback_weights``; ``stamped`` with their newest change (see
    ``ratings_by_user``)."""
    stamps = newest_changes(session, [user_id]) if stamped else {}
    alone = replace(NO_RATINGS, stamp=stamps.get(user_id, 0))
    return ratings_by_user(session, [user_id], feedback_weights, stamps).get(user_id, alone)
