"""Precompute fans out: a retrain's shards of people go to the training queue, and every worker
process listening to it takes some, on the real broker, database and Redis."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis
from flask.testing import FlaskClient
from sqlalchemy import select

from server.cache import keys
from server.config import Settings
from server.db import Database
from server.models import Rating, User
from server.tasks import PRECOMPUTE, RETRAIN, TaskQueue
from tests.workers.conftest import wait_for
from tests.workers.test_pipeline import AUTH

SHARD_USERS = 4


def runs_by_worker(settings: dict[str, Any], task: str) -> dict[str, int]:
    """How many times each listening worker ran ``task``, as the workers report it."""
    stats = TaskQueue(Settings.load(settings)).celery.control.inspect(timeout=1).stats() or {}
    return {node: report.get("total", {}).get(task, 0) for node, report in stats.items()}


def test_a_retrains_precompute_shards_run_on_another_worker_process_too(
    seeded: Database,
    pipeline_settings: dict[str, Any],
    worker_factory: Callable[..., Any],
    api: FlaskClient,
    redis_client: redis.Redis,
) -> None:
    with seeded.transaction() as session:
        people = session.scalars(
            select(User.external_id).where(User.id.in_(select(Rating.user_id).distinct()))
        ).all()
    shards = -(-len(people) // SHARD_USERS)
    for _ in range(2):
        worker_factory(precompute_shard_users=SHARD_USERS)
    wait_for(lambda: len(runs_by_worker(pipeline_settings, RETRAIN)) == 2, timeout=60)
    assert api.post("/api/v1/algorithms/als/retrain", headers=AUTH).status_code == 202

    def every_list_kept() -> bool:
        return all(redis_client.mget([keys.recs("als", person) for person in people]))

    wait_for(every_list_kept, timeout=120)

    def every_shard_counted() -> dict[str, int] | None:
        runs = runs_by_worker(pipeline_settings, PRECOMPUTE)
        return runs if sum(runs.values()) == shards else None

    precomputed = wait_for(every_shard_counted, timeout=30)
    retrained = runs_by_worker(pipeline_settings, RETRAIN)
    assert sorted(retrained.values()) == [0, 1]
    other = next(node for node, runs in retrained.items() if runs == 0)
    # The worker process that did not retrain took shards of the retrain's precompute.
    assert precomputed[other] >= 1
