"""Every error, whatever raised it, has the one JSON shape; a test pins it."""

from __future__ import annotations

import io
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from plugins.algorithms.factorization import SVD
from plugins.registry import Registry, Skipped
from server.errors import NotFound
from server.services.algorithms import require_algorithm


def assert_error(response: Any, status: int, code: str, field: str | None = None) -> None:
    """The response is a JSON error of that status, code and field, in the one shape."""
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "field"}
    assert body["error"]["code"] == code
    assert body["error"]["field"] == field
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


def test_unknown_route_is_json_404(client: FlaskClient) -> None:
    assert_error(client.get("/api/v1/nothing-here"), 404, "not_found")


def test_wrong_method_is_json_405_with_allow(client: FlaskClient) -> None:
    response = client.patch("/api/v1/users")
    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]


def test_missing_api_key_is_401(client: FlaskClient) -> None:
    response = client.post("/api/v1/users", json={"id": "u1"})
    assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_wrong_api_key_is_401(client: FlaskClient) -> None:
    headers = {"Authorization": "Bearer not-the-key"}
    assert_error(
        client.post("/api/v1/users", json={"id": "u1"}, headers=headers), 401, "unauthorized"
    )


def test_malformed_json_is_400(client: FlaskClient, auth: dict[str, str]) -> None:
    response = client.post(
        "/api/v1/users", data="{not json", content_type="application/json", headers=auth
    )
    assert_error(response, 400, "invalid_json")


def test_json_that_is_not_an_object_is_400(client: FlaskClient, auth: dict[str, str]) -> None:
    assert_error(client.post("/api/v1/users", json=[1, 2], headers=auth), 400, "invalid_json")


def test_non_json_body_is_415(client: FlaskClient, auth: dict[str, str]) -> None:
    response = client.post("/api/v1/users", data="id=u1", headers=auth)
    assert_error(response, 415, "unsupported_media_type")


def test_oversized_body_is_413(app: Flask, auth: dict[str, str]) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 1024
    body = '{"id": "u1", "name": "' + "x" * 2000 + '"}'
    response = app.test_client().post(
        "/api/v1/users", data=body, content_type="application/json", headers=auth
    )
    assert_error(response, 413, "payload_too_large")


def test_unexpected_exception_is_json_500_without_details(app: Flask) -> None:
    @app.get("/api/v1/boom")
    def boom() -> str:
        raise RuntimeError("secret internals")

    response = app.test_client().get("/api/v1/boom")
    assert_error(response, 500, "internal_error")
    assert "secret" not in response.get_data(as_text=True)


def test_an_unexpected_exception_on_a_page_is_an_html_500_without_details(app: Flask) -> None:
    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom")
    assert response.status_code == 500 and response.mimetype == "text/html"
    assert "Server error" in response.get_data(as_text=True)
    assert "secret" not in response.get_data(as_text=True)


@pytest.mark.parametrize("depth", [50, 1000, 100_000])
def test_json_nested_deeply_is_a_clean_400(
    client: FlaskClient, auth: dict[str, str], depth: int
) -> None:
    """The JSON parser recurses once per level: 1,000 levels overflowed it (a 500)."""
    body = '{"id": ' + "[" * depth + "]" * depth + "}"
    response = client.post(
        "/api/v1/users", data=body, content_type="application/json", headers=auth
    )
    if depth == 50:
        assert_error(response, 400, "invalid_id", "id")  # parsed, then refused as an id
    else:
        assert_error(response, 400, "invalid_json")


def test_a_chunked_body_over_the_limit_is_413(app: Flask, auth: dict[str, str]) -> None:
    """A chunked body has no Content-Length to check first; Werkzeug stopped reading it at the
    limit, and the truncated JSON was a 400."""
    app.config["MAX_CONTENT_LENGTH"] = 1024
    client = app.test_client()

    def chunked(body: str) -> Any:
        return client.post(
            "/api/v1/users",
            input_stream=io.BytesIO(body.encode()),
            content_type="application/json",
            headers=auth | {"Transfer-Encoding": "chunked"},
            environ_overrides={"wsgi.input_terminated": True},  # as gunicorn says of chunked
        )

    assert_error(chunked('{"id": "u1", "name": "' + "x" * 2000 + '"}'), 413, "payload_too_large")
    assert chunked('{"id": "u1", "name": "Ada"}').status_code == 201


NUL_REQUESTS = [
    ("GET", "/api/v1/users/a%00b", None),
    ("PATCH", "/api/v1/users/a%00b", {"name": "x"}),
    ("GET", "/api/v1/users/a%00b/ratings", None),
    ("PUT", "/api/v1/users/u1/ratings/a%00b", {"rating": 4}),
    ("DELETE", "/api/v1/users/a%00b/ratings/m1", None),
    ("GET", "/api/v1/users/a%00b/recommendations", None),
    ("GET", "/api/v1/users/u1/predictions?movie_id=a%00b", None),
    ("GET", "/api/v1/movies?q=%00", None),
    ("GET", "/api/v1/movies?genre=a%00b", None),
    ("GET", "/api/v1/movies/a%00b", None),
    ("GET", "/api/v1/movies/a%00b/similar", None),
    ("GET", "/api/v1/movies/a%00b/ratings", None),
    ("GET", "/api/v1/movies/popular?genre=a%00b", None),
    ("GET", "/api/v1/movies?a%00b=1", None),
    ("POST", "/api/v1/algorithms/a%00b/retrain", None),
    ("POST", "/api/v1/movies", {"id": "m2", "title": "a\u0000b"}),
    ("POST", "/api/v1/movies", {"id": "m2", "title": "T", "overview": "\u0000"}),
    ("POST", "/api/v1/movies", {"id": "m2", "title": "T", "tags": ["a\u0000"]}),
    ("POST", "/api/v1/users", {"id": "u2", "name": "a\u0000b"}),
    ("POST", "/api/v1/users", {"id": "u2", "a\u0000b": 1}),
]


@pytest.mark.parametrize(("method", "path", "body"), NUL_REQUESTS)
def test_a_nul_character_anywhere_is_a_400(
    client: FlaskClient, auth: dict[str, str], method: str, path: str, body: Any
) -> None:
    """PostgreSQL cannot store a NUL (a 500 there); SQLite's LIKE stopped at it, so ``?q=%00``
    matched every movie."""
    client.post("/api/v1/users", json={"id": "u1"}, headers=auth)
    client.post("/api/v1/movies", json={"id": "m1", "title": "Heat"}, headers=auth)
    response = client.open(path, method=method, json=body, headers=auth)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] == "invalid_character"


@pytest.mark.parametrize("path", ["/movies?q=%00", "/movies/a%00b"])
def test_a_nul_character_on_a_page_is_a_400_page(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 400 and response.mimetype == "text/html"


def test_an_algorithm_request_says_what_is_missing_in_words() -> None:
    registry = Registry(
        {"svd": SVD}, [Skipped("gbm", "gbm needs xgboost: pip install 'movierec[gbm]'")]
    )
    with pytest.raises(NotFound, match=r"^algorithm 'svd' cannot find similar movies$"):
        require_algorithm(registry, "svd", "similar")
    with pytest.raises(NotFound, match=r"^algorithm 'gbm': gbm needs xgboost: pip install"):
        require_algorithm(registry, "gbm", "predict")
    with pytest.raises(NotFound, match=r"^no algorithm 'nope'$"):
        require_algorithm(registry, "nope")
