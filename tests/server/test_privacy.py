"""A person's data: exported whole (never a hash), and erased whole (no row, no cache key),
through the API (their own token or the service key) and through the profile page."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import redis
from flask.testing import FlaskClient
from sqlalchemy import func, select

from server.cache.lists import CachedList
from server.db import Database
from server.models import (
    Account,
    ApiToken,
    Feedback,
    Rating,
    RatingEvent,
    User,
    UserGenre,
    WebSession,
)
from tests.conftest import SERVICE_AUTH, get_ok
from tests.server.test_web import PASSWORD, csrf_token, sign_up

PERSONAL_TABLES = (User, UserGenre, Rating, Feedback, RatingEvent, Account, WebSession, ApiToken)


def rows_of(database: Database, username: str) -> dict[str, int]:
    """How many rows of each personal table hold ``username`` (by their user id)."""
    with database.transaction() as session:
        found = session.scalar(select(User.id).where(User.external_id == username))
        if found is None:
            return {}
        counts = {}
        for table in PERSONAL_TABLES:
            column = table.id if table is User else table.user_id
            counts[table.__tablename__] = session.scalar(
                select(func.count()).select_from(table).where(column == found)
            )
        return counts


def person_with_everything(client: FlaskClient, auth: dict[str, str]) -> str:
    """ada: an account with a session, favourite genres, two ratings (one changed), a movie on
    her watchlist and a token; the token."""
    for number in (1, 2):
        client.post(
            "/api/v1/movies", json={"id": f"m{number}", "title": f"Film {number}"}, headers=auth
        )
    sign_up(client, "ada")
    client.post("/welcome", data={"csrf_token": csrf_token(client, "/welcome"), "genres": []})
    client.patch("/api/v1/users/ada", json={"favorite_genres": []}, headers=auth)
    for movie, stars in (("m1", "4"), ("m2", "3"), ("m2", "5")):
        token = csrf_token(client, f"/movies/{movie}")
        client.post(f"/movies/{movie}/rating", data={"csrf_token": token, "rating": stars})
    press = {"csrf_token": csrf_token(client, "/movies"), "movie_id": "m1"}
    client.post("/feedback", data=press | {"type": "watchlist", "change": "add"})
    created = client.post(
        "/profile/tokens", data={"csrf_token": csrf_token(client, "/profile"), "name": "laptop"}
    ).get_data(as_text=True)
    secret = re.search(r'value="(mr_[^"]+)"', created)
    assert secret
    return secret.group(1)


def test_export_holds_everything_and_no_secret(client: FlaskClient, auth: dict[str, str]) -> None:
    token = person_with_everything(client, auth)
    mine = {"Authorization": f"Bearer {token}"}
    exported = client.get("/api/v1/users/ada/export", headers=mine)
    assert exported.status_code == 200
    data: dict[str, Any] = exported.get_json()
    assert data["user"]["id"] == "ada" and data["account"]["username"] == "ada"
    assert [(r["movie_id"], r["rating"]) for r in data["ratings"]] == [("m1", 4.0), ("m2", 5.0)]
    assert [f["type"] for f in data["feedback"]] == ["watchlist"]
    kinds = [(e["kind"], e["feedback"]) for e in data["rating_events"]]
    assert kinds == [
        ("created", None),
        ("created", None),
        ("updated", None),
        ("created", "watchlist"),
    ]
    assert [t["name"] for t in data["api_tokens"]] == ["laptop"] and data["web_sessions"]
    text = exported.get_data(as_text=True)
    assert token not in text and "hash" not in text  # no secret, nor its digest
    page = client.get("/profile/export.json")
    assert page.status_code == 200 and page.get_json()["user"]["id"] == "ada"
    assert "attachment" in page.headers["Content-Disposition"]
    client.post("/api/v1/users", json={"id": "bob"}, headers=auth)
    assert client.get("/api/v1/users/bob/export", headers=mine).status_code == 403  # not theirs
    assert get_ok(client, "/api/v1/users/bob/export")["ratings"] == []  # the service key may
    assert client.delete("/api/v1/users/bob", headers=mine).status_code == 403
    assert client.delete("/api/v1/users/bob").status_code == 401


def test_erasure_leaves_no_row_and_no_cache_key(
    client: FlaskClient, auth: dict[str, str], database: Database, redis_client: redis.Redis
) -> None:
    token = person_with_everything(client, auth)
    cache = client.application.extensions["movierec.serving"].cache
    for algorithm in ("als", "auto"):  # as a worker writes them
        kept = CachedList(1, algorithm, np.array([1], np.int32), np.array([1.0], np.float32))
        cache.store_user_lists(algorithm, [("ada", kept)])
    assert len([key for key in redis_client.scan_iter("*") if b"ada" in key]) == 2
    assert sum(rows_of(database, "ada").values()) > 9
    erased = client.delete("/api/v1/users/ada", headers={"Authorization": f"Bearer {token}"})
    assert erased.status_code == 204
    assert rows_of(database, "ada") == {}
    with database.transaction() as session:
        for table in PERSONAL_TABLES[1:]:  # nothing of anyone: ada was the only person
            assert session.scalar(select(func.count()).select_from(table)) == 0, table
    assert not [key for key in redis_client.scan_iter("*") if b"ada" in key]
    assert client.get("/api/v1/users/ada", headers=SERVICE_AUTH).status_code == 404
    assert client.get("/for-you").status_code == 302  # the page session ended with it
    assert client.delete("/api/v1/users/ada", headers=SERVICE_AUTH).status_code == 404


def test_the_profile_erases_only_with_the_password(
    client: FlaskClient, auth: dict[str, str], database: Database
) -> None:
    person_with_everything(client, auth)
    assert "<title>Your profile · movierec</title>" in client.get("/profile").get_data(as_text=True)
    wrong = client.post(
        "/profile/erase",
        data={"csrf_token": csrf_token(client, "/profile"), "password": "not it"},
        follow_redirects=True,
    )
    assert "That is not your password: nothing was deleted." in wrong.get_data(as_text=True)
    assert rows_of(database, "ada")
    done = client.post(
        "/profile/erase",
        data={"csrf_token": csrf_token(client, "/profile"), "password": PASSWORD},
        follow_redirects=True,
    )
    assert "Your account and everything stored about you are deleted." in done.get_data(
        as_text=True
    )
    assert rows_of(database, "ada") == {}
    assert client.get("/profile").status_code == 302  # signed out
