"""Event handling without a worker process: batches, draining, idempotence, and the web's
announcer publishing many events as one task on the real broker."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from kombu import Connection
from sqlalchemy import func, select

from server.config import Settings
from server.datasets import open_dataset
from server.datasets.importer import import_dataset
from server.db import Database
from server.models import RatingEvent
from server.tasks import EVENTS_QUEUE, PROCESS_EVENTS, TaskQueue, broker_url
from tests.conftest import API_KEY
from workers.celery_app import celery
from workers.context import WorkerContext, build_context
from workers.events import process_events, relay
from workers.tasks import events_queued, process_events_task

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
    assert waiting(seeded) == 0  # the import wrote one event, born processed
    before = api.get("/api/v1/users/7/recommendations?n=20", headers=AUTH).get_json()
    top = before["items"][0]["movie_id"]
    for user, movie in (("7", top), ("7", "3"), ("8", "4"), ("9", "5")):
        rate(api, user, movie, 5.0)
    assert waiting(seeded) == 4
    asked = newest_event_of(seeded, "9")
    assert process_events(context, [asked]) == 4  # users 7 and 8 came along
    assert waiting(seeded) == 0
    assert process_events(context, [asked]) == 0  # redelivered: nothing to do
    after = api.get("/api/v1/users/7/recommendations?n=20", headers=AUTH).get_json()
    assert after["cached"] and top not in [item["movie_id"] for item in after["items"]]


def relay_asks(context: WorkerContext) -> tuple[list[list[int]], list[str]]:
    """What one relay tick sends: event ids, and algorithms to retrain."""
    events: list[list[int]] = []
    retrains: list[str] = []
    relay(context, events.append, retrains.append)
    return events, retrains


def test_an_import_asks_each_serving_algorithm_for_one_retrain_and_refreshes_no_one(
    seeded: Database,
    train: Callable[..., Any],
    pipeline_settings: dict[str, Any],
    tmp_path: Path,
) -> None:
    train("als", "content")
    unscheduled = build_context(Settings.load(pipeline_settings | {"train_schedule": []}))
    assert relay_asks(unscheduled) == ([], [])  # trained on the data there is
    more = tmp_path / "ratings.csv"
    rows = [
        f"{user},{movie},4.0,{user * movie}" for user in range(100, 120) for movie in range(1, 30)
    ]
    more.write_text("\n".join(["userId,movieId,rating,timestamp", *rows]) + "\n")
    import_dataset(seeded, open_dataset(more))
    assert waiting(seeded) == 0  # no event per rating: nobody's list is refreshed one by one
    assert relay_asks(unscheduled) == ([], ["als", "content"])  # serving, so retrained
    train("als")
    assert relay_asks(unscheduled) == ([], ["content"])
    train("content")
    assert relay_asks(unscheduled) == ([], [])


# Event ids no test's database reaches.
OURS = 10**9


def test_late_events_are_resent_unless_tasks_wait_on_the_events_queue(
    seeded: Database, context: WorkerContext, api: FlaskClient
) -> None:
    rate(api, "7", "3", 5.0)  # published to no worker: it waits, and grows late
    deadline = time.monotonic() + 60
    sent: list[list[int]] = []
    while not sent and time.monotonic() < deadline:
        sent = relay_asks(context)[0]
        time.sleep(0.2)
    assert sent == [[newest_event_of(seeded, "7")]]
    behind: list[list[int]] = []  # workers behind, not gone: their tasks drain it anyway
    relay(context, behind.append, lambda _: None, tasks_queued=3)
    assert behind == []
    assert waiting(seeded) == 1


def test_the_relay_counts_the_tasks_waiting_on_the_events_queue() -> None:
    celery.control.purge()
    assert events_queued() == 0
    for event_id in (OURS + 8, OURS + 9):
        process_events_task.apply_async(([event_id],))
    assert events_queued() == 2
    celery.control.purge()


def test_a_lone_event_is_published_at_once_and_a_burst_as_one_task(
    pipeline_settings: dict[str, Any],
) -> None:
    settings = Settings.load(pipeline_settings)
    queue = TaskQueue(settings, announce_interval=2.0)
    queue.celery.control.purge()
    with Connection(broker_url(settings)) as connection:
        simple = connection.SimpleQueue(EVENTS_QUEUE)
        queue.announce_event(OURS + 1)
        assert published(simple, timeout=1.5) == [OURS + 1]  # well before the interval is over
        for event_id in (OURS + 2, OURS + 3, OURS + 4):  # during the announcer's rest
            queue.announce_event(event_id)
        assert published(simple, timeout=5) == [OURS + 2, OURS + 3, OURS + 4]
        with pytest.raises(simple.Empty):
            published(simple, timeout=0.5)
        simple.close()


def published(simple: Any, timeout: float) -> list[int]:
    """The event ids of the next PROCESS_EVENTS task of this test (ids from ``OURS``) on the
    queue; tasks that earlier tests' apps announced late are skipped."""
    deadline = time.monotonic() + timeout
    while True:
        message = simple.get(timeout=max(0.01, deadline - time.monotonic()))
        assert message.headers["task"] == PROCESS_EVENTS
        message.ack()
        ids: list[int] = message.decode()[0][0]
        if all(event_id > OURS for event_id in ids):
            return ids
