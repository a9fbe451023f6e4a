"""``/api/v1/users``: create, read, export and erase users, list a user's ratings."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, url_for

from server.api.operation import operation
from server.api.schemas import Page, UserIn, UserUpdate
from server.api.serialize import page_json, rating_json, user_json
from server.auth import require_credentials
from server.context import get_db, get_serving
from server.services.privacy import erase_person, export_person
from server.services.ratings import user_ratings
from server.services.users import create_user, get_user, known_genres

bp = Blueprint("users", __name__)


@bp.post("/users")
@require_credentials
@operation(success=(201,), body=UserIn)
def post_user(body: UserIn) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Create a user with the client's own id."""
    with get_db().transaction() as session:
        user = create_user(session, body.id, body.name, body.favorite_genres)
    location = url_for("users.get_user_by_id", user_id=user.external_id)
    return user_json(user), 201, {"Location": location}


@bp.get("/users/<user_id>")
@require_credentials
@operation()
def get_user_by_id(user_id: str) -> dict[str, Any]:
    """Read a user."""
    with get_db().transaction() as session:
        return user_json(get_user(session, user_id))


@bp.patch("/users/<user_id>")
@require_credentials
@operation(body=UserUpdate)
def patch_user(user_id: str, body: UserUpdate) -> dict[str, Any]:
    """Change a user's name or favourite genres."""
    with get_db().transaction() as session:
        user = get_user(session, user_id)
        if body.name is not None:
            user.name = body.name
        if body.favorite_genres is not None:
            user.favorite_genres = known_genres(session, body.favorite_genres)
        return user_json(user)


@bp.delete("/users/<user_id>")
@require_credentials
@operation(success=(204,))
def delete_user(user_id: str) -> tuple[str, int]:
    """Erase a user and everything stored about them: ratings, rating events, account, web
    sessions, API tokens and cached lists (the rights a privacy law gives)."""
    erase_person(get_serving(), user_id)
    return "", 204


@bp.get("/users/<user_id>/export")
@require_credentials
@operation()
def export_user(user_id: str) -> dict[str, Any]:
    """Everything stored about a user, to take away (no password or token hashes)."""
    with get_db().transaction() as session:
        return export_person(session, user_id)


@bp.get("/users/<user_id>/ratings")
@require_credentials
@operation(query=Page)
def list_user_ratings(user_id: str, query: Page) -> dict[str, Any]:
    """A user's ratings, most recently changed first."""
    with get_db().transaction() as session:
        user = get_user(session, user_id)
        rows, total = user_ratings(session, user, query.limit, query.offset)
        items = [rating_json(rating, user_id, movie_id) for rating, movie_id in rows]
    return page_json(items, total, query.limit, query.offset)
