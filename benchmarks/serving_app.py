"""The app the serving benchmark runs under gunicorn: movierec's app plus two references served
by the same server, workers and load: a bare endpoint that returns a constant JSON (for reads),
and a bare write that stores a rating and its event in one transaction (for writes)."""

from __future__ import annotations

from typing import Any

from flask import request
from sqlalchemy import text

from server import create_app
from server.db import Database, now

app = create_app()

# The write reference's statements: the rating (created or replaced) and its outbox event.
_PUT_RATING = text(
    "INSERT INTO ratings (user_id, movie_id, half_stars, created_at, updated_at) "
    "SELECT u.id, m.id, :half_stars, :stamp, :stamp FROM users u, movies m "
    "WHERE u.external_id = :user_key AND m.external_id = :movie_key "
    "ON CONFLICT (user_id, movie_id) DO UPDATE SET half_stars = excluded.half_stars, "
    "updated_at = excluded.updated_at"
)
_PUT_EVENT = text(
    "INSERT INTO rating_events (user_id, movie_id, kind, half_stars, created_at) "
    "SELECT u.id, m.id, 'created', :half_stars, :stamp FROM users u, movies m "
    "WHERE u.external_id = :user_key AND m.external_id = :movie_key"
)


@app.get("/bench/constant")
def constant() -> dict[str, Any]:
    """The read reference: no database, no Redis, no model."""
    return {"items": [], "source": "constant", "model_version": None, "cached": False}


@app.put("/bench/users/<user_id>/ratings/<movie_id>")
def bare_write(user_id: str, movie_id: str) -> tuple[dict[str, Any], int]:
    """The write reference: the rating and its event stored durably in one transaction of two
    statements, and nothing else (no credentials, validation, lock, read of the old rating or
    announcement to the workers): what a durable write costs on this machine at the least."""
    body = request.get_json(force=True)
    values = {
        "user_key": user_id,
        "movie_key": movie_id,
        "half_stars": int(float(body["rating"]) * 2),
        "stamp": now(),
    }
    database: Database = app.extensions["movierec.db"]
    with database.engine.begin() as connection:
        connection.execute(_PUT_RATING, values)
        connection.execute(_PUT_EVENT, values)
    return {"user_id": user_id, "movie_id": movie_id, "rating": body["rating"]}, 201


app.extensions["csrf"].exempt(bare_write)  # an API call, as the API's own writes are
