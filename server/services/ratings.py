"""Ratings and their events. Every change of a rating writes one ``rating_events`` row in the
same transaction (the outbox): a committed rating always has its event, a failed write neither."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, insert, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from server.db import insert_ignoring_conflicts, now
from server.errors import NotFound, ValidationError
from server.models import Movie, Rating, RatingEvent, User
from server.services.movies import get_movie, movie_key
from server.services.users import get_user, user_key

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


def put_rating(session: Session, user_id: str, movie_id: str, half_stars: int) -> RatingChange:
    """Create or change a user's rating of a movie.

    Setting the value it already has changes nothing and writes no event (PUT is idempotent).
    This is the hottest write, so it runs as a few Core statements on ids rather than loading
    the user, the movie and their relationships.
    """
    user, movie, current = _rating_slot(session, user_id, movie_id)
    stamp = now()
    if current is None:
        values = {
            "user_id": user,
            "movie_id": movie,
            "half_stars": half_stars,
            "created_at": stamp,
            "updated_at": stamp,
        }
        dialect = session.get_bind().dialect.name
        insert_new = insert_ignoring_conflicts(Rating.__table__, dialect)  # type: ignore[arg-type]
        # RETURNING says whether the row went in on both dialects (rowcount does not on psycopg).
        if session.execute(insert_new.returning(Rating.user_id), values).first() is not None:
            event_id = _record_event(session, user, movie, "created", half_stars)
            return RatingChange(Rating(**values), True, event_id)
        # A concurrent request created it first: carry on as an update of that row.
        current = _current_rating(session, user, movie)
        assert current is not None
    created_at, old_half_stars = current
    rating = Rating(
        user_id=user, movie_id=movie, half_stars=half_stars, created_at=created_at, updated_at=stamp
    )
    if old_half_stars == half_stars:
        return RatingChange(rating, False, None)
    session.execute(
        update(Rating)
        .where(Rating.user_id == user, Rating.movie_id == movie)
        .values(half_stars=half_stars, updated_at=stamp)
    )
    return RatingChange(rating, False, _record_event(session, user, movie, "updated", half_stars))


def _rating_slot(
    session: Session, user_id: str, movie_id: str
) -> tuple[int, int, tuple[int, int] | None]:
    """The internal ids of the user and the movie and their current rating (created_at,
    half_stars; None when there is none), in one statement: the hot path of every write.

    The user's row is locked for update (on PostgreSQL), so one user's writes go one at a time
    and their events are committed in order. ``NotFound`` names whichever id is unknown.
    """
    statement = (
        select(User.id, Movie.id, Rating.created_at, Rating.half_stars)
        .select_from(User)
        .join(Movie, Movie.external_id == movie_id)
        .outerjoin(Rating, (Rating.user_id == User.id) & (Rating.movie_id == Movie.id))
        .where(User.external_id == user_id)
        .with_for_update(of=User)
    )
    row = session.execute(statement).first()
    if row is None:
        user_key(session, user_id)
        movie_key(session, movie_id)
        raise NotFound(f"no user {user_id!r} or no movie {movie_id!r}", code="not_found")
    user, movie, created_at, half_stars = row
    return user, movie, None if created_at is None else (created_at, half_stars)


def _current_rating(session: Session, user: int, movie: int) -> tuple[int, int] | None:
    """(created_at, half_stars) of the rating, locked for update; None when there is none."""
    row = session.execute(
        select(Rating.created_at, Rating.half_stars)
        .where(Rating.user_id == user, Rating.movie_id == movie)
        .with_for_update()
    ).first()
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
    """Remove a rating and write its ``deleted`` event; ``NotFound`` if there is none. Returns
    the event's id."""
    rating = get_rating(session, user_id, movie_id)
    event_id = _record_event(session, rating.user_id, rating.movie_id, "deleted", None)
    session.delete(rating)
    return event_id


def _record_event(
    session: Session, user: int, movie: int, kind: str, half_stars: int | None
) -> int:
    """Write the change's outbox row; returns its id."""
    return session.execute(
        insert(RatingEvent)
        .values(user_id=user, movie_id=movie, kind=kind, half_stars=half_stars, created_at=now())
        .returning(RatingEvent.id)
    ).scalar_one()


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
