"""Every error, whatever raised it, has the one JSON shape; a test pins it."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient


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
