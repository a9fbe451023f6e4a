"""The event pipeline end to end, with real workers on the real broker, database and Redis:
ratings change recommendations without a retrain, and nothing is lost when parts fail."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select

from server.db import Database
from server.models import ModelVersion, RatingEvent
from tests.conftest import API_KEY
from tests.workers.conftest import wait_for

AUTH = {"Authorization": f"Bearer {API_KEY}"}


def recommended(api: FlaskClient, user: str, **params: Any) -> dict[str, Any]:
    response = api.get(
        f"/api/v1/users/{user}/recommendations", query_string={"n": 10, **params}, headers=AUTH
    )
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def unprocessed(database: Database) -> int:
    with database.transaction() as session:
        query = select(func.count()).where(RatingEvent.processed_at.is_(None))
        return int(session.scalar(query) or 0)


def versions(database: Database, algorithm: str) -> dict[int, str]:
    with database.transaction() as session:
        rows = session.scalars(select(ModelVersion).where(ModelVersion.algorithm == algorithm))
        return {row.number: row.status for row in rows}


def rate(api: FlaskClient, user: str, movie: str, stars: float) -> int:
    response = api.put(
        f"/api/v1/users/{user}/ratings/{movie}", json={"rating": stars}, headers=AUTH
    )
    return response.status_code


def test_a_rating_changes_recommendations_without_a_retrain(
    seeded: Database,
    train: Callable[..., Any],
    worker_factory: Callable[..., Any],
    api: FlaskClient,
) -> None:
    train("als", "content")
    worker_factory()
    wait_for(lambda: unprocessed(seeded) == 0)  # the import's events, merged per user
    before = recommended(api, "1")
    assert before["source"] == "als" and before["cached"] and before["model_version"] == 1
    top = [item["movie_id"] for item in before["items"][:3]]
    for movie in top:
        assert rate(api, "1", movie, 0.5) in (200, 201)

    def changed() -> dict[str, Any] | None:
        now = recommended(api, "1")
        ids = [item["movie_id"] for item in now["items"]]
        return now if now["cached"] and not set(top) & set(ids) else None

    after = wait_for(changed, timeout=20)
    assert after["model_version"] == 1 and versions(seeded, "als") == {1: "active"}
    wait_for(lambda: unprocessed(seeded) == 0)


def test_ratings_accepted_while_the_broker_and_worker_are_down(
    seeded: Database,
    pipeline_settings: dict[str, Any],
    worker_factory: Callable[..., Any],
    train: Callable[..., Any],
) -> None:
    train("als", "content")
    down = pipeline_settings | {"broker_url": "redis://127.0.0.1:1/0"}
    from server import create_app

    client = create_app(down).test_client()
    statuses = [
        rate(client, str(user), str(movie), 4.0) for user in (1, 2, 3) for movie in (5, 6, 7)
    ]
    assert set(statuses) <= {200, 201}
    # Kept in the outbox, one event for each rating that changed (a rating the dataset already
    # gave as 4 stars writes none); the import's own event was born done.
    assert 1 <= unprocessed(seeded) <= 9
    worker_factory()
    wait_for(lambda: unprocessed(seeded) == 0, timeout=90)


def test_a_worker_killed_mid_retrain_leaves_the_old_model_serving(
    seeded: Database,
    train: Callable[..., Any],
    worker_factory: Callable[..., Any],
    api: FlaskClient,
    pipeline_settings: dict[str, Any],
) -> None:
    train("als", "content")
    worker = worker_factory()
    wait_for(lambda: unprocessed(seeded) == 0)
    assert api.post("/api/v1/algorithms/als/retrain", headers=AUTH).status_code == 202
    wait_for(lambda: versions(seeded, "als").get(2) == "training", every=0.01)
    worker.kill()
    assert versions(seeded, "als")[1] == "active"
    served = recommended(api, "2")
    assert served["model_version"] == 1 and served["source"] == "als" and served["items"]
    worker_factory()
    assert api.post("/api/v1/algorithms/als/retrain", headers=AUTH).status_code == 202
    final = wait_for(
        lambda: (
            (v := versions(seeded, "als"))
            and any(s == "active" and n > 2 for n, s in v.items())
            and v
        ),
        timeout=90,
    )
    assert final[2] == "failed"  # the interrupted run, found under the lock by the next one


def test_reads_survive_a_flushed_or_unreachable_redis(
    seeded: Database,
    train: Callable[..., Any],
    api: FlaskClient,
    pipeline_settings: dict[str, Any],
    redis_client: Any,
) -> None:
    train("als", "content")
    assert recommended(api, "3")["cached"]
    redis_client.flushdb()
    # The flush reaches the web process's near copy as an invalidation, within milliseconds.
    refilled = wait_for(lambda: (body := recommended(api, "3")) and not body["cached"] and body)
    assert refilled["source"] == "als" and refilled["items"]
    assert recommended(api, "3")["cached"]  # the miss refilled the cache
    from server import create_app

    no_redis = create_app(pipeline_settings | {"redis_url": "redis://127.0.0.1:1/0"})
    client = no_redis.test_client()
    body = recommended(client, "3")
    assert body["source"] == "als" and not body["cached"] and body["items"]
    popular = client.get("/api/v1/movies/popular?n=5")
    assert popular.status_code == 200 and len(popular.get_json()["items"]) == 5


def test_an_external_plugin_is_trained_by_a_worker_and_served_and_a_failing_one_is_isolated(
    seeded: Database,
    train: Callable[..., Any],
    worker_factory: Callable[..., Any],
    pipeline_settings: dict[str, Any],
    example_plugin_site: Path,
    monkeypatch: Any,
) -> None:
    train("als", "content")
    schedule = ["als=3600", "content=3600", "movie-mean=3600", "exploding=3600"]
    worker_factory(example_plugin_site, train_schedule=schedule)
    # The relay asks for a first model of every scheduled algorithm that has none.
    wait_for(lambda: versions(seeded, "movie-mean").get(1) == "active", timeout=90)
    wait_for(lambda: versions(seeded, "exploding").get(1) == "failed", timeout=90)
    with seeded.transaction() as session:
        failed = session.scalar(select(ModelVersion).where(ModelVersion.algorithm == "exploding"))
        assert failed is not None and "always fails" in (failed.error or "")
    assert versions(seeded, "als") == {1: "active"}
    wait_for(lambda: unprocessed(seeded) == 0)
    # The web process serves the worker's artifact once the plugin is installed there too.
    monkeypatch.syspath_prepend(str(example_plugin_site))
    from server import create_app

    client = create_app(pipeline_settings).test_client()
    served = recommended(client, "4", algorithm="movie-mean")
    assert served["source"] == "movie-mean" and served["model_version"] == 1 and served["items"]
    assert recommended(client, "4")["source"] == "als"
