"""A visitor's ratings through a live system (issue 17, part 4): kept in the session while they
browse, stored on sign-up through the rating operation, and folded into their cached list by a
real worker from the outbox events, as any rating is."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select

from server.db import Database
from server.models import RatingEvent
from tests.conftest import SERVICE_AUTH
from tests.server.test_web import csrf_token, sign_up
from tests.workers.conftest import wait_for


def unprocessed(database: Database) -> int:
    with database.transaction() as session:
        return (
            session.scalar(
                select(func.count())
                .select_from(RatingEvent)
                .where(RatingEvent.processed_at.is_(None))
            )
            or 0
        )


def events(database: Database) -> int:
    with database.transaction() as session:
        return session.scalar(select(func.count()).select_from(RatingEvent)) or 0


def test_a_visitor_s_ratings_reach_their_list_after_sign_up(
    seeded: Database,
    train: Callable[..., Any],
    worker_factory: Callable[..., Any],
    api: FlaskClient,
) -> None:
    train("als", "content")
    worker_factory()
    wait_for(lambda: unprocessed(seeded) == 0)  # the import's events
    popular = api.get("/api/v1/movies/popular?n=8").get_json()["items"]
    rated = [item["movie_id"] for item in popular[3:8]]
    token = csrf_token(api, f"/movies/{rated[0]}")
    for movie in rated:
        saved = api.post(
            f"/movies/{movie}/rating",
            data={"csrf_token": token, "rating": "5"},
            headers={"Accept": "application/json"},
        )
        assert saved.status_code == 200
    visit = api.get("/for-you").get_data(as_text=True)
    assert "Top picks for you" in visit and "From the 5 movies you rated" in visit
    assert unprocessed(seeded) == 0  # a visitor's stars are no events

    before = events(seeded)
    sign_up(api, "ada")
    assert events(seeded) == before + 5  # one event a kept rating, as any rating writes
    wait_for(lambda: unprocessed(seeded) == 0, timeout=30)  # the worker folded them in
    answer = api.get("/api/v1/users/ada/recommendations", headers=SERVICE_AUTH).get_json()
    assert answer["cached"] and answer["source"] == "als"  # the list the worker wrote
    assert not {item["movie_id"] for item in answer["items"]} & set(rated)
    assert "because" in {item["reason"]["kind"] for item in answer["items"]}
