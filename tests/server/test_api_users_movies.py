"""The users and movies endpoints: create, read, search, and their bad input."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from server import create_app
from server.db import Database
from server.models import ModelStatus, ModelVersion
from tests.server.test_errors import assert_error


def make_movie(client: FlaskClient, auth: dict[str, str], movie_id: str, **fields: Any) -> Any:
    body = {"id": movie_id, "title": f"Movie {movie_id}"} | fields
    response = client.post("/api/v1/movies", json=body, headers=auth)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_create_and_read_user(client: FlaskClient, auth: dict[str, str]) -> None:
    response = client.post("/api/v1/users", json={"id": "u42", "name": "Ada"}, headers=auth)
    assert response.status_code == 201
    assert response.headers["Location"].endswith("/api/v1/users/u42")
    user = client.get("/api/v1/users/u42", headers=auth).get_json()
    assert user["id"] == "u42" and user["name"] == "Ada"
    assert user["created_at"].endswith("Z")


def test_duplicate_user_is_409(client: FlaskClient, auth: dict[str, str]) -> None:
    client.post("/api/v1/users", json={"id": "u1"}, headers=auth)
    assert_error(
        client.post("/api/v1/users", json={"id": "u1"}, headers=auth), 409, "user_exists", "id"
    )


def test_unknown_user_is_404(client: FlaskClient, auth: dict[str, str]) -> None:
    assert_error(client.get("/api/v1/users/nobody", headers=auth), 404, "user_not_found")


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({}, "missing_field", "id"),
        ({"id": ""}, "invalid_id", "id"),
        ({"id": "has space"}, "invalid_id", "id"),
        ({"id": "x" * 65}, "invalid_id", "id"),
        ({"id": 42}, "invalid_id", "id"),
        ({"id": "u1", "name": 7}, "invalid_name", "name"),
        ({"id": "u1", "admin": True}, "unknown_field", "admin"),
    ],
)
def test_bad_user_input_is_400_and_changes_nothing(
    client: FlaskClient, auth: dict[str, str], body: dict[str, Any], code: str, field: str
) -> None:
    assert_error(client.post("/api/v1/users", json=body, headers=auth), 400, code, field)
    assert client.get("/api/v1/users/u1", headers=auth).status_code == 404


def test_create_and_read_movie_with_metadata(client: FlaskClient, auth: dict[str, str]) -> None:
    created = make_movie(
        client,
        auth,
        "m7",
        title="Heat",
        year=1995,
        genres=["Crime", "Action"],
        tags=["heist", "heist", "Pacino"],
        overview="A cop and a thief.",
        imdb_id="tt0113277",
        tmdb_id=949,
    )
    assert created["genres"] == ["Crime", "Action"]
    movie = client.get("/api/v1/movies/m7").get_json()
    assert movie["title"] == "Heat" and movie["year"] == 1995
    assert sorted(movie["genres"]) == ["Action", "Crime"]
    assert sorted(movie["tags"]) == ["Pacino", "heist"]
    assert movie["rating"] == {"mean": None, "count": 0}


def test_a_movie_created_with_a_poster_url_shows_it(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    make_movie(client, auth, "m8", title="Ran", poster_path="https://img.example/ran.jpg")
    make_movie(client, auth, "m9", title="Ikiru", poster_path="/ikiru.jpg")
    assert client.get("/api/v1/movies/m8").get_json()["poster_url"] == "https://img.example/ran.jpg"
    # A TMDb path without a poster URL template to join it to: the poster movierec draws.
    assert client.get("/api/v1/movies/m9").get_json()["poster_url"].endswith("/m9/poster.svg")


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"id": "m1"}, "missing_field", "title"),
        ({"id": "m1", "title": "T", "year": "1999"}, "invalid_year", "year"),
        ({"id": "m1", "title": "T", "year": 1200}, "invalid_year", "year"),
        ({"id": "m1", "title": "T", "genres": "Drama"}, "invalid_genres", "genres"),
        ({"id": "m1", "title": "T", "genres": [""]}, "invalid_genres", "genres.0"),
        ({"id": "m1", "title": "T", "imdb_id": "nope"}, "invalid_imdb_id", "imdb_id"),
        ({"id": "m1", "title": "T", "poster_path": "x.jpg"}, "invalid_poster_path", "poster_path"),
        # a C1 control: whitespace to one regex engine, not to another (found by Schemathesis)
        (
            {"id": "m1", "title": "T", "poster_path": "https://a/\u0085x"},
            "invalid_poster_path",
            "poster_path",
        ),
    ],
)
def test_bad_movie_input_is_400(
    client: FlaskClient, auth: dict[str, str], body: dict[str, Any], code: str, field: str
) -> None:
    assert_error(client.post("/api/v1/movies", json=body, headers=auth), 400, code, field)
    assert client.get("/api/v1/movies/m1").status_code == 404


def test_search_movies_by_title_genre_and_year(client: FlaskClient, auth: dict[str, str]) -> None:
    make_movie(client, auth, "1", title="Heat", year=1995, genres=["Crime"])
    make_movie(client, auth, "2", title="The Heat", year=2013, genres=["Comedy"])
    make_movie(client, auth, "3", title="100% Love", year=1995, genres=["Romance"])

    def titles(query: str) -> list[str]:
        return [m["title"] for m in client.get(f"/api/v1/movies?{query}").get_json()["items"]]

    assert titles("q=heat") == ["Heat", "The Heat"]
    assert titles("q=heat&genre=comedy") == ["The Heat"]
    assert titles("year=1995") == ["100% Love", "Heat"]
    assert titles("q=%25") == ["100% Love"]  # '%' is matched literally, not as a wildcard
    page = client.get("/api/v1/movies?limit=1&offset=1").get_json()
    assert page["total"] == 3 and page["limit"] == 1 and len(page["items"]) == 1


@pytest.mark.parametrize(
    ("query", "code", "field"),
    [
        ("year=abc", "invalid_year", "year"),
        ("limit=0", "invalid_limit", "limit"),
        ("limit=5000", "invalid_limit", "limit"),
        ("offset=-1", "invalid_offset", "offset"),
        ("offset=9223372036854775808", "invalid_offset", "offset"),
        ("limit=99999999999999999999", "invalid_limit", "limit"),
        ("year=99999999999999999999", "invalid_year", "year"),
        ("year=1995.5", "invalid_year", "year"),
        ("genre=%20", "invalid_genre", "genre"),
        ("colour=red", "unknown_parameter", "colour"),
    ],
)
def test_bad_movie_queries_are_400(client: FlaskClient, query: str, code: str, field: str) -> None:
    assert_error(client.get(f"/api/v1/movies?{query}"), 400, code, field)


def test_the_largest_64_bit_offset_is_an_empty_page(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    make_movie(client, auth, "1")
    page = client.get("/api/v1/movies?offset=9223372036854775807")
    assert page.status_code == 200 and page.get_json()["items"] == []


def test_the_movie_pages_refuse_a_year_beyond_64_bits(client: FlaskClient) -> None:
    """The pages' own parameters reach the same search (a 500 before; an absurd page number
    shows an empty page: tests/server/test_web_security.py)."""
    response = client.get("/movies?year=99999999999999999999")
    assert response.status_code == 400 and response.mimetype == "text/html"
    assert "out of range" in response.get_data(as_text=True)


def test_an_unknown_genre_is_404_as_a_filter_and_409_as_a_favourite(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    """Well-formed names of genres the catalogue lacks: a filter of nothing that exists (like
    an unknown algorithm), a favourite the user cannot have yet (404 would say the user is
    missing)."""
    make_movie(client, auth, "1", genres=["Drama"])
    assert_error(client.get("/api/v1/movies?genre=Nope"), 404, "genre_not_found", "genre")
    created = client.post(
        "/api/v1/users", json={"id": "u1", "favorite_genres": ["Nope"]}, headers=auth
    )
    assert_error(created, 409, "unknown_genre", "favorite_genres")
    client.post("/api/v1/users", json={"id": "u1"}, headers=auth)
    changed = client.patch("/api/v1/users/u1", json={"favorite_genres": ["Nope"]}, headers=auth)
    assert_error(changed, 409, "unknown_genre", "favorite_genres")
    kept = client.patch("/api/v1/users/u1", json={"favorite_genres": [" Drama "]}, headers=auth)
    assert kept.get_json()["favorite_genres"] == ["Drama"]  # surrounding whitespace is stripped


def test_genres_lists_every_genre(client: FlaskClient, auth: dict[str, str]) -> None:
    make_movie(client, auth, "1", genres=["Drama", "Comedy"])
    assert client.get("/api/v1/genres").get_json() == {"items": ["Comedy", "Drama"]}


def test_similar_movies_without_content_in_the_allow_list_fall_back_to_popularity(
    settings: dict[str, Any], auth: dict[str, str], database: Database
) -> None:
    with database.transaction() as session:  # trained while it was allowed, then left out
        session.add(
            ModelVersion(
                algorithm="content",
                number=1,
                plugin_version="1",
                params={},
                data_version=0,
                rating_count=0,
                metrics={},
                status=ModelStatus.ACTIVE,
                artifact="/nonexistent",
                created_at=0,
            )
        )
    client = create_app(settings | {"algorithms": ["knn-item"]}).test_client()
    make_movie(client, auth, "m1", genres=["Drama"])
    answer = client.get("/api/v1/movies/m1/similar?n=5")
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["source"] == "fallback:popularity"
