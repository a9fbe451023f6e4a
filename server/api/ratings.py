"""``/api/v1/users/{user_id}/ratings/{movie_id}``: put, read and delete one rating."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from server.api.operation import operation
from server.api.schemas import RatingIn
from server.api.serialize import rating_json
from server.auth import require_credentials
from server.context import get_db, get_queue
from server.services.ratings import get_rating, rate_movie, remove_rating, to_half_stars

bp = Blueprint("ratings", __name__)

PATH = "/users/<user_id>/ratings/<movie_id>"


@bp.put(PATH)
@require_credentials
@operation(success=(200, 201), body=RatingIn)
def put_user_rating(user_id: str, movie_id: str, body: RatingIn) -> tuple[dict[str, Any], int]:
    """Rate a movie: 201 when the rating is new, 200 when it replaced one (idempotent)."""
    change = rate_movie(get_db(), get_queue(), user_id, movie_id, to_half_stars(body.rating))
    return rating_json(change.rating, user_id, movie_id), 201 if change.created else 200


@bp.get(PATH)
@require_credentials
@operation()
def get_user_rating(user_id: str, movie_id: str) -> dict[str, Any]:
    """A user's rating of a movie."""
    with get_db().transaction() as session:
        return rating_json(get_rating(session, user_id, movie_id), user_id, movie_id)


@bp.delete(PATH)
@require_credentials
@operation(success=(204,))
def delete_user_rating(user_id: str, movie_id: str) -> tuple[str, int]:
    """Remove a rating."""
    remove_rating(get_db(), get_queue(), user_id, movie_id)
    return "", 204
