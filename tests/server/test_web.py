"""The web pages through Flask's test client: accounts, CSRF, throttling, rating forms, personal
tokens, the admin page's access rules and the error pages. (The browser tests in tests/e2e drive
the same pages in chromium with a real worker.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, request
from flask.testing import FlaskClient
from sqlalchemy import func, select

from server import create_app
from server.db import Database
from server.models import ChampionSet, Rating, RatingEvent
from server.services.accounts import set_password

PASSWORD = "correct horse battery"


def csrf_token(client: FlaskClient, path: str) -> str:
    """The CSRF token of the form on ``path``."""
    html = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def sign_up(client: FlaskClient, username: str) -> None:
    """Create an account and stay signed in."""
    token = csrf_token(client, "/signup")
    response = client.post(
        "/signup",
        data={"csrf_token": token, "username": username, "password": PASSWORD, "confirm": PASSWORD},
    )
    assert response.status_code == 302 and response.headers["Location"] == "/welcome"


def log_in(client: FlaskClient, username: str, password: str = PASSWORD) -> Any:
    token = csrf_token(client, "/login")
    return client.post(
        "/login", data={"csrf_token": token, "username": username, "password": password}
    )


@pytest.fixture
def movie(client: FlaskClient, auth: dict[str, str]) -> str:
    """One movie in the catalogue; its id."""
    body = {"id": "m1", "title": "Alien", "year": 1979, "genres": ["Horror", "Sci-Fi"]}
    assert client.post("/api/v1/movies", json=body, headers=auth).status_code == 201
    return "m1"


def test_sign_up_errors_are_shown_by_their_field_with_the_input_kept(client: FlaskClient) -> None:
    token = csrf_token(client, "/signup")
    response = client.post(
        "/signup",
        data={"csrf_token": token, "username": "no spaces!", "password": "short", "confirm": "x"},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'value="no spaces!"' in html
    assert 'id="password-error"' in html and 'id="confirm-error"' in html
    assert "The passwords differ." in html


def test_a_taken_username_is_refused(client: FlaskClient, auth: dict[str, str]) -> None:
    client.post("/api/v1/users", json={"id": "bob"}, headers=auth)
    token = csrf_token(client, "/signup")
    response = client.post(
        "/signup",
        data={"csrf_token": token, "username": "bob", "password": PASSWORD, "confirm": PASSWORD},
    )
    assert response.status_code == 400
    assert "is taken" in response.get_data(as_text=True)


def test_log_in_and_out(client: FlaskClient) -> None:
    sign_up(client, "ada")
    logout = client.post("/logout", data={"csrf_token": csrf_token(client, "/for-you")})
    assert logout.status_code == 302
    assert client.get("/for-you").status_code == 302  # to the login page
    wrong = log_in(client, "ada", "not the password")
    assert wrong.status_code == 400
    assert "Wrong username or password." in wrong.get_data(as_text=True)
    assert log_in(client, "ada").headers["Location"] == "/for-you"
    assert client.get("/for-you").status_code == 200


def test_the_api_ignores_the_session_cookie(client: FlaskClient, movie: str) -> None:
    """A signed-in browser's cookie neither authenticates an API call nor gets refreshed by
    API reads: the API's credentials are bearer tokens only."""
    sign_up(client, "ada")
    write = client.put(f"/api/v1/users/ada/ratings/{movie}", json={"rating": 4.0})
    assert write.status_code == 401
    read = client.get(f"/api/v1/movies/{movie}")
    assert read.status_code == 200 and "Set-Cookie" not in read.headers
    assert client.get("/api/v1/users/ada/recommendations").status_code == 401
    assert client.get("/for-you").status_code == 200  # still signed in on the pages


def test_api_requests_open_no_session(app: Flask) -> None:
    sessions = app.session_interface
    for path, null in (("/api/v1/movies", True), ("/apiary", False), ("/for-you", False)):
        with app.test_request_context(path):
            assert sessions.is_null_session(sessions.open_session(app, request)) is null


def test_forms_without_their_csrf_token_are_refused(client: FlaskClient, movie: str) -> None:
    refused = client.post("/login", data={"username": "ada", "password": PASSWORD})
    assert refused.status_code == 400 and refused.mimetype == "text/html"
    sign_up(client, "ada")
    forged = client.post(f"/movies/{movie}/rating", data={"rating": "5"})
    assert forged.status_code == 400
    assert "another site" in forged.get_data(as_text=True)


def test_sign_in_attempts_are_throttled(settings: dict[str, Any]) -> None:
    client = create_app(settings | {"login_attempts_per_minute": 3}).test_client()
    sign_up(client, "ada")
    client.post("/logout", data={"csrf_token": csrf_token(client, "/for-you")})
    statuses = [log_in(client, "ada", "wrong password").status_code for _ in range(4)]
    assert statuses == [400, 400, 400, 429]
    assert log_in(client, "ada").status_code == 429  # even the right password, for a minute


