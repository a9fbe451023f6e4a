"""The workers keep for everyone only the lists that are served: the champions', the default
algorithm's and the challenger's. Another algorithm asked for by name is computed by the read,
cached, and dropped when the person's ratings change."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable
from dataclasses import astuple
from typing import Any

import numpy as np
import redis
from flask.testing import FlaskClient
from sqlalchemy import select

from server import create_app
from server.cache import keys
from server.cache.lists import CachedList, unpack
from server.config import Settings
from server.db import Database
from server.models import ModelVersion, User
from server.services import champions
from server.services.model_versions import active_version
from server.serving.model_store import HeldPerVersion
from server.serving.policy import Segment
from tests.conftest import API_KEY
from tests.workers.conftest import wait_for
from tests.workers.test_events import newest_event_of, rate
from workers.context import WorkerContext, build_context
from workers.events import process_events
from workers.precompute import refresh_users
from workers.training import retrain

AUTH = {"Authorization": f"Bearer {API_KEY}"}


def kept_lists(redis_client: redis.Redis, algorithm: str) -> int:
    return sum(1 for _ in redis_client.scan_iter(keys.recs(algorithm, "*"), count=1000))


def served_by(api: FlaskClient, user: str, algorithm: str) -> dict[str, Any]:
    response = api.get(
        f"/api/v1/users/{user}/recommendations?n=5&algorithm={algorithm}", headers=AUTH
    )
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def test_only_served_lists_are_kept_and_others_are_computed_by_the_read(
    seeded: Database,
    train: Callable[..., Any],
    context: WorkerContext,
    api: FlaskClient,
    redis_client: redis.Redis,
) -> None:
    train("als", "content", "knn-item")
    with seeded.transaction() as session:
        chosen = champions.current(session)
        served = champions.precomputed(chosen, "als", "")  # the pipeline's default is als
    assert "als" in served
    unserved = sorted({"content", "knn-item"} - served)
    assert unserved, served  # the test needs an active ranker that is not served
    other = unserved[0]
    assert kept_lists(redis_client, "als") == 60  # every person's
    assert kept_lists(redis_client, other) == 0  # nobody's: not served
    first = served_by(api, "7", other)
    assert not first["cached"] and first["items"]
    assert served_by(api, "7", other)["cached"]  # the read cached it
    rate(api, "7", first["items"][0]["movie_id"], 0.5)
    assert process_events(context, [newest_event_of(seeded, "7")]) == 1
    # Dropped (it knew the old ratings): a marker that reads as no list is left in its place.
    assert unpack(redis_client.get(keys.recs(other, "7"))) is None
    assert redis_client.exists(keys.recs("als", "7")) == 1  # served: written again
    # The web process's near cache hears of the drop a moment later.
    again = wait_for(lambda: (answer := served_by(api, "7", other))["cached"] is False and answer)
    assert first["items"][0]["movie_id"] not in [item["movie_id"] for item in again["items"]]


def test_under_auto_each_person_keeps_one_list_their_champions(
    seeded: Database,
    pipeline_settings: dict[str, Any],
    redis_client: redis.Redis,
) -> None:
    auto = Settings.load(pipeline_settings | {"default_algorithm": "auto"})
    context = build_context(auto)
    for algorithm in ("popularity", "als", "content"):
        retrain(context, algorithm)
    with seeded.transaction() as session:
        chosen = champions.current(session)
    assert chosen is not None
    lists = {
        algorithm: kept_lists(redis_client, algorithm)
        for algorithm in ("popularity", "als", "content", champions.AUTO)
    }
    # Everyone in the seeded data has rated enough to be warm: one list each, by that champion,
    # and no champion's own list beside it (nobody names one).
    assert lists == {"popularity": 0, "als": 0, "content": 0, champions.AUTO: 60}
    api = create_app(pipeline_settings | {"default_algorithm": "auto"}).test_client()
    served = served_by(api, "7", champions.AUTO)
    assert served["cached"] and champions.champion_of(chosen, Segment.WARM) in served["source"]
    rate(api, "7", served["items"][0]["movie_id"], 0.5)
    assert process_events(context, [newest_event_of(seeded, "7")]) == 1
    assert kept_lists(redis_client, champions.AUTO) == 60
    assert served_by(api, "7", champions.AUTO)["cached"]  # written again, folded in


def test_the_live_lane_counts_the_co_raters_table_aside_and_explains_the_same_with_it(
    seeded: Database,
    train: Callable[..., Any],
    pipeline_settings: dict[str, Any],
    redis_client: redis.Redis,
) -> None:
    train("als")
    live = build_context(Settings.load(pipeline_settings))  # a process of its own, table-less
    with seeded.transaction() as session:
        version = active_version(session, "als")
        assert version is not None
        person = session.scalars(select(User.id).where(User.external_id == "7")).one()
    model = live.serving.models.model(version)
    assert live.serving.evidence.of(version, model).table is None

    def refreshed() -> CachedList:
        with seeded.transaction() as session:
            refresh_users(live, session, [person])
        entry = unpack(redis_client.get(keys.recs("als", "7")))
        assert entry is not None and entry.reasons is not None
        return entry

    first = refreshed()  # asks for the table, and explains without waiting for it
    wait_for(lambda: live.serving.evidence.of(version, model).table is not None, timeout=60)
    second = refreshed()
    assert second.reasons is not None and first.reasons is not None
    assert np.array_equal(second.movies, first.movies)
    for mine, theirs in zip(astuple(second.reasons), astuple(first.reasons), strict=True):
        assert np.array_equal(mine, theirs)


def test_a_value_built_for_an_older_version_does_not_replace_a_newer_ones() -> None:
    held: HeldPerVersion[str] = HeldPerVersion()
    older, newer = ModelVersion(algorithm="als", number=1), ModelVersion(algorithm="als", number=2)
    assert held.get(newer, lambda: "newer") == "newer"
    held.put(older, "older, built meanwhile")
    assert held.get(newer, lambda: "built again") == "newer"
    held.put(newer, "newer, tabled")
    assert held.get(newer, lambda: "built again") == "newer, tabled"


def test_a_retrain_lets_go_of_the_models_and_evidence_its_process_held(
    seeded: Database, train: Callable[..., Any], context: WorkerContext
) -> None:
    train("als")  # its precompute, in this process, loaded the model and its evidence
    with seeded.transaction() as session:
        version = active_version(session, "als")
        assert version is not None
    model = context.serving.models.model(version)
    evidence = context.serving.evidence.of(version, model)
    assert context.serving.models.model(version) is model  # held until then
    held = weakref.ref(model), weakref.ref(evidence)
    del model, evidence
    train("content")
    gc.collect()
    assert [reference() for reference in held] == [None, None]
    assert context.serving.models.model(version).name == "als"  # loaded again when asked for
