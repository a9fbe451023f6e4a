"""What a web process sets up on its first read: the serving context, built once, after which
the long-lived objects of the plugins' imports are frozen out of the garbage collector's scans;
and the bodies of cached answers, rendered once per list held and never stale."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from server.api import recommendations as recommendations_api
from server.cache.lists import CachedList, pack
from server.cache.rendered import RenderedBodies
from server.context import get_db, get_serving
from server.services.movies import movie_key
from tests.workers.conftest import wait_for


def test_the_first_read_builds_the_serving_context_once_and_freezes_the_heap(
    app: Flask, client: FlaskClient, auth: dict[str, str]
) -> None:
    assert client.post("/api/v1/users", json={"id": "ada"}, headers=auth).status_code == 201
    assert gc.get_freeze_count() == 0
    assert client.get("/api/v1/users/ada/recommendations", headers=auth).status_code == 200
    frozen = gc.get_freeze_count()
    assert frozen > 10_000  # the plugins' modules and the app, at least
    with app.app_context():
        first = get_serving()
        assert client.get("/api/v1/users/ada/recommendations", headers=auth).status_code == 200
        assert get_serving() is first


def test_a_processs_first_requests_arriving_together_build_one_serving_context(
    app: Flask,
) -> None:
    threads = 8
    together = threading.Barrier(threads)
    built: list[object] = []

    def first_request() -> None:
        with app.app_context():
            together.wait()
            built.append(get_serving())

    started = [threading.Thread(target=first_request) for _ in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join()
    assert len(built) == threads and len({id(serving) for serving in built}) == 1


def test_a_held_list_is_rendered_once_and_anew_when_anyone_rewrites_it(
    app: Flask,
    client: FlaskClient,
    auth: dict[str, str],
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert client.post("/api/v1/users", json={"id": "ada"}, headers=auth).status_code == 201
    for movie in ("m1", "m2"):
        body = {"id": movie, "title": f"Movie {movie}", "genres": ["Drama"]}
        assert client.post("/api/v1/movies", json=body, headers=auth).status_code == 201
    with app.app_context():
        serving = get_serving()
        with get_db().transaction() as session:
            m1, m2 = (movie_key(session, movie) for movie in ("m1", "m2"))
        serving.cache.publish_active_version("als", 7)
        serving.cache.store_user_lists("als", [("ada", ranked(7, [m1, m2]))])
    url = "/api/v1/users/ada/recommendations?algorithm=als&n=2"
    assert client.get(url, headers=auth).status_code == 200  # the first read starts the near cache
    near = serving.cache.near
    assert near is not None
    wait_for(lambda: near.live, timeout=10)
    renders = count_renders(monkeypatch)

    def top() -> list[str]:
        answer = client.get(url, headers=auth).get_json()
        assert answer["cached"] and answer["model_version"] == 7
        return [item["movie_id"] for item in answer["items"]]

    assert [top() for _ in range(5)] == [["m1", "m2"]] * 5
    # Read from Redis once, then held and rendered once: here, or by the first read already
    # when the near cache went live before it was done.
    held = renders()
    assert held <= 1
    with app.app_context():  # this process rewrites it: its own copy is dropped at once
        serving.cache.store_user_lists("als", [("ada", ranked(7, [m2, m1]))])
    assert top() == ["m2", "m1"]
    # Another process (a worker) rewrites it: Redis's invalidation drops the copy.
    redis_client.set("movierec:recs:als:ada", pack(ranked(7, [m1, m2])))
    wait_for(lambda: top() == ["m1", "m2"], timeout=10)
    assert renders() == held + 2  # each rewrite rendered anew, once


def test_rendered_bodies_stay_within_their_byte_budget() -> None:
    bodies = RenderedBodies(max_bytes=100)
    first, second = ranked(1, [1]), ranked(1, [2])
    assert bodies.body("/a", first, lambda: b"x" * 60) == b"x" * 60
    assert bodies.body("/a", first, lambda: b"never rendered") == b"x" * 60
    assert bodies.body("/a", second, lambda: b"y" * 60) == b"y" * 60  # replaces, fits
    assert bodies.body("/b", first, lambda: b"z" * 60) == b"z" * 60  # over budget: starts over
    assert bodies.body("/a", second, lambda: b"again") == b"again"
    assert bodies.body("/b", first, lambda: b"never rendered") == b"z" * 60


def ranked(version: int, movies: list[int]) -> CachedList:
    scores = np.linspace(1.0, 0.5, len(movies)).astype(np.float32)
    return CachedList(version, "als", np.array(movies, np.int32), scores)


def count_renders(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """Count the renderings of answers' JSON from now on; returns the counter."""
    calls = []
    original = recommendations_api.ranked_json

    def counted(*args: Any) -> dict[str, Any]:
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(recommendations_api, "ranked_json", counted)
    return lambda: len(calls)
