"""Every Redis key and TTL of movierec, in one place.

Lists are packed: a small header (the model version that produced the list and its source) then
``int32`` movie ids and ``float32`` scores, capped at ``cache_list_length``. A list whose version is
not the algorithm's active version is stale. A missing, stale or unreadable entry, or Redis being
down, is a miss for readers, never an error: the caller computes the answer another way.
"""

from __future__ import annotations

import contextlib
import json
import logging
import struct
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import redis

from server.cache.near import NearCache
from server.config import Settings

log = logging.getLogger(__name__)

PREFIX = "movierec:"
HEADER = struct.Struct("<IB")  # model version id, length of the source label
HEARTBEAT_TTL_SECONDS = 30
ACTIVE_TTL_SECONDS = 86_400
# Read counts are kept per minute for this long, and each process adds its own every few seconds.
READ_STATS_TTL_SECONDS = 3600
READ_STATS_FLUSH_SECONDS = 5.0
# Popular lists are a cheap aggregate of the database, recomputed at most this often.
POPULAR_TTL_SECONDS = 10

# Redis down or answering badly: the cache is optional, so these are misses, not failures.
CACHE_ERRORS = (redis.RedisError, OSError)


@dataclass(frozen=True, eq=False)
class CachedList:
    """A ranked list of movies (internal ids) as one model version produced it. Compared by
    identity: a web process reuses the one object while it holds the list (``Cache``)."""

    version: int
    source: str
    movies: npt.NDArray[np.int32]
    scores: npt.NDArray[np.float32]

    def __len__(self) -> int:
        return len(self.movies)

    def pairs(self, n: int | None = None) -> list[tuple[int, float]]:
        """The first ``n`` (default: all) ``(movie, score)`` as Python numbers, best first."""
        movies, scores = self.movies[:n].tolist(), self.scores[:n].tolist()
        return list(zip(movies, scores, strict=True))


def pack(entry: CachedList) -> bytes:
    """The compact bytes of a list."""
    source = entry.source.encode()[:255]
    return (
        HEADER.pack(entry.version, len(source))
        + source
        + np.asarray(entry.movies, "<i4").tobytes()
        + np.asarray(entry.scores, "<f4").tobytes()
    )


def unpack(raw: bytes | str | None) -> CachedList | None:
    """The list packed in ``raw``; None when there is none or it is malformed."""
    if not isinstance(raw, bytes) or len(raw) < HEADER.size:
        return None
    version, source_length = HEADER.unpack_from(raw)
    body = raw[HEADER.size + source_length :]
    if len(body) % 8:
        return None
    count = len(body) // 8
    movies = np.frombuffer(body, "<i4", count)
    scores = np.frombuffer(body, "<f4", count, offset=4 * count)
    source = raw[HEADER.size : HEADER.size + source_length].decode(errors="replace")
    return CachedList(version, source, movies, scores)


# What web processes read on every request, so what they hold near (see ``server.cache.near``).
NEAR_PREFIXES = (f"{PREFIX}recs:", f"{PREFIX}similar:", f"{PREFIX}active:")


def _recs_key(algorithm: str, user: str) -> str:
    return f"{PREFIX}recs:{algorithm}:{user}"


def _similar_key(algorithm: str, movie: str) -> str:
    return f"{PREFIX}similar:{algorithm}:{movie}"


def _reads_key(minute: int) -> str:
    return f"{PREFIX}reads:{minute}"


def _active_key(algorithm: str) -> str:
    return f"{PREFIX}active:{algorithm}"


def _popular_key(window_days: int, genre: str) -> str:
    return f"{PREFIX}popular:{window_days}:{genre}"


