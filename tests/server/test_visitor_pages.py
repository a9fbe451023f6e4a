"""A visitor on the pages (issue 17, part 4): stars on a movie page kept in the session cookie
(with CSRF, capped, never a row), a "For you" from them with an invitation to sign up, and
signing up or in keeping them as the account's ratings through the rating operation (events
included), never over a rating the account has."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from server.db import Database
from server.models import Rating, RatingEvent
from server.web.session import MAX_VISITOR_RATINGS, VISITOR_RATINGS_KEY
from tests.conftest import get_ok
from tests.server.test_pages import FILLERS, catalogue  # noqa: F401 (a fixture)
from tests.server.test_web import PASSWORD, csrf_token, log_in, sign_up


def rate(client: FlaskClient, movie: str, stars: str, **extra: str) -> Any:
    """Rate ``movie`` from its page, as the page's script does."""
    token = csrf_token(client, "/movies/1")  # one token per session, on every form
    return client.post(
        f"/movies/{movie}/rating",
        data={"csrf_token": token, "rating": stars, **extra},
        headers={"Accept": "application/json"},
    )


def counts(database: Database) -> tuple[int, int]:
    """How many ratings and rating events are stored."""
    with database.transaction() as session:
        ratings = session.scalar(select(func.count()).select_from(Rating)) or 0
        events = session.scalar(select(func.count()).select_from(RatingEvent)) or 0
    return ratings, events


def headings(page: str) -> list[str]:
    return re.findall(r'<h2 id="[^"]+-title">([^<]+)</h2>', page)


def card_ids(page: str) -> list[str]:
    return re.findall(r'class="card-title"><a href="/movies/([^"]+)"', page)


@pytest.mark.usefixtures("catalogue")
def test_a_visitor_rates_in_the_session_and_gets_a_for_you(
    client: FlaskClient, database: Database
) -> None:
    assert client.get("/for-you").status_code == 302  # nothing rated yet: asked to log in
    stored = counts(database)
    page = client.get("/movies/1").get_data(as_text=True)
    assert "Not rated yet." in page and "sign up</a> or" in page
    saved = rate(client, "1", "4.5")
    assert saved.status_code == 200
    assert saved.get_json() == {
        "movie_id": "1",
        "rating": 4.5,
        "average": {"mean": 4.5, "count": 3},  # a visitor's stars count for nobody else
    }
    assert rate(client, "4", "5").status_code == 200
    assert rate(client, "6", "1").status_code == 200
    assert counts(database) == stored  # nothing stored
    assert "You rated it 4.5 stars." in client.get("/movies/1").get_data(as_text=True)
    page = client.get("/for-you").get_data(as_text=True)
    assert "From the 3 movies you rated on this visit" in page and "/signup" in page
    shown = headings(page)
    assert shown[0] == "Top picks for you" and "Because you rated Alien 5★" in shown
    assert not {"1", "4", "6"} & set(card_ids(page))  # never a movie they rated
    assert re.search(r'<nav aria-label="Main">.*href="/for-you"', page, re.S)
    removed = rate(client, "6", "", remove="x")
    assert removed.get_json()["rating"] is None
    with client.session_transaction() as cookie:
        assert cookie[VISITOR_RATINGS_KEY] == {"1": 9, "4": 10}


@pytest.mark.usefixtures("catalogue")
def test_a_visitor_s_stars_are_checked_and_need_their_csrf_token(client: FlaskClient) -> None:
    unknown = rate(client, "no-such-movie", "4")
    assert unknown.status_code == 404 and unknown.get_json()["error"]["code"] == "movie_not_found"
    bad = rate(client, "1", "7")
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "rating"
    forged = client.post("/movies/1/rating", data={"rating": "5"})
    assert forged.status_code == 400
    with client.session_transaction() as cookie:
        assert VISITOR_RATINGS_KEY not in cookie


@pytest.mark.usefixtures("catalogue")
def test_the_session_keeps_the_newest_ratings_only(client: FlaskClient) -> None:
    movies = [movie["id"] for movie in FILLERS[: MAX_VISITOR_RATINGS + 5]]
    for movie in movies:
        assert rate(client, movie, "3").status_code == 200
    with client.session_transaction() as cookie:
        assert list(cookie[VISITOR_RATINGS_KEY]) == movies[-MAX_VISITOR_RATINGS:]
    assert f"From the {MAX_VISITOR_RATINGS} movies" in client.get("/for-you").get_data(as_text=True)


@pytest.mark.usefixtures("catalogue")
def test_a_cookie_s_unknown_movies_are_ignored(client: FlaskClient) -> None:
    """The cookie is signed, but a movie in it may have left the catalogue since."""
    rate(client, "4", "5")
    with client.session_transaction() as cookie:
        cookie[VISITOR_RATINGS_KEY] = {"gone": 10, "4": 10, "bad": "x"}
    page = client.get("/for-you")
    assert page.status_code == 200 and "From the 1 movie you rated" in page.get_data(as_text=True)
    sign_up(client, "ada")
    kept = get_ok(client, "/api/v1/users/ada/ratings")["items"]
    assert [(r["movie_id"], r["rating"]) for r in kept] == [("4", 5.0)]


@pytest.mark.usefixtures("catalogue")
def test_signing_up_keeps_the_visit_s_ratings(client: FlaskClient, database: Database) -> None:
    rate(client, "1", "4.5")
    rate(client, "4", "5")
    assert "Signing up keeps the 2 ratings of this visit." in client.get("/signup").get_data(
        as_text=True
    )
    before = counts(database)
    sign_up(client, "ada")
    assert counts(database) == (before[0] + 2, before[1] + 2)  # with their events, as any rating
    kept = get_ok(client, "/api/v1/users/ada/ratings")["items"]
    assert {(r["movie_id"], r["rating"]) for r in kept} == {("1", 4.5), ("4", 5.0)}
    with client.session_transaction() as cookie:
        assert VISITOR_RATINGS_KEY not in cookie
    welcome = client.get("/welcome").get_data(as_text=True)
    assert "Kept 2 ratings of your visit." in welcome
    assert "You rated it 4.5 stars." in client.get("/movies/1").get_data(as_text=True)
    assert "Because you rated Alien 5★" in headings(client.get("/for-you").get_data(as_text=True))


@pytest.mark.usefixtures("catalogue")
def test_logging_in_adds_the_visit_s_ratings_without_overwriting(client: FlaskClient) -> None:
    sign_up(client, "ada")
    rate(client, "1", "2")  # the account's own rating
    client.post("/logout", data={"csrf_token": csrf_token(client, "/for-you")})
    rate(client, "1", "5")
    rate(client, "4", "4")
    assert "Logging in adds the 2 ratings" in client.get("/login").get_data(as_text=True)
    assert log_in(client, "ada", PASSWORD).status_code == 302
    kept = get_ok(client, "/api/v1/users/ada/ratings")["items"]
    assert {(r["movie_id"], r["rating"]) for r in kept} == {("1", 2.0), ("4", 4.0)}
    with client.session_transaction() as cookie:
        assert VISITOR_RATINGS_KEY not in cookie
    said = client.get("/for-you").get_data(as_text=True)
    assert "Kept 1 rating of your visit; 1 you had rated before kept your earlier rating." in said
