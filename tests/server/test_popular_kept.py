"""Popular lists are kept by the workers: a reader never computes one that is kept, however
old; the first reader of a new list computes it once for everyone; the workers compute again
every list asked for within a day and the standard ones (everyone's, each genre's), paced by
what computing them costs."""

from __future__ import annotations

import threading
import time
from typing import Any

import redis
from flask import Flask
from flask.testing import FlaskClient

from server.cache import keys
from server.context import get_db, get_serving
from server.services.popular import keep_popular_lists, popular_movies

MOVIES = [{"id": f"k{i}", "title": f"Kept {i}", "genres": ["Drama"]} for i in range(6)]


def seed(client: FlaskClient, auth: dict[str, str]) -> None:
    for movie in MOVIES:
        assert client.post("/api/v1/movies", json=movie, headers=auth).status_code == 201
    for person in ("a", "b", "c"):
        client.post("/api/v1/users", json={"id": person}, headers=auth)
        for rank, movie in enumerate(MOVIES):
            stars = 5.0 if rank == 0 else 2.0
            client.put(
                f"/api/v1/users/{person}/ratings/{movie['id']}",
                json={"rating": stars},
                headers=auth,
            )


def top(client: FlaskClient) -> tuple[str, bool]:
    body: dict[str, Any] = client.get("/api/v1/movies/popular?n=3").get_json()
    return body["items"][0]["movie_id"], body["cached"]


def keep(app: Flask, pace: float = 0.0) -> int:
    with app.app_context(), get_db().transaction() as session:
        return keep_popular_lists(get_serving().cache, session, pace)


def test_a_kept_list_is_read_as_it_is_and_the_workers_compute_it_again(
    app: Flask, client: FlaskClient, auth: dict[str, str], redis_client: redis.Redis
) -> None:
    seed(client, auth)
    assert top(client) == ("k0", True)  # the first read computed and kept it
    assert redis_client.zscore(keys.POPULAR_WANTED, "0:") is not None  # to be kept
    for person in ("a", "b", "c"):  # k5 becomes the favourite
        client.put("/api/v1/users/" + person + "/ratings/k0", json={"rating": 1.0}, headers=auth)
        client.put("/api/v1/users/" + person + "/ratings/k5", json={"rating": 5.0}, headers=auth)
    assert top(client) == ("k0", True)  # read as kept: no reader computes it again
    assert keep(app) >= 1
    assert top(client) == ("k5", True)


def test_lists_nobody_asked_for_within_a_day_are_let_go(
    app: Flask, client: FlaskClient, auth: dict[str, str], redis_client: redis.Redis
) -> None:
    seed(client, auth)
    top(client)
    day_ago = int(time.time()) - keys.POPULAR_KEPT_SECONDS - 1
    redis_client.zadd(keys.POPULAR_WANTED, {"0:": day_ago, "7:Drama": day_ago})
    assert keep(app) == 2  # the standard lists only: everyone's and Drama's, of all time
    assert redis_client.zcard(keys.POPULAR_WANTED) == 0
    assert not redis_client.exists(keys.popular(7, "Drama"))


def test_the_standard_lists_are_kept_before_anyone_asks(
    app: Flask, client: FlaskClient, auth: dict[str, str], redis_client: redis.Redis
) -> None:
    seed(client, auth)
    western = {"id": "w", "title": "W", "genres": ["Western"]}
    assert client.post("/api/v1/movies", json=western, headers=auth).status_code == 201
    client.put("/api/v1/users/a/ratings/w", json={"rating": 5.0}, headers=auth)
    assert keep(app) == 3
    body = client.get("/api/v1/movies/popular?n=3&genre=Western").get_json()
    assert [item["movie_id"] for item in body["items"]] == ["w"] and body["cached"]
    drama = client.get("/api/v1/movies/popular?n=3&genre=Drama").get_json()
    assert drama["items"][0]["movie_id"] == "k0" and "w" not in str(drama["items"])


def test_a_window_is_computed_again_only_once_paced_by_its_cost(
    app: Flask, client: FlaskClient, auth: dict[str, str], redis_client: redis.Redis
) -> None:
    seed(client, auth)
    assert keep(app, pace=1e9) == 2  # never computed: computed now
    assert keep(app, pace=1e9) == 0  # a billion times its cost has not passed
    began, took = map(float, redis_client.hget(keys.POPULAR_COSTS, "0").decode().split(":"))
    assert 0 < took < 60 and abs(began - time.time()) < 60
    assert keep(app, pace=0.0) == 2


def test_the_first_reader_computes_a_new_list_for_the_others(
    app: Flask, client: FlaskClient, auth: dict[str, str], redis_client: redis.Redis
) -> None:
    seed(client, auth)
    redis_client.set(keys.popular_first(0, ""), 1)  # another process is computing it...
    kept: list[tuple[list[tuple[int, float]], bool]] = []

    def read() -> None:
        with app.app_context(), get_db().transaction() as session:
            kept.append(popular_movies(get_serving().cache, session, 3, [], None))

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.3)
    assert reader.is_alive()  # ... so this reader waits for its answer
    with app.app_context():
        get_serving().cache.store_popular(0, "", [(424242, 9.0)], int(time.time()))
    reader.join(timeout=10)
    assert kept == [([(424242, 9.0)], True)]  # the other's list, not one of its own
