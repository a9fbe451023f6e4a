"""A person's rights over what is stored about them: all of it, to take away (``export_person``),
and none of it, once erased (``erase_person``). Called by the API and the profile page alike."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from server.cache.connection import CACHE_ERRORS
from server.db import iso, now
from server.errors import Unavailable
from server.models import (
    Account,
    ApiToken,
    Feedback,
    Movie,
    Rating,
    RatingEvent,
    User,
    WebSession,
)
from server.services.champions import AUTO
from server.services.users import get_user
from server.serving.context import ServingContext

log = logging.getLogger(__name__)


def export_person(session: Session, external_id: str) -> dict[str, Any]:
    """Everything stored about a person: their profile, account, ratings, feedback besides
    stars, events, API tokens and web sessions (never a password hash or a token's hash);
    ``NotFound`` if unknown."""
    user = get_user(session, external_id)
    account = session.get(Account, user.id)
    ratings = session.execute(
        select(Movie.external_id, Movie.title, Rating)
        .join(Movie, Movie.id == Rating.movie_id)
        .where(Rating.user_id == user.id)
        .order_by(Rating.updated_at, Movie.external_id)
    ).all()
    events = session.execute(
        select(Movie.external_id, RatingEvent)
        .join(Movie, Movie.id == RatingEvent.movie_id)
        .where(RatingEvent.user_id == user.id)
        .order_by(RatingEvent.id)
    ).all()
    feedback = session.execute(
        select(Movie.external_id, Movie.title, Feedback.type, Feedback.created_at)
        .join(Movie, Movie.id == Feedback.movie_id)
        .where(Feedback.user_id == user.id)
        .order_by(Feedback.created_at, Movie.external_id, Feedback.type)
    ).all()
    tokens = session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)
    )
    sessions = session.scalars(
        select(WebSession).where(WebSession.user_id == user.id).order_by(WebSession.id)
    )
    return {
        "exported_at": iso(now()),
        "user": {
            "id": user.external_id,
            "name": user.name,
            "favorite_genres": [genre.name for genre in user.favorite_genres],
            "created_at": iso(user.created_at),
        },
        "account": None
        if account is None
        else {
            "username": user.external_id,
            "role": account.role,
            "created_at": iso(account.created_at),
        },
        "ratings": [
            {
                "movie_id": movie,
                "title": title,
                "rating": rating.stars,
                "created_at": iso(rating.created_at),
                "updated_at": iso(rating.updated_at),
            }
            for movie, title, rating in ratings
        ],
        "feedback": [
            {"movie_id": movie, "title": title, "type": kind, "created_at": iso(stamp)}
            for movie, title, kind, stamp in feedback
        ],
        "rating_events": [
            {
                "movie_id": movie,
                "kind": event.kind,
                "rating": None if event.half_stars is None else event.half_stars / 2,
                "feedback": event.feedback,
                "created_at": iso(event.created_at),
            }
            for movie, event in events
        ],
        "api_tokens": [
            {
                "name": token.name,
                "prefix": token.prefix,
                "created_at": iso(token.created_at),
                "last_used_at": _iso_or_none(token.last_used_at),
                "revoked_at": _iso_or_none(token.revoked_at),
            }
            for token in tokens
        ],
        "web_sessions": [
            {"created_at": iso(web.created_at), "expires_at": iso(web.expires_at)}
            for web in sessions
        ],
    }


def erase_person(context: ServingContext, external_id: str) -> None:
    """Delete a person and everything stored about them: the user row takes their ratings,
    feedback, events, favourite genres, account, web sessions and API tokens with it (every key is
    ``ON DELETE CASCADE``), and their cached lists, of every algorithm and ``auto``, are
    dropped. ``NotFound`` if unknown; ``Unavailable`` (nothing erased) while Redis is down.

    Models trained before keep what they learnt from the person until their next retrain, which
    no longer sees them."""
    with context.database.transaction() as session:
        get_user(session, external_id)  # NotFound before anything is dropped
    _drop_lists(context, external_id)  # first: an outage stops the erasure before any delete
    with context.database.transaction(writes=True) as session:
        user = get_user(session, external_id)
        session.execute(delete(User).where(User.id == user.id))
    # Again: a worker may have refreshed a list between the first drop and the delete.
    with contextlib.suppress(Unavailable):
        _drop_lists(context, external_id)


def _drop_lists(context: ServingContext, external_id: str) -> None:
    try:
        for algorithm in [*context.registry.names(), AUTO]:
            context.cache.drop_user_list(algorithm, external_id)
    except CACHE_ERRORS:
        log.warning("could not drop the cached lists of an erased person")
        raise Unavailable(
            "The cache is not reachable, so nothing was erased; try again shortly.",
            code="cache_down",
        ) from None


def _iso_or_none(timestamp: int | None) -> str | None:
    return None if timestamp is None else iso(timestamp)
