"""Feedback besides stars on the pages: every card's "+ Watchlist" and "Not interested"
buttons (with JavaScript's JSON answer and without it), their undo, and the watchlist page."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from server.db import Database
from server.models import Feedback
from server.services.accounts import create_account
from tests.server.test_web import PASSWORD, csrf_token, log_in, sign_up

JSON = {"Accept": "application/json"}


@pytest.fixture
def movie(client: FlaskClient, auth: dict[str, str]) -> str:
    """One movie in the catalogue; its id."""
    body = {"id": "m1", "title": "Alien", "year": 1979, "genres": ["Horror", "Sci-Fi"]}
    assert client.post("/api/v1/movies", json=body, headers=auth).status_code == 201
    return "m1"


def press(client: FlaskClient, kind: str, action: str, **extra: str) -> object:
    token = csrf_token(client, "/movies")
    form = {"csrf_token": token, "movie_id": "m1", "type": kind, "change": action} | extra
    return client.post("/feedback", data=form, **({} if extra.get("next") else {"headers": JSON}))


def stored(database: Database) -> list[str]:
    with database.transaction() as session:
        return sorted(session.scalars(select(Feedback.type)))


def test_cards_carry_feedback_buttons_for_signed_in_people_only(
    client: FlaskClient, movie: str
) -> None:
    assert "Not interested" not in client.get("/movies").get_data(as_text=True)
    sign_up(client, "ada")
    page = client.get("/movies").get_data(as_text=True)
    assert 'aria-label="+ Watchlist: Alien"' in page
    assert 'aria-label="Not interested: Alien"' in page


def test_watchlist_and_not_interested_with_their_undo(
    client: FlaskClient, movie: str, database: Database
) -> None:
    sign_up(client, "ada")
    added = press(client, "watchlist", "add")
    assert added.get_json() == {"movie_id": "m1", "type": "watchlist", "given": True}
    assert stored(database) == ["watchlist"]
    page = client.get("/watchlist").get_data(as_text=True)
    wanted = page.split('id="refused"')[0]
    assert "Alien" in wanted and 'aria-pressed="true"' in wanted  # the toggle shows it is on
    # Without JavaScript: the form posts, the page it was on comes back with what happened.
    refused = press(client, "not_interested", "add", next="/movies?q=ali")
    assert refused.status_code == 302 and refused.headers["Location"] == "/movies?q=ali"
    assert "won&#39;t see it suggested again" in client.get("/movies").get_data(as_text=True)
    assert stored(database) == ["not_interested"]  # refusing it took it off the watchlist
    wanted_part, refused_part = (
        client.get("/watchlist").get_data(as_text=True).split('id="refused"')
    )
    assert "Alien" not in wanted_part.split('id="wanted"')[1]
    assert 'aria-label="Undo not interested: Alien"' in refused_part
    assert press(client, "not_interested", "remove").status_code == 200
    assert press(client, "watchlist", "remove").status_code == 404  # nothing to take back
    assert stored(database) == []


def test_bad_presses_are_refused_and_outside_addresses_never_followed(
    client: FlaskClient, movie: str, database: Database
) -> None:
    visitor = client.post("/feedback", data={"csrf_token": csrf_token(client, "/login")})
    assert visitor.status_code == 302 and "/login" in visitor.headers["Location"]
    sign_up(client, "ada")
    token = csrf_token(client, "/movies")
    forged = client.post(
        "/feedback", data={"movie_id": "m1", "type": "watchlist", "change": "add"}, headers=JSON
    )
    assert forged.status_code == 400
    unknown = press(client, "like", "add")
    assert unknown.status_code == 400 and unknown.get_json()["error"]["field"] == "type"
    missing = client.post(
        "/feedback",
        data={"csrf_token": token, "movie_id": "nope", "type": "watchlist", "change": "add"},
        headers=JSON,
    )
    assert missing.status_code == 409
    for outside in ("//evil.example/", "/\t/evil.example", "https://evil.example/", "/\\evil"):
        back = press(client, "watchlist", "add", next=outside)
        assert back.headers["Location"] == "/watchlist", outside
        assert not re.match(r"^(https?:)?//", back.headers["Location"])
    assert stored(database) == ["watchlist"]


def test_the_movie_page_has_the_buttons_and_a_hidden_movie_is_for_admins_only(
    client: FlaskClient, app: Flask, movie: str, auth: dict[str, str], database: Database
) -> None:
    sign_up(client, "ada")
    page = client.get(f"/movies/{movie}").get_data(as_text=True)
    assert 'aria-label="+ Watchlist: Alien"' in page and 'href="/watchlist"' in page
    assert (
        client.patch(f"/api/v1/movies/{movie}", json={"hidden": True}, headers=auth).status_code
        == 200
    )
    assert client.get(f"/movies/{movie}").status_code == 404  # as the API answers people
    with database.transaction() as session:
        create_account(session, "root", PASSWORD, "admin")
    admin = app.test_client()
    log_in(admin, "root")
    assert admin.get(f"/movies/{movie}").status_code == 200


def test_a_hidden_movie_leaks_through_no_page(
    client: FlaskClient, app: Flask, movie: str, auth: dict[str, str], database: Database
) -> None:
    sign_up(client, "ada")
    assert press(client, "watchlist", "add").status_code == 200
    assert (
        client.patch(f"/api/v1/movies/{movie}", json={"hidden": True}, headers=auth).status_code
        == 200
    )
    token = csrf_token(client, "/movies")
    assert client.get(f"/movies/{movie}/poster.svg").status_code == 404  # the title is drawn
    form = {"csrf_token": token, "rating": "4"}
    assert client.post(f"/movies/{movie}/rating", data=form, headers=JSON).status_code == 404
    assert "Alien" not in client.get("/watchlist").get_data(as_text=True)
    assert press(client, "not_interested", "add").status_code == 409  # as for no such movie
    visitor = app.test_client()
    token = csrf_token(visitor, "/login")
    form = {"csrf_token": token, "rating": "5"}
    assert visitor.post(f"/movies/{movie}/rating", data=form, headers=JSON).status_code == 404
    assert visitor.get("/for-you").status_code == 302  # nothing kept: no "For you" yet
    assert visitor.get(f"/movies/{movie}/poster.svg").status_code == 404
    assert visitor.get(f"/api/v1/movies/{movie}/similar").status_code == 404
    with database.transaction() as session:
        create_account(session, "root", PASSWORD, "admin")
    admin = app.test_client()
    log_in(admin, "root")
    drawn = admin.get(f"/movies/{movie}/poster.svg")
    assert drawn.status_code == 200 and "private" in drawn.headers["Cache-Control"]
    assert admin.get(f"/movies/{movie}").status_code == 200  # with no list of its own
