"""People's lists are written unless the cached one reflects newer data of the person (its
stamp), on a real Redis: an older writer is refused, a newer or equal one writes, a dropped
list leaves a marker that reads as a miss and holds off older writers, and lists written
before stamps existed are replaced."""

from __future__ import annotations

import numpy as np
import pytest
import redis

from server.cache import keys
from server.cache.lists import CachedList, pack, unpack
from server.cache.store import Cache


def listed(movies: list[int], stamp: int, version: int = 1) -> CachedList:
    scores = np.linspace(1.0, 0.5, len(movies)).astype(np.float32)
    return CachedList(version, "als", np.array(movies, np.int32), scores, stamp=stamp)


@pytest.fixture
def cache(redis_client: redis.Redis) -> Cache:
    redis_client.flushdb()
    cache = Cache(redis_client, ttl_seconds=600, list_length=10)
    cache.publish_active_version("als", 1)
    return cache


def served(cache: Cache, user: str = "ann") -> list[int] | None:
    entry = cache.user_list("als", user)[1]
    return None if entry is None else entry.movies.tolist()


def test_a_list_from_older_data_does_not_replace_a_newer_one(cache: Cache) -> None:
    assert cache.store_user_lists("als", [("ann", listed([1, 2], stamp=7))]) == 1
    assert cache.store_user_lists("als", [("ann", listed([3, 4], stamp=6))]) == 0
    assert served(cache) == [1, 2]
    assert cache.store_user_lists("als", [("ann", listed([5, 6], stamp=7, version=2))]) == 1
    cache.publish_active_version("als", 2)
    assert served(cache) == [5, 6]  # same data, a new model version: written
    assert cache.store_user_lists("als", [("ann", listed([7], stamp=2**40, version=2))]) == 1
    assert served(cache) == [7]


def test_a_dropped_list_reads_as_a_miss_and_holds_off_older_writers(cache: Cache) -> None:
    cache.store_user_lists("als", [("ann", listed([1, 2], stamp=3)), ("bob", listed([1], 3))])
    cache.drop_user_lists("als", {"ann": 5})
    assert served(cache) is None
    assert cache.store_user_lists("als", [("ann", listed([3], stamp=4))]) == 0
    assert served(cache) is None
    assert cache.store_user_lists("als", [("ann", listed([4], stamp=5))]) == 1
    assert served(cache) == [4]
    cache.drop_user_lists("als", {"bob": 4, "cat": 4}, only_cached=True)
    assert served(cache, "bob") is None
    assert cache.client.exists(keys.recs("als", "cat")) == 0  # nothing cached: nothing left


def test_unstamped_lists_are_replaced_and_keep_reading(
    cache: Cache, redis_client: redis.Redis
) -> None:
    unstamped = pack(listed([1, 2], stamp=0))
    assert unpack(unstamped) is not None and unpack(unstamped).stamp == 0  # type: ignore[union-attr]
    redis_client.set(keys.recs("als", "ann"), unstamped)
    assert served(cache) == [1, 2]
    assert cache.store_user_lists("als", [("ann", listed([3], stamp=1))]) == 1
    entry = cache.user_list("als", "ann")[1]
    assert entry is not None and entry.stamp == 1 and entry.movies.tolist() == [3]


def test_writes_survive_a_flushed_script_cache(cache: Cache, redis_client: redis.Redis) -> None:
    cache.store_user_lists("als", [("ann", listed([1], stamp=1))])
    redis_client.script_flush()
    assert cache.store_user_lists("als", [("ann", listed([2], stamp=2))]) == 1
    assert served(cache) == [2]