class ReadCounter:
    """How many list reads the cache answered (hits) and how many it could not (misses).

    A process counts in memory and adds its counts to a per-minute Redis hash every
    ``READ_STATS_FLUSH_SECONDS``: a Redis write per read would double the cost of a hit.
    """

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._lock = threading.Lock()
        self._hits = self._misses = 0
        self._flush_at = time.monotonic() + READ_STATS_FLUSH_SECONDS

    def count(self, hit: bool) -> None:
        """Count one read."""
        with self._lock:
            if hit:
                self._hits += 1
            else:
                self._misses += 1
            due = time.monotonic() >= self._flush_at
        if due:
            self.flush()

    def flush(self) -> None:
        """Add this process's counts to Redis now (lost, not retried, when Redis is down)."""
        with self._lock:
            hits, misses, self._hits, self._misses = self._hits, self._misses, 0, 0
            self._flush_at = time.monotonic() + READ_STATS_FLUSH_SECONDS
        if not hits and not misses:
            return
        key = _reads_key(int(time.time()) // 60)
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.hincrby(key, "hits", hits)
            pipe.hincrby(key, "misses", misses)
            pipe.expire(key, READ_STATS_TTL_SECONDS)
            pipe.execute()
        except CACHE_ERRORS as error:
            log.warning("read counts lost: %s", type(error).__name__)

    def recent(self, minutes: int = 15) -> tuple[int, int]:
        """Hits and misses of all processes over the last ``minutes`` (as last flushed)."""
        now = int(time.time()) // 60
        pipe = self.client.pipeline(transaction=False)
        for minute in range(now - minutes + 1, now + 1):
            pipe.hmget(_reads_key(minute), ["hits", "misses"])
        hits = misses = 0
        for minute_hits, minute_misses in pipe.execute():
            hits += int(minute_hits or 0)
            misses += int(minute_misses or 0)
        return hits, misses


class Cache:
    """Typed access to movierec's Redis keys."""

    def __init__(
        self,
        client: redis.Redis,
        ttl_seconds: int,
        list_length: int,
        lock_seconds: int = 60,
        near_entries: int = 0,
    ) -> None:
        self.client = client
        self.ttl = ttl_seconds
        self.list_length = list_length
        self.lock_seconds = lock_seconds
        # Web processes keep what they read (``near_entries`` keys at most); workers write.
        self.near = NearCache(client, NEAR_PREFIXES, near_entries) if near_entries > 0 else None
        self._unpacked: dict[str, tuple[bytes, CachedList]] = {}
        self.reads = ReadCounter(client)

    @classmethod
    def from_settings(cls, client: redis.Redis, settings: Settings, near: bool = False) -> Cache:
        """The cache with the TTLs and lengths of ``settings``; with ``near``, values read are
        also held in this process (see ``server.cache.near``)."""
        return cls(
            client,
            settings.cache_ttl_seconds,
            settings.cache_list_length,
            settings.training_lock_seconds,
            settings.near_cache_entries if near else 0,
        )

    # Lists for users and movies ---------------------------------------------------------------

    def user_list(self, algorithm: str, user: str) -> tuple[int | None, CachedList | None]:
        """The active version of ``algorithm`` and the user's list if it is that version's."""
        return self._read_list(_active_key(algorithm), _recs_key(algorithm, user))

    def similar_list(self, algorithm: str, movie: str) -> tuple[int | None, CachedList | None]:
        """The active version of ``algorithm`` and the movie's similar list if current."""
        return self._read_list(_active_key(algorithm), _similar_key(algorithm, movie))

    def _read_list(self, active_key: str, key: str) -> tuple[int | None, CachedList | None]:
        keys = [active_key, key]
        try:
            active_raw, raw = self.near.mget(keys) if self.near else self.client.mget(keys)
        except CACHE_ERRORS as error:
            log.warning("cache read failed: %s", type(error).__name__)
            return None, None
        active = int(active_raw) if active_raw else None
        entry = self._unpack_held(key, raw)
        if entry is None or active is None or entry.version != active:
            return active, None
        return active, entry

    def _unpack_held(self, key: str, raw: bytes | str | None) -> CachedList | None:
        """``unpack(raw)``, once per value the near cache holds: a held value is the same bytes
        object on every read, so it maps to the same list, which callers can then render once
        (``server.cache.rendered``). A changed value is a new object and is unpacked anew."""
        if self.near is None or not isinstance(raw, bytes):
            return unpack(raw)
        known = self._unpacked.get(key)
        if known is not None and known[0] is raw:
            return known[1]
        entry = unpack(raw)
        if entry is not None:
            if len(self._unpacked) >= self.near.max_entries:
                self._unpacked.clear()  # rare: a process reads more keys than it holds
            self._unpacked[key] = (raw, entry)
        return entry

    def store_user_lists(self, algorithm: str, lists: Iterable[tuple[str, CachedList]]) -> int:
        """Write users' lists in one pipelined round trip; returns how many were written."""
        return self._store((_recs_key(algorithm, user), entry) for user, entry in lists)

    def store_similar_lists(self, algorithm: str, lists: Iterable[tuple[str, CachedList]]) -> int:
        """Write movies' similar lists in one pipelined round trip."""
        return self._store((_similar_key(algorithm, movie), entry) for movie, entry in lists)

    def _store(self, items: Iterable[tuple[str, CachedList]]) -> int:
        pipe = self.client.pipeline(transaction=False)
        keys = []
        for key, entry in items:
            capped = CachedList(
                entry.version,
                entry.source,
                entry.movies[: self.list_length],
                entry.scores[: self.list_length],
            )
            pipe.set(key, pack(capped), ex=self.ttl)
            keys.append(key)
        pipe.execute()
        self._forget_near(keys)
        return len(keys)

    def _forget_near(self, keys: list[str]) -> None:
        """Drop this process's copies of keys it just wrote: its next read sees its own write
        without waiting for Redis's invalidation to arrive."""
        if self.near is not None:
            self.near.invalidate(keys)

    def drop_user_list(self, algorithm: str, user: str) -> None:
        """Forget a user's cached list (their ratings changed and no refresh is possible)."""
        self.client.delete(_recs_key(algorithm, user))
        self._forget_near([_recs_key(algorithm, user)])

    # Active versions ----------------------------------------------------------------------------

    def active_version(self, algorithm: str) -> int | None:
        """The active version id as last published; None when unknown or Redis is down."""
        try:
            raw = self.client.get(_active_key(algorithm))
        except CACHE_ERRORS:
            return None
        return int(raw) if raw else None

    def publish_active_version(self, algorithm: str, version: int | None) -> None:
        """Publish (or, with None, withdraw) the algorithm's active version."""
        try:
            if version is None:
                self.client.delete(_active_key(algorithm))
            else:
                self.client.set(_active_key(algorithm), version, ex=ACTIVE_TTL_SECONDS)
            self._forget_near([_active_key(algorithm)])
        except CACHE_ERRORS as error:
            log.warning("could not publish the active version: %s", type(error).__name__)

    # Popular lists ------------------------------------------------------------------------------

    def popular(self, window_days: int, genre: str) -> list[tuple[int, float]] | None:
        """A cached popular list of (movie, score); None on a miss."""
        try:
            raw = self.client.get(_popular_key(window_days, genre))
        except CACHE_ERRORS:
            return None
        entry = unpack(raw)
        if entry is None:
            return None
        return list(zip(entry.movies.tolist(), entry.scores.tolist(), strict=True))

    def store_popular(self, window_days: int, genre: str, pairs: list[tuple[int, float]]) -> None:
        """Cache a popular list for ``POPULAR_TTL_SECONDS``."""
        movies = np.array([m for m, _ in pairs], np.int32)
        scores = np.array([s for _, s in pairs], np.float32)
        try:
            self.client.set(
                _popular_key(window_days, genre),
                pack(CachedList(0, "popularity", movies, scores)),
                ex=POPULAR_TTL_SECONDS,
            )
        except CACHE_ERRORS as error:
            log.warning("could not cache a popular list: %s", type(error).__name__)

    # Sign-in throttling ----------------------------------------------------------------------

    def count_attempt(self, subject: str, window_seconds: int = 60) -> int | None:
        """Count one sign-in attempt of ``subject`` (an address or a username) in the current
        window; the count so far, or None when Redis is down (the caller lets the attempt in:
        a cache outage must not lock everyone out)."""
        key = f"{PREFIX}attempts:{window_seconds}:{subject}"
        try:
            pipe = self.client.pipeline(transaction=True)
            pipe.set(key, 0, ex=window_seconds, nx=True)  # the window starts at the first
            pipe.incr(key)
            _, count = pipe.execute()
        except CACHE_ERRORS as error:
            log.warning("sign-in throttling is off: %s", type(error).__name__)
            return None
        return int(count)

    # Dataset imports ----------------------------------------------------------------------------

    def record_import(self, report: dict[str, Any]) -> None:
        """Keep the outcome of the latest dataset import (for the admin page)."""
        with contextlib.suppress(*CACHE_ERRORS):
            self.client.set(f"{PREFIX}import:last", json.dumps(report), ex=ACTIVE_TTL_SECONDS)

    def last_import(self) -> dict[str, Any] | None:
        """The outcome of the latest dataset import, if known."""
        try:
            raw = self.client.get(f"{PREFIX}import:last")
        except CACHE_ERRORS:
            return None
        report: dict[str, Any] | None = json.loads(raw) if raw else None
        return report

    # Workers ------------------------------------------------------------------------------------

    def beat_heartbeat(self, now: int) -> None:
        """Record that a worker ran the periodic relay just now."""
        self.client.set(f"{PREFIX}heartbeat:worker", now, ex=HEARTBEAT_TTL_SECONDS)

    def last_heartbeat(self) -> int | None:
        """When a worker last ran the relay (None if not within the heartbeat TTL)."""
        raw = self.client.get(f"{PREFIX}heartbeat:worker")
        return int(raw) if raw else None

    @contextmanager
    def training_lock(self, algorithm: str) -> Iterator[bool]:
        """Hold the algorithm's training lock; yields False when someone else holds it.

        The lock lives ``lock_seconds`` and a thread renews it while the holder runs, so a
        worker killed mid-training blocks the next run for at most that long.
        """
        lock = self.client.lock(
            f"{PREFIX}lock:train:{algorithm}", timeout=self.lock_seconds, thread_local=False
        )
        if not lock.acquire(blocking=False):
            yield False
            return
        done = threading.Event()

        def renew() -> None:
            while not done.wait(self.lock_seconds / 3):
                with contextlib.suppress(*CACHE_ERRORS, redis.exceptions.LockError):
                    lock.reacquire()

        renewer = threading.Thread(target=renew, name=f"lock-{algorithm}", daemon=True)
        renewer.start()
        try:
            yield True
        finally:
            done.set()
            renewer.join()
            with contextlib.suppress(*CACHE_ERRORS, redis.exceptions.LockError):
                lock.release()

    def memory_usage(self, key_kind: str, name: str, algorithm: str) -> int:
        """Bytes Redis uses for one list (``recs`` or ``similar``), for the benchmarks."""
        key = _recs_key(algorithm, name) if key_kind == "recs" else _similar_key(algorithm, name)
        used: Any = self.client.memory_usage(key)
        return int(used or 0)
