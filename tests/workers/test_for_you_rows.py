""" "For you" keeps to what a person said everywhere on the page: a movie they refused is in no
row (not only the top picks), and a movie hidden after they rated it takes its "Because you
rated" row away, not the page (found by trying the product as a new user)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask.testing import FlaskClient

from server.db import Database
from server.services.accounts import create_account
from tests.server.test_web import PASSWORD, csrf_token, log_in


def row_movies(page: str) -> dict[str, list[str]]:
    """Each row's heading and the movie ids of its cards."""
    rows: dict[str, list[str]] = {}
    for section in page.split('<section class="row"')[1:]:
        heading = re.search(r"<h2[^>]*>([^<]+)</h2>", section)
        assert heading
        rows[heading.group(1)] = re.findall(
            r'class="card-title"><a href="/movies/([^"]+)"', section
        )
    return rows


def test_refused_movies_leave_every_row_and_a_hidden_seed_only_its_row(
    seeded: Database, train: Callable[..., Any], api: FlaskClient, auth: dict[str, str]
) -> None:
    train("als", "knn-item", "content")
    with seeded.transaction() as session:
        create_account(session, "ada", PASSWORD, "user")
    for movie, stars in (("1", 3.0), ("2", 4.0), ("3", 4.5), ("4", 5.0), ("5", 2.0), ("6", 4.0)):
        assert (
            api.put(
                f"/api/v1/users/ada/ratings/{movie}", json={"rating": stars}, headers=auth
            ).status_code
            == 201
        )
    log_in(api, "ada")
    page = api.get("/for-you").get_data(as_text=True)
    rows = row_movies(page)
    because = [heading for heading in rows if heading.startswith("Because you rated")]
    assert because, rows
    refused = rows[because[0]][0]
    token = csrf_token(api, "/for-you")
    form = {"csrf_token": token, "movie_id": refused, "type": "not_interested", "change": "add"}
    assert (
        api.post("/feedback", data=form, headers={"Accept": "application/json"}).status_code == 200
    )
    after = row_movies(api.get("/for-you").get_data(as_text=True))
    assert all(refused not in movies for movies in after.values()), after
    # Every movie rated 4 stars or more is hidden: their rows go, the page stays.
    for liked in ("2", "3", "4", "6"):
        assert (
            api.patch(f"/api/v1/movies/{liked}", json={"hidden": True}, headers=auth).status_code
            == 200
        )
    hidden = api.get("/for-you")
    assert hidden.status_code == 200
    headings = list(row_movies(hidden.get_data(as_text=True)))
    assert headings[0] == "Top picks for you"
    assert not [heading for heading in headings if heading.startswith("Because you rated")]
