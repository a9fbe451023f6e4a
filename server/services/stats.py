"""Counts of what the database holds (``movierec stats``)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from server.db import Base
from server.models import Feedback, Genre, Movie, MovieTag, Rating, RatingEvent, User


def database_counts(session: Session) -> dict[str, int]:
    """Users, movies, ratings, feedback, events (and unprocessed events), genres and tags."""

    def count(*where: ColumnElement[bool], model: type[Base] = RatingEvent) -> int:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0

    return {
        "users": count(model=User),
        "movies": count(model=Movie),
        "ratings": count(model=Rating),
        "feedback": count(model=Feedback),
        "events": count(),
        "unprocessed_events": count(RatingEvent.processed_at.is_(None)),
        "genres": count(model=Genre),
        "movie_tags": count(model=MovieTag),
    }