def test_rating_from_a_movie_page(client: FlaskClient, movie: str, database: Database) -> None:
    sign_up(client, "ada")
    page = client.get(f"/movies/{movie}").get_data(as_text=True)
    assert "Alien" in page and "Not rated yet." in page
    assert re.search(r'<input[^>]*hidden[^>]*name="remove"', page)  # nothing to remove yet
    token = csrf_token(client, f"/movies/{movie}")
    saved = client.post(
        f"/movies/{movie}/rating",
        data={"csrf_token": token, "rating": "4.5"},
        headers={"Accept": "application/json"},
    )
    assert saved.get_json() == {
        "movie_id": movie,
        "rating": 4.5,
        "average": {"mean": 4.5, "count": 1},  # the page shows the new average at once
    }
    assert "You rated it 4.5 stars." in client.get(f"/movies/{movie}").get_data(as_text=True)
    client.post(f"/movies/{movie}/rating", data={"csrf_token": token, "rating": "1"})
    page = client.get(f"/movies/{movie}").get_data(as_text=True)
    assert "You rated it 1 star." in page and 'title="1 star"' in page
    assert 'title="0.5 stars"' in page
    bad = client.post(
        f"/movies/{movie}/rating",
        data={"csrf_token": token, "rating": "7"},
        headers={"Accept": "application/json"},
    )
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "rating"
    removed = client.post(f"/movies/{movie}/rating", data={"csrf_token": token, "remove": "x"})
    assert removed.status_code == 302
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Rating)) == 0
        kinds = session.scalars(select(RatingEvent.kind).order_by(RatingEvent.id)).all()
    assert kinds == ["created", "updated", "deleted"]


def test_personal_tokens_act_only_for_their_user(
    client: FlaskClient, movie: str, auth: dict[str, str]
) -> None:
    client.post("/api/v1/users", json={"id": "someone-else"}, headers=auth)
    sign_up(client, "ada")
    created = client.post(
        "/profile/tokens", data={"csrf_token": csrf_token(client, "/profile"), "name": "laptop"}
    )
    secret = re.search(r'value="(mr_[^"]+)"', created.get_data(as_text=True))
    assert secret
    assert created.get_data(as_text=True).count("Copy it now") == 1  # said once, not twice
    bearer = {"Authorization": f"Bearer {secret.group(1)}"}
    mine = client.put(f"/api/v1/users/ada/ratings/{movie}", json={"rating": 3}, headers=bearer)
    assert mine.status_code == 201
    theirs = f"/api/v1/users/someone-else/ratings/{movie}"
    assert client.put(theirs, json={"rating": 3}, headers=bearer).status_code == 403
    assert client.post("/api/v1/users", json={"id": "x"}, headers=bearer).status_code == 403
    profile = client.get("/profile").get_data(as_text=True)
    assert "laptop" in profile and secret.group(1) not in profile  # shown once only
    assert 'autocomplete="None"' not in profile
    assert "/api/v1/users/ada/ratings/MOVIE_ID" in created.get_data(as_text=True)  # whose id
    token_id = re.search(r"/profile/tokens/(\d+)/revoke", profile)
    assert token_id
    client.post(
        f"/profile/tokens/{token_id.group(1)}/revoke",
        data={"csrf_token": csrf_token(client, "/profile")},
    )
    again = client.put(f"/api/v1/users/ada/ratings/{movie}", json={"rating": 4}, headers=bearer)
    assert again.status_code == 401


def test_the_admin_page_is_for_admins(client: FlaskClient, app: Flask, database: Database) -> None:
    assert client.get("/admin").status_code == 302  # visitors are asked to log in
    sign_up(client, "ada")
    denied = client.get("/admin")
    assert denied.status_code == 403 and "for administrators" in denied.get_data(as_text=True)
    with database.transaction() as session:
        set_password(session, "ada", PASSWORD, role="admin")
    assert client.get("/admin").status_code == 302  # a new password ends every session
    assert log_in(client, "ada").status_code == 302
    with database.transaction() as session:  # champions chosen twice: the page lists them
        for number in (1, 2):
            status = "retired" if number == 1 else "active"
            session.add(
                ChampionSet(choice={}, cause=f"choice {number}", status=status, chosen_at=0)
            )
    page = client.get("/admin")
    assert page.status_code == 200
    assert "Event backlog" in page.get_data(as_text=True)
    assert "(1970-01-01T00:00:00Z): choice 1" in page.get_data(as_text=True)
    assert "Train als" in page.get_data(as_text=True)
    wrong = client.post(
        "/admin/import",
        data={"csrf_token": csrf_token(client, "/admin"), "path": "/no/such/dataset"},
    )
    html = wrong.get_data(as_text=True)
    assert wrong.status_code == 400  # said at once, by the field, nothing queued
    assert 'id="path-error"' in html and "/no/such/dataset" in html.split('id="path-error"')[1]
    assert 'value="/no/such/dataset"' in html  # the input kept


def test_an_unknown_page_is_an_html_404(client: FlaskClient) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert "There is no such page." in response.get_data(as_text=True)
    assert client.get("/movies/not-a-movie").status_code == 404


def test_the_stylesheet_closes_every_block_it_opens() -> None:
    """A stray or missing brace silently drops the rules after it in every browser."""
    depth = 0
    stylesheet = (Path(__file__).parents[2] / "server" / "static" / "style.css").read_text()
    for number, line in enumerate(stylesheet.splitlines(), 1):
        depth += line.count("{") - line.count("}")
        assert depth >= 0, f"style.css line {number} closes a block never opened"
    assert depth == 0, "style.css leaves a block open"
