"""Every item of every list says why: computed with the list, cached with it, documented."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis
from flask.testing import FlaskClient

from server.cache import keys
from server.cache.lists import unpack
from server.db import Database
from server.web.rows import why_text
from tests.conftest import get_ok

KINDS = {"because", "similar_people", "popular_in", "popular", "trending", "new"}


def test_a_persons_list_names_the_rated_movies_behind_each_pick(
    seeded: Database, train: Callable[..., Any], api: FlaskClient, redis_client: redis.Redis
) -> None:
    train("als", "content", "knn-item")
    listed = get_ok(api, "/api/v1/users/5/recommendations", n=20)
    assert listed["cached"]
    rated = {
        item["movie_id"]: item["rating"]
        for item in get_ok(api, "/api/v1/users/5/ratings", limit=1000)["items"]
    }
    kinds = [item["reason"]["kind"] for item in listed["items"]]
    assert set(kinds) <= KINDS and kinds.count("because") >= 10, kinds
    for item in listed["items"]:
        assert (item["reason"]["kind"] == "because") == bool(item["because"])
        assert len(item["because"]) <= 2
        for movie in item["because"]:
            # One of the person's own movies, with the stars they gave it, and liked.
            assert rated[movie["movie_id"]] == movie["rating"] and movie["rating"] >= 3.0
            assert movie["title"]
    # The reasons are part of the cached list: a cache hit renders what was stored.
    stored = unpack(redis_client.get(keys.recs("als", "5")))
    assert stored is not None and stored.reasons is not None
    assert len(stored.reasons.kinds) == len(stored)


def test_similar_movies_say_what_they_share_and_new_people_get_their_genres(
    seeded: Database,
    train: Callable[..., Any],
    api: FlaskClient,
    auth: dict[str, str],
) -> None:
    train("knn-item")
    movie = get_ok(api, "/api/v1/movies/10")
    similar = get_ok(api, "/api/v1/movies/10/similar", n=5)
    for item in similar["items"]:
        reason = item["reason"]
        assert reason["kind"] == "alike" and reason["rated_both"] >= 1
        other = get_ok(api, f"/api/v1/movies/{item['movie_id']}")
        assert set(reason["genres"]) == set(movie["genres"]) & set(other["genres"])
    created = api.post(
        "/api/v1/users", json={"id": "newbie", "favorite_genres": ["Horror"]}, headers=auth
    )
    assert created.status_code == 201
    fresh = get_ok(api, "/api/v1/users/newbie/recommendations", n=5)
    assert fresh["source"] == "fallback:popularity"
    assert [item["reason"] for item in fresh["items"]] == [
        {"kind": "popular_in", "genre": "Horror"}
    ] * 5


def test_pages_put_each_reason_in_words() -> None:
    because = [{"movie_id": "1", "title": "Alien", "rating": 5.0}]
    assert why_text({"because": because, "reason": {"kind": "because"}}) == (
        "Because you rated Alien (5★)"
    )
    popular_in = {"because": [], "reason": {"kind": "popular_in", "genre": "Horror"}}
    assert why_text(popular_in) == "Popular in Horror"
    alike = {"because": [], "reason": {"kind": "alike", "genres": ["Drama"], "rated_both": 3}}
    assert why_text(alike) == "Also Drama; rated by 3 of the same people"
    assert why_text({"because": [], "reason": {"kind": "new"}}) == "New: nobody has rated it yet"
