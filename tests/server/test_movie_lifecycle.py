"""Movies over time (issue 17, part 2): ``PATCH`` and ``DELETE /api/v1/movies/{id}``, hidden
movies and windows of availability as the API shows them, and the set of withheld movies a
process follows (``server.serving.catalogue``) with a clock the test moves. The lists themselves
are in ``tests/workers/test_hidden_movies.py``."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from flask.testing import FlaskClient
from sqlalchemy import func, select

from server.cache.store import Cache
from server.db import Database, now
from server.models import Feedback, Movie, Rating, RatingEvent, User
from server.services.accounts import create_account, create_token
from server.serving.catalogue import Catalogue, announce_change

PASSWORD = "correct horse battery"


@pytest.fixture
def catalogue(client: FlaskClient, auth: dict[str, str]) -> FlaskClient:
    """Two movies (m1 rated by u1) and a user."""
    for movie in (
        {"id": "m1", "title": "Heat", "year": 1995, "genres": ["Crime"], "overview": "LA."},
        {"id": "m2", "title": "Alien", "year": 1979, "genres": ["Horror", "Sci-Fi"]},
    ):
        assert client.post("/api/v1/movies", json=movie, headers=auth).status_code == 201
    assert client.post("/api/v1/users", json={"id": "u1"}, headers=auth).status_code == 201
    rated = client.put("/api/v1/users/u1/ratings/m1", json={"rating": 4}, headers=auth)
    assert rated.status_code == 201
    return client


def patch(client: FlaskClient, auth: dict[str, str], movie: str, body: Any) -> Any:
    return client.patch(f"/api/v1/movies/{movie}", json=body, headers=auth)


def error_of(response: Any, status: int) -> dict[str, Any]:
    """The error of a response in the one JSON shape, which must have ``status``."""
    assert response.status_code == status, response.get_json()
    error: dict[str, Any] = response.get_json()["error"]
    assert set(error) == {"code", "message", "field"}
    return error


def test_a_patch_changes_what_it_names_and_answers_as_get(
    catalogue: FlaskClient, auth: dict[str, str]
) -> None:
    answer = patch(catalogue, auth, "m1", {"title": "Heat (1995)", "overview": None})
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body == catalogue.get("/api/v1/movies/m1").get_json()
    assert body["title"] == "Heat (1995)" and body["overview"] is None
    assert body["year"] == 1995 and body["genres"] == ["Crime"]  # left out: unchanged
    assert body["rating"] == {"mean": 4.0, "count": 1}
    assert (body["hidden"], body["available_from"], body["available_until"]) == (False, None, None)
    body = patch(catalogue, auth, "m1", {"genres": ["Drama", "Crime"], "year": None}).get_json()
    assert body["genres"] == ["Crime", "Drama"] and body["year"] is None
    body = patch(catalogue, auth, "m1", {"available_from": 100, "available_until": 200}).get_json()
    assert (body["available_from"], body["available_until"]) == (100, 200)
    assert patch(catalogue, auth, "m1", {}).get_json()["available_until"] == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": None}, "title"),
        ({"title": " "}, "title"),
        ({"hidden": None}, "hidden"),
        ({"hidden": "yes"}, "hidden"),
        ({"genres": None}, "genres"),
        ({"year": 1700}, "year"),
        ({"year": "1995"}, "year"),
        ({"available_from": -1}, "available_from"),
        ({"available_until": 10**12}, "available_until"),
        ({"tags": ["x"]}, "tags"),
        ({"id": "m9"}, "id"),
    ],
)
def test_a_patch_refuses_bad_fields(
    catalogue: FlaskClient, auth: dict[str, str], body: dict[str, Any], field: str
) -> None:
    assert error_of(patch(catalogue, auth, "m1", body), 400)["field"] == field
    assert catalogue.get("/api/v1/movies/m1").get_json()["title"] == "Heat"


def test_a_window_must_end_after_it_starts(catalogue: FlaskClient, auth: dict[str, str]) -> None:
    both = {"available_from": 200, "available_until": 200}
    assert error_of(patch(catalogue, auth, "m1", both), 409)["code"] == "invalid_window"
    assert patch(catalogue, auth, "m1", {"available_from": 200}).status_code == 200
    # The end given against the start stored, and the other way round.
    error = error_of(patch(catalogue, auth, "m1", {"available_until": 100}), 409)
    assert (error["code"], error["field"]) == ("invalid_window", "available_until")
    assert patch(catalogue, auth, "m1", {"available_until": 300}).status_code == 200
    assert error_of(patch(catalogue, auth, "m1", {"available_from": 400}), 409)
    body = patch(catalogue, auth, "m1", {"available_from": None}).get_json()
    assert (body["available_from"], body["available_until"]) == (None, 300)


def test_unknown_movies_and_bodies_that_are_no_json_object(
    catalogue: FlaskClient, auth: dict[str, str]
) -> None:
    assert error_of(patch(catalogue, auth, "nope", {"hidden": True}), 404)["code"] == (
        "movie_not_found"
    )
    assert error_of(catalogue.delete("/api/v1/movies/nope", headers=auth), 404)
    assert error_of(patch(catalogue, auth, "m1", ["hidden"]), 400)
    not_json = catalogue.patch("/api/v1/movies/m1", data="hidden", headers=auth)
    assert error_of(not_json, 415)


def test_only_the_service_key_and_admins_change_or_delete_movies(
    catalogue: FlaskClient, auth: dict[str, str], database: Database
) -> None:
    with database.transaction() as session:
        tokens = {}
        for name, role in (("ada", "user"), ("root", "admin")):
            account = create_account(session, name, PASSWORD, role)
            tokens[name] = {
                "Authorization": f"Bearer {create_token(session, account.user_id, 'test')[1]}"
            }
    assert error_of(patch(catalogue, {}, "m1", {"hidden": True}), 401)
    assert error_of(patch(catalogue, {"Authorization": "Bearer nope"}, "m1", {}), 401)
    assert error_of(patch(catalogue, tokens["ada"], "m1", {"hidden": True}), 403)
    assert error_of(catalogue.delete("/api/v1/movies/m1"), 401)
    assert error_of(catalogue.delete("/api/v1/movies/m1", headers=tokens["ada"]), 403)
    assert catalogue.get("/api/v1/movies/m1").get_json()["hidden"] is False
    assert patch(catalogue, tokens["root"], "m1", {"hidden": True}).status_code == 200
    assert catalogue.delete("/api/v1/movies/m2", headers=tokens["root"]).status_code == 204


def test_a_hidden_or_unavailable_movie_is_for_the_service_key_and_admins_only(
    catalogue: FlaskClient, auth: dict[str, str], database: Database
) -> None:
    with database.transaction() as session:
        account = create_account(session, "ada", PASSWORD, "user")
        ada = {"Authorization": f"Bearer {create_token(session, account.user_id, 'test')[1]}"}

    def found(headers: dict[str, str]) -> list[str]:
        body = catalogue.get("/api/v1/movies", headers=headers).get_json()
        assert body["total"] == len(body["items"])
        return [movie["id"] for movie in body["items"]]

    assert found({}) == ["m2", "m1"]
    patch(catalogue, auth, "m1", {"hidden": True})
    assert found({}) == found(ada) == ["m2"]
    assert found(auth) == ["m2", "m1"]
    assert error_of(catalogue.get("/api/v1/movies/m1"), 404)["code"] == "movie_not_found"
    assert error_of(catalogue.get("/api/v1/movies/m1", headers=ada), 404)
    assert catalogue.get("/api/v1/movies/m1", headers=auth).get_json()["hidden"] is True
    # Shown again, but its window is over: still withheld; a window open now shows it.
    patch(catalogue, auth, "m1", {"hidden": False, "available_until": 1000})
    assert found({}) == ["m2"]
    patch(catalogue, auth, "m1", {"available_from": 1000, "available_until": None})
    assert found({}) == ["m2", "m1"]
    assert catalogue.get("/api/v1/movies/m1").status_code == 200


def test_delete_takes_the_ratings_feedback_and_events_with_it(
    catalogue: FlaskClient, auth: dict[str, str], database: Database
) -> None:
    with database.transaction() as session:
        movie = session.scalar(select(Movie.id).where(Movie.external_id == "m1"))
        user = session.scalar(select(User.id).where(User.external_id == "u1"))
        assert movie is not None and user is not None
        session.add(Feedback(user_id=user, movie_id=movie, type="like", created_at=now()))
    assert catalogue.delete("/api/v1/movies/m1", headers=auth).status_code == 204
    with database.transaction() as session:
        for table in (Rating, Feedback, RatingEvent):
            left = select(func.count()).select_from(table).where(table.movie_id == movie)
            assert session.scalar(left) == 0, table
    assert error_of(catalogue.get("/api/v1/movies/m1", headers=auth), 404)
    assert error_of(catalogue.delete("/api/v1/movies/m1", headers=auth), 404)
    assert catalogue.get("/api/v1/users/u1/ratings", headers=auth).get_json()["total"] == 0
    # Its id is free again.
    again = {"id": "m1", "title": "Heat"}
    assert catalogue.post("/api/v1/movies", json=again, headers=auth).status_code == 201


def test_the_withheld_set_follows_the_clock_and_the_generation(
    catalogue: FlaskClient, auth: dict[str, str], database: Database, redis_client: redis.Redis
) -> None:
    """A process's set: a window opens and closes as the clock passes it, with no write; a
    change is seen on the next read once announced (and not before: it reads the database only
    when the generation moves)."""
    cache = Cache(redis_client, 60, 20)
    clock = [1_000.0]
    view = Catalogue(clock=lambda: clock[0])
    with database.transaction() as session:
        ids = {ext: movie for ext, movie in session.execute(select(Movie.external_id, Movie.id))}
    assert view.withheld(cache, database.transaction).movies == frozenset()
    with database.transaction() as session:  # changed behind its back: not announced
        movie = session.get(Movie, ids["m1"])
        assert movie is not None
        movie.available_from, movie.available_until = 2_000, 3_000
    assert view.withheld(cache, database.transaction).movies == frozenset()
    announce_change(cache)
    first = view.withheld(cache, database.transaction)
    assert first.movies == {ids["m1"]}
    assert view.withheld(cache, database.transaction) is first  # nothing moved: the same set
    clock[0] = 2_000.0  # the window opens
    assert view.withheld(cache, database.transaction).movies == frozenset()
    clock[0] = 2_999.5
    assert view.withheld(cache, database.transaction).movies == frozenset()
    clock[0] = 3_000.0  # ... and closes
    assert view.withheld(cache, database.transaction).movies == {ids["m1"]}
    # A deletion (announced by the API): withheld by its internal id, its external id gone.
    assert catalogue.delete("/api/v1/movies/m2", headers=auth).status_code == 204
    withheld = view.withheld(cache, database.transaction)
    assert withheld.movies == {ids["m1"], ids["m2"]} and withheld.gone == {"m2"}
    assert withheld.stamp != first.stamp
    # Announced as deleted while a movie has the ids (one made since): not withheld.
    announce_change(cache, [(ids["m1"], "m1")])
    assert view.withheld(cache, database.transaction).gone == {"m2"}
