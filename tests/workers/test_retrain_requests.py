"""Requested retrains coalesce: however often a client asks, one retrain per algorithm waits in
the training queue, and once it starts the next request queues a new one."""

from __future__ import annotations

from typing import Any

from flask import Flask
from kombu.exceptions import ChannelError

from server.context import get_coordination, get_queue
from server.tasks import TRAINING_QUEUE
from tests.conftest import API_KEY

AUTH = {"Authorization": f"Bearer {API_KEY}"}


def waiting_in_training_queue(app: Flask) -> int:
    """Messages in the broker's training queue (as Celery declared it: passive)."""
    with app.app_context(), get_queue().celery.connection_for_write() as connection:
        declared = connection.default_channel.queue_declare(queue=TRAINING_QUEUE, passive=True)
        return int(declared.message_count)


def purge_training_queue(app: Flask) -> None:
    """Empty the training queue, when it exists yet."""
    with app.app_context(), get_queue().celery.connection_for_write() as connection:
        try:
            connection.default_channel.queue_declare(queue=TRAINING_QUEUE, passive=True)
        except ChannelError:  # not declared yet: nothing to purge
            return
        connection.default_channel.queue_purge(TRAINING_QUEUE)


def test_repeated_retrain_requests_queue_one_retrain(pipeline_settings: dict[str, Any]) -> None:
    from server import create_app

    app = create_app(pipeline_settings)
    client = app.test_client()
    purge_training_queue(app)
    answers = [client.post("/api/v1/algorithms/als/retrain", headers=AUTH) for _ in range(30)]
    assert {answer.status_code for answer in answers} == {202}
    assert [answer.get_json()["already_waiting"] for answer in answers] == [False] + [True] * 29
    assert client.post("/api/v1/algorithms/content/retrain", headers=AUTH).status_code == 202
    assert waiting_in_training_queue(app) == 2  # one per algorithm
    with app.app_context():  # what a worker does as the retrain starts
        get_coordination().retrain_started("als")
    again = client.post("/api/v1/algorithms/als/retrain", headers=AUTH).get_json()
    assert again["already_waiting"] is False
    assert waiting_in_training_queue(app) == 3
    purge_training_queue(app)
