"""Ratings and their events. Every change of a rating writes one ``rating_events`` row in the
same transaction (the outbox): a committed rating always has its event, a failed write neither."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session

from server.db import now
from server.errors import NotFound, ValidationError
from server.models import Movie, Rating, RatingEvent, User
from server.services.movies import get_movie
from server.services.users import get_user

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
    """The outcome of a write: the rating, whether it is new, and the event it wrote (None
    when nothing changed). The event's id is known once the transaction is flushed."""

    rating: Rating
    created: bool
    event: RatingEvent | None


def put_rating(session: Session, user_id: str, movie_id: str, half_stars: int) -> RatingChange:
    """Create or change a user's rating of a movie.

    Setting the value it already has changes nothing and writes no event (PUT is idempotent).
    """
    user, movie = get_user(session, user_id), get_movie(session, movie_id)
    key = (user.id, movie.id)
    rating = session.get(Rating, key, with_for_update=True)
    if rating is None:
        stamp = now()
        try:
            with session.begin_nested():
                rating = Rating(
                    user_id=user.id,
                    movie_id=movie.id,
                    half_stars=half_stars,
                    created_at=stamp,
                    updated_at=stamp,
                )
                session.add(rating)
            return RatingChange(rating, True, _record_event(session, rating, "created"))
        except IntegrityError:
            # A concurrent request created it first: carry on as an update of that row.
            rating = session.get(Rating, key, with_for_update=True, populate_existing=True)
            assert rating is not None
    if rating.half_stars == half_stars:
        return RatingChange(rating, False, None)
    rating.half_stars = half_stars
    rating.updated_at = now()
    return RatingChange(rating, False, _record_event(session, rating, "updated"))


def get_rating(session: Session, user_id: str, movie_id: str) -> Rating:
    """A user's rating of a movie; ``NotFound`` when the user, movie or rating does not exist."""
    user, movie = get_user(session, user_id), get_movie(session, movie_id)
    rating = session.get(Rating, (user.id, movie.id))
    if rating is None:
        raise NotFound(
            f"user {user_id!r} has not rated movie {movie_id!r}", code="rating_not_found"
        )
    return rating


def delete_rating(session: Session, user_id: str, movie_id: str) -> RatingEvent:
    """Remove a rating and write its ``deleted`` event; ``NotFound`` if there is none."""
    rating = get_rating(session, user_id, movie_id)
    event = _record_event(session, rating, "deleted")
    session.delete(rating)
    return event


def _record_event(session: Session, rating: Rating, kind: str) -> RatingEvent:
    event = RatingEvent(
        user_id=rating.user_id,
        movie_id=rating.movie_id,
        kind=kind,
        half_stars=None if kind == "deleted" else rating.half_stars,
        created_at=now(),
    )
    session.add(event)
    return event


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
