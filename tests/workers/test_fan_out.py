"""Precompute fans out: a retrain's shards of people (and of movies, for similar lists) go to the
training queue, and every worker process listening to it takes some, on the real broker,
database and Redis."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient
from sqlalchemy import select

from server.cache import keys
from server.config import Settings
from server.db import Database
from server.models import Movie, Rating, User
from server.services.model_versions import active_version
from server.tasks import PRECOMPUTE, RETRAIN, TaskQueue
from tests.workers.conftest import wait_for
from tests.workers.test_pipeline import AUTH
from workers import training
from workers.context import build_context
from workers.precompute import SIMILAR, precompute_shard

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


def test_similar_lists_go_out_in_shards_of_movies_like_peoples_lists(
    seeded: Database, pipeline_settings: dict[str, Any], redis_client: redis.Redis
) -> None:
    context = build_context(Settings.load(pipeline_settings | {"precompute_shard_users": 40}))
    shards: list[tuple[str, int, list[int], str]] = []
    outcome = training.retrain(context, "knn-item", dispatch=lambda *shard: shards.append(shard))
    assert outcome.status == training.RetrainStatus.PROMOTED
    similar = [shard for shard in shards if shard[3] == SIMILAR]
    with seeded.transaction() as session:
        version = active_version(session, "knn-item")
        assert version is not None
        model = context.serving.models.model(version)
        rows = session.execute(select(Movie.id, Movie.external_id))
        external = {movie: movie_key for movie, movie_key in rows}
    known = model.known_movies().tolist()
    assert sorted(movie for shard in similar for movie in shard[2]) == sorted(known)
    assert len(similar) == -(-len(known) // 40) and max(len(shard[2]) for shard in similar) == 40
    keys_of = [keys.similar("knn-item", external[movie]) for movie in known]
    assert not any(redis_client.mget(keys_of))  # handed out, not run by the retrain
    for algorithm, number, ids, kind in similar:
        precompute_shard(context, algorithm, number, ids, kind)
    assert all(redis_client.mget(keys_of))


def test_a_shard_of_an_unknown_kind_is_refused_not_taken_for_people(
    seeded: Database, pipeline_settings: dict[str, Any]
) -> None:
    context = build_context(Settings.load(pipeline_settings))
    with pytest.raises(ValueError, match="unknown precompute shard kind"):
        precompute_shard(context, "als", 1, [1, 2], "movies")
