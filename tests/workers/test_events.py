"""Event handling without a worker process: batches, draining, idempotence, and the web's
announcer publishing many events as one task on the real broker."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from flask.testing import FlaskClient
from kombu import Connection
from sqlalchemy import func, select

from server.config import Settings
from server.db import Database
from server.models import RatingEvent
from server.queue import EVENTS_QUEUE, PROCESS_EVENTS, TaskQueue, broker_url
from tests.conftest import API_KEY
from workers.context import WorkerContext
from workers.events import process_events

AUTH = {"Authorization": f"Bearer {API_KEY}"}


def waiting(database: Database) -> int:
    with database.transaction() as session:
        return session.scalar(select(func.count()).where(RatingEvent.processed_at.is_(None))) or 0


def oldest_waiting(database: Database) -> int | None:
    with database.transaction() as session:
        return session.scalar(
            select(func.min(RatingEvent.id)).where(RatingEvent.processed_at.is_(None))
        )


def rate(api: FlaskClient, user: str, movie: str, stars: float) -> None:
    response = api.put(
        f"/api/v1/users/{user}/ratings/{movie}", json={"rating": stars}, headers=AUTH
    )
    assert response.status_code in (200, 201), response.get_json()


def newest_event_of(database: Database, user_external_id: str) -> int:
    from server.models import User

    with database.transaction() as session:
        return (
            session.scalar(
                select(func.max(RatingEvent.id))
                .join(User, User.id == RatingEvent.user_id)
                .where(User.external_id == user_external_id)
            )
            or 0
        )


def test_one_batch_drains_every_waiting_user_and_repeats_are_no_ops(
    seeded: Database, train: Callable[..., Any], context: WorkerContext, api: FlaskClient
) -> None:
    train("als", "content")
    while oldest := oldest_waiting(seeded):  # the import's events, users of 500 at a time
        assert process_events(context, [oldest]) > 0
    before = api.get("/api/v1/users/7/recommendations?n=20").get_json()
    top = before["items"][0]["movie_id"]
    for user, movie in (("7", top), ("7", "3"), ("8", "4"), ("9", "5")):
        rate(api, user, movie, 5.0)
    assert waiting(seeded) == 4
    asked = newest_event_of(seeded, "9")
    assert process_events(context, [asked]) == 4  # users 7 and 8 came along
    assert waiting(seeded) == 0
    assert process_events(context, [asked]) == 0  # redelivered: nothing to do
    after = api.get("/api/v1/users/7/recommendations?n=20").get_json()
    assert after["cached"] and top not in [item["movie_id"] for item in after["items"]]


def test_the_announcer_publishes_concurrent_events_as_one_task(
    pipeline_settings: dict[str, Any],
) -> None:
    settings = Settings.load(pipeline_settings)
    queue = TaskQueue(settings)
    queue.celery.control.purge()
    for event_id in (11, 12, 13):
        queue.announce_event(event_id)
    bodies: list[Any] = []
    deadline = time.monotonic() + 10
    with Connection(broker_url(settings)) as connection:
        simple = connection.SimpleQueue(EVENTS_QUEUE)
        while time.monotonic() < deadline and sum(len(b[0][0]) for b in bodies) < 3:
            try:
                message = simple.get(timeout=1)
            except simple.Empty:
                continue
            assert message.headers["task"] == PROCESS_EVENTS
            bodies.append(message.decode())
            message.ack()
        simple.close()
    assert [body[0][0] for body in bodies] == [[11, 12, 13]]
