"""Feedback besides stars end to end, with a real worker on the real broker, database and
Redis: ``not_interested`` and watched movies leave a person's list at the next refresh and come
back when undone, a person with feedback alone gets a personal list, and feedback is data a
retrain sees."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask.testing import FlaskClient

from server.db import Database
from tests.workers.conftest import wait_for
from tests.workers.test_pipeline import AUTH, recommended, unprocessed


def give(api: FlaskClient, user: str, movie: str, kind: str) -> int:
    body = {"type": kind, "movie_id": movie}
    return api.post(f"/api/v1/users/{user}/feedback", json=body, headers=AUTH).status_code


def movies_of(answer: dict[str, Any]) -> list[str]:
    return [item["movie_id"] for item in answer["items"]]


def test_refused_and_watched_movies_leave_the_list_and_come_back_when_undone(
    seeded: Database,
    train: Callable[..., Any],
    worker_factory: Callable[..., Any],
    api: FlaskClient,
) -> None:
    train("als", "content")
    worker_factory()
    wait_for(lambda: unprocessed(seeded) == 0)
    top = movies_of(recommended(api, "1"))
    refused, watched, wanted = top[0], top[1], top[2]
    assert give(api, "1", refused, "not_interested") == 201
    assert give(api, "1", watched, "view") == 201
    assert give(api, "1", wanted, "watchlist") == 201

    def refreshed() -> list[str] | None:
        answer = recommended(api, "1")
        shown = movies_of(answer)
        return shown if answer["cached"] and not {refused, watched} & set(shown) else None

    wait_for(lambda: unprocessed(seeded) == 0)  # the worker reports the feedback folded in
    shown = wait_for(refreshed)
    assert wanted in shown  # on the watchlist: still suggested
    undo = api.delete(f"/api/v1/users/1/feedback/not_interested/{refused}", headers=AUTH)
    assert undo.status_code == 204
    wait_for(lambda: unprocessed(seeded) == 0)  # ... and the undo
    wait_for(lambda: refused in movies_of(recommended(api, "1")))


def test_a_person_with_feedback_alone_gets_a_personal_list(
    seeded: Database,
    train: Callable[..., Any],
    worker_factory: Callable[..., Any],
    api: FlaskClient,
) -> None:
    train("als", "content")
    worker_factory()
    assert api.post("/api/v1/users", json={"id": "newcomer"}, headers=AUTH).status_code == 201
    assert recommended(api, "newcomer")["source"].startswith("fallback:")
    liked = movies_of(recommended(api, "1"))[:3]  # someone's taste, as likes
    for movie in liked:
        assert give(api, "newcomer", movie, "like") == 201

    def personal() -> dict[str, Any] | None:
        answer = recommended(api, "newcomer")
        return answer if answer["source"] == "als" else None

    answer = wait_for(personal, timeout=30)
    assert not set(liked) & set(movies_of(answer))  # liked means seen: not suggested again


def test_feedback_is_data_a_retrain_sees(
    seeded: Database, train: Callable[..., Any], api: FlaskClient
) -> None:
    assert [outcome.status for outcome in train("als")] == ["promoted"]
    assert [outcome.status for outcome in train("als")] == ["unchanged"]
    assert give(api, "2", "5", "like") == 201
    assert [outcome.status for outcome in train("als")] != ["unchanged"]
