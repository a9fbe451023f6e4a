"""Ratings over the API: create/update/delete, idempotency, events in the outbox, bad input."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from server.db import Database
from server.models import Rating, RatingEvent
from tests.server.test_errors import assert_error

RATING = "/api/v1/users/u1/ratings/m1"


@pytest.fixture
def people(client: FlaskClient, auth: dict[str, str]) -> None:
    """A user u1 and movies m1, m2."""
    assert client.post("/api/v1/users", json={"id": "u1"}, headers=auth).status_code == 201
    for movie in ("m1", "m2"):
        body = {"id": movie, "title": movie}
        assert client.post("/api/v1/movies", json=body, headers=auth).status_code == 201


def events(database: Database) -> list[tuple[str, int | None]]:
    with database.transaction() as session:
        rows = session.execute(
            select(RatingEvent.kind, RatingEvent.half_stars).order_by(RatingEvent.id)
        )
        return [(kind, half) for kind, half in rows]


@pytest.mark.usefixtures("people")
def test_put_creates_then_updates_then_is_idempotent(
    client: FlaskClient, auth: dict[str, str], database: Database
) -> None:
    first = client.put(RATING, json={"rating": 4.5}, headers=auth)
    assert first.status_code == 201
    assert first.get_json()["rating"] == 4.5
    assert client.put(RATING, json={"rating": 3}, headers=auth).status_code == 200
    assert client.put(RATING, json={"rating": 3}, headers=auth).status_code == 200
    assert client.get(RATING, headers=auth).get_json()["rating"] == 3.0
    assert events(database) == [("created", 9), ("updated", 6)]  # the repeat wrote no event


@pytest.mark.usefixtures("people")
def test_delete_removes_and_records_event(
    client: FlaskClient, auth: dict[str, str], database: Database
) -> None:
    client.put(RATING, json={"rating": 2.5}, headers=auth)
    assert client.delete(RATING, headers=auth).status_code == 204
    assert_error(client.get(RATING, headers=auth), 404, "rating_not_found")
    assert_error(client.delete(RATING, headers=auth), 404, "rating_not_found")
    assert events(database) == [("created", 5), ("deleted", None)]


@pytest.mark.usefixtures("people")
def test_lists_of_a_users_and_a_movies_ratings(client: FlaskClient, auth: dict[str, str]) -> None:
    client.post("/api/v1/users", json={"id": "u2"}, headers=auth)
    client.put(RATING, json={"rating": 4}, headers=auth)
    client.put("/api/v1/users/u1/ratings/m2", json={"rating": 2}, headers=auth)
    client.put("/api/v1/users/u2/ratings/m1", json={"rating": 5}, headers=auth)
    mine = client.get("/api/v1/users/u1/ratings", headers=auth).get_json()
    assert mine["total"] == 2
    assert {(r["movie_id"], r["rating"]) for r in mine["items"]} == {("m1", 4.0), ("m2", 2.0)}
    movie = client.get("/api/v1/movies/m1/ratings?limit=1", headers=auth).get_json()
    assert movie["count"] == 2 and movie["mean"] == 4.5 and len(movie["items"]) == 1
    assert client.get("/api/v1/movies/m1").get_json()["rating"] == {"mean": 4.5, "count": 2}


@pytest.mark.usefixtures("people")
@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"rating": 0}, "invalid_rating"),
        ({"rating": 5.5}, "invalid_rating"),
        ({"rating": 3.7}, "invalid_rating"),
        ({"rating": -1}, "invalid_rating"),
        ({"rating": "4"}, "invalid_rating"),
        ({"rating": True}, "invalid_rating"),
        ({"rating": None}, "invalid_rating"),
        ({"rating": 1e400}, "invalid_rating"),
        ({}, "missing_field"),
        ({"rating": 4, "extra": 1}, "unknown_field"),
    ],
)
def test_bad_ratings_are_400_and_write_nothing(
    client: FlaskClient, auth: dict[str, str], database: Database, body: dict[str, Any], code: str
) -> None:
    field = "extra" if code == "unknown_field" else "rating"
    assert_error(client.put(RATING, json=body, headers=auth), 400, code, field)
    with database.transaction() as session:
        assert session.scalars(select(Rating)).all() == []
    assert events(database) == []


@pytest.mark.usefixtures("people")
def test_nan_rating_is_400(client: FlaskClient, auth: dict[str, str]) -> None:
    response = client.put(
        RATING, data='{"rating": NaN}', content_type="application/json", headers=auth
    )
    assert_error(response, 400, "invalid_rating", "rating")


@pytest.mark.usefixtures("people")
def test_unknown_user_or_movie_is_404(client: FlaskClient, auth: dict[str, str]) -> None:
    assert_error(
        client.put("/api/v1/users/zz/ratings/m1", json={"rating": 4}, headers=auth),
        404,
        "user_not_found",
    )
    assert_error(
        client.put("/api/v1/users/u1/ratings/zz", json={"rating": 4}, headers=auth),
        404,
        "movie_not_found",
    )


@pytest.mark.usefixtures("people")
def test_writes_need_the_api_key(client: FlaskClient) -> None:
    assert_error(client.put(RATING, json={"rating": 4}), 401, "unauthorized")
    assert_error(client.delete(RATING), 401, "unauthorized")


@pytest.mark.usefixtures("people")
@pytest.mark.parametrize("path", ["/api/v1/users/u1/ratings", "/api/v1/movies/m1/ratings"])
def test_ratings_lists_refuse_offsets_beyond_64_bits(
    client: FlaskClient, auth: dict[str, str], path: str
) -> None:
    client.put(RATING, json={"rating": 4}, headers=auth)
    too_far = client.get(f"{path}?offset=9223372036854775808", headers=auth)
    assert_error(too_far, 400, "invalid_offset", "offset")  # a 500 before
    last = client.get(f"{path}?offset=9223372036854775807", headers=auth)
    assert last.status_code == 200 and last.get_json()["items"] == []


@pytest.mark.usefixtures("people")
@pytest.mark.parametrize("body", [{"rating": 4.0}, {"rating": 4}, {"rating": 0.5}, {"rating": 5}])
def test_every_rating_the_document_allows_is_accepted(
    client: FlaskClient, auth: dict[str, str], body: dict[str, Any]
) -> None:
    assert client.put(RATING, json=body, headers=auth).status_code in (200, 201)
