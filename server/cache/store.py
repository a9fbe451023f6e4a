"""Typed access to the cached lists: users' top lists, movies' similar lists, the active version
of each algorithm and popular lists.

A list whose version is not the algorithm's active version is stale. A missing, stale or
unreadable entry, or Redis being down, is a miss for readers, never an error: the caller computes
the answer another way.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from server.cache import keys
from server.cache.connection import CACHE_ERRORS, Client, mget
from server.cache.guarded import write_unless_newer
from server.cache.lists import CachedList, pack, pack_dropped, unpack
from server.cache.near import NearCache
from server.cache.read_counts import ReadCounter
from server.config import Settings

log = logging.getLogger(__name__)


class Cache:
    """The lists movierec keeps in Redis."""

    def __init__(
        self, client: Client, ttl_seconds: int, list_length: int, near_entries: int = 0
    ) -> None:
        self.client = client
        self.ttl = ttl_seconds
        self.list_length = list_length
        # Web processes keep what they read (``near_entries`` keys at most); workers write.
        self.near = NearCache(client, keys.NEAR_PREFIXES, near_entries) if near_entries else None
        self._unpacked: dict[str, tuple[bytes, CachedList]] = {}
        self.reads = ReadCounter(client)

    @classmethod
    def from_settings(cls, client: Client, settings: Settings, near: bool = False) -> Cache:
        """The cache with the TTLs and lengths of ``settings``; with ``near``, values read are
        also held in this process (see ``server.cache.near``)."""
        return cls(
            client,
            settings.cache_ttl_seconds,
            settings.cache_list_length,
            settings.near_cache_entries if near else 0,
        )

    # Lists for users and movies ---------------------------------------------------------------

    def user_list(self, algorithm: str, user: str) -> tuple[int | None, CachedList | None]:
        """The active version of ``algorithm`` and the user's list if it is that version's. For
        ``auto`` (the champions) the "version" is the champion set's generation."""
        return self._read_list(
            keys.active(algorithm), keys.recs(algorithm, user), algorithm == keys.AUTO
        )

    def similar_list(self, algorithm: str, movie: str) -> tuple[int | None, CachedList | None]:
        """The active version of ``algorithm`` and the movie's similar list if current."""
        return self._read_list(keys.active(algorithm), keys.similar(algorithm, movie))

    def _read_list(
        self, active_key: str, key: str, by_generation: bool = False
    ) -> tuple[int | None, CachedList | None]:
        wanted = [active_key, key]
        try:
            active_raw, raw = self.near.mget(wanted) if self.near else mget(self.client, wanted)
        except CACHE_ERRORS as error:
            log.warning("cache read failed: %s", type(error).__name__)
            return None, None
        active = int(active_raw) if active_raw else None
        entry = self._unpack_held(key, raw)
        stamp = None if entry is None else entry.generation if by_generation else entry.version
        if stamp is None or active is None or stamp != active:
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
        """Write users' lists in one pipelined round trip, each unless the one cached reflects
        newer data of its person (``server.cache.guarded``); returns how many were written."""
        writes = [
            (keys.recs(algorithm, user), pack(entry.head(self.list_length)), entry.stamp)
            for user, entry in lists
        ]
        written = write_unless_newer(self.client, writes, self.ttl)
        self._forget_near([key for key, _value, _stamp in writes])
        return written

    def store_similar_lists(self, algorithm: str, lists: Iterable[tuple[str, CachedList]]) -> int:
        """Write movies' similar lists in one pipelined round trip (they depend on the model
        version alone, which each list carries: no writer's data is older than another's)."""
        # On a cluster, redis-py's pipeline sends each node its keys' commands.
        pipe = self.client.pipeline(transaction=False)
        written = []
        for movie, entry in lists:
            key = keys.similar(algorithm, movie)
            pipe.set(key, pack(entry.head(self.list_length)), ex=self.ttl)
            written.append(key)
        pipe.execute()
        self._forget_near(written)
        return len(written)

    def _forget_near(self, written: list[str]) -> None:
        """Drop this process's copies of keys it just wrote: its next read sees its own write
        without waiting for Redis's invalidation to arrive."""
        if self.near is not None:
            self.near.invalidate(written)

    def drop_user_list(self, algorithm: str, user: str) -> None:
        """Forget a user's cached list (the person is gone)."""
        self.client.delete(keys.recs(algorithm, user))
        self._forget_near([keys.recs(algorithm, user)])

    def drop_user_lists(
        self, algorithm: str, stamps: Mapping[str, int], only_cached: bool = False
    ) -> None:
        """Drop these people's lists of ``algorithm`` as of their newest changes (user ->
        stamp), in one pipelined round trip: a marker that reads as a miss takes each list's
        place, so a slower writer with older data cannot bring the list back. With
        ``only_cached``, only where a list is cached."""
        writes = [
            (keys.recs(algorithm, user), pack_dropped(stamp), stamp)
            for user, stamp in stamps.items()
        ]
        write_unless_newer(self.client, writes, self.ttl, only_cached)
        self._forget_near([key for key, _value, _stamp in writes])

    # Active versions ----------------------------------------------------------------------------

    def active_version(self, algorithm: str) -> int | None:
        """The active version number as last published; None when unknown or Redis is down."""
        try:
            raw = self.client.get(keys.active(algorithm))
        except CACHE_ERRORS:
            return None
        return int(raw) if raw else None

    def publish_active_version(self, algorithm: str, version: int | None) -> None:
        """Publish (or, with None, withdraw) the algorithm's active version."""
        try:
            if version is None:
                self.client.delete(keys.active(algorithm))
            else:
                self.client.set(keys.active(algorithm), version, ex=keys.ACTIVE_TTL_SECONDS)
            self._forget_near([keys.active(algorithm)])
        except CACHE_ERRORS as error:
            log.warning("could not publish the active version: %s", type(error).__name__)

    # Popular lists ------------------------------------------------------------------------------

    def popular(self, window_days: int, genres: str) -> tuple[list[tuple[int, float]], int] | None:
        """A kept popular list of (movie, score), with when it was computed (Unix seconds);
        None on a miss."""
        try:
            raw = self.client.get(keys.popular(window_days, genres))
        except CACHE_ERRORS:
            return None
        entry = unpack(raw)
        # A popular list's "version" is when it was computed.
        return None if entry is None else (entry.pairs(), entry.version)

    def store_popular(
        self, window_days: int, genres: str, pairs: list[tuple[int, float]], computed_at: int
    ) -> None:
        """Keep a popular list for ``POPULAR_KEPT_SECONDS``."""
        movies = np.array([m for m, _ in pairs], np.int32)
        scores = np.array([s for _, s in pairs], np.float32)
        try:
            self.client.set(
                keys.popular(window_days, genres),
                pack(CachedList(computed_at, "popularity", movies, scores)),
                ex=keys.POPULAR_KEPT_SECONDS,
            )
        except CACHE_ERRORS as error:
            log.warning("could not cache a popular list: %s", type(error).__name__)

    def want_popular(self, window_days: int, genres: str, at: int) -> None:
        """Ask the workers to keep this popular list (someone asked for it at ``at``)."""
        with contextlib.suppress(*CACHE_ERRORS):
            self.client.zadd(keys.POPULAR_WANTED, {f"{window_days}:{genres}": at})

    def wanted_popular(self, since: int) -> list[tuple[int, str]]:
        """The popular lists someone asked for since ``since`` (window, genres); the others
        are forgotten."""
        self.client.zremrangebyscore(keys.POPULAR_WANTED, "-inf", f"({since}")
        wanted: list[bytes] = self.client.zrange(keys.POPULAR_WANTED, 0, -1)  # type: ignore[assignment]
        pairs = (member.decode().partition(":") for member in wanted)
        return [(int(window), genres) for window, _, genres in pairs]

    def popular_cost(self, window_days: int) -> tuple[float, float] | None:
        """When the workers last began computing a window's popular lists (Unix seconds) and
        how many seconds it took; None if unknown."""
        try:
            raw = self.client.hget(keys.POPULAR_COSTS, str(window_days))
        except CACHE_ERRORS:
            return None
        if not isinstance(raw, bytes):
            return None
        began, _, took = raw.decode().partition(":")
        return float(began), float(took)

    def store_popular_cost(self, window_days: int, began: float, took: float) -> None:
        """Note when a window's popular lists were computed and what it took."""
        with contextlib.suppress(*CACHE_ERRORS):
            self.client.hset(keys.POPULAR_COSTS, str(window_days), f"{began:.3f}:{took:.3f}")

    def first_to_compute_popular(self, window_days: int, genres: str) -> bool:
        """True for the one process that is to compute a list not kept yet (and when Redis is
        down: each computes its own)."""
        try:
            key = keys.popular_first(window_days, genres)
            return bool(self.client.set(key, 1, nx=True, ex=keys.POPULAR_FIRST_SECONDS))
        except CACHE_ERRORS:
            return True

    def computed_popular(self, window_days: int, genres: str) -> None:
        """The first computation of a list is over (kept or failed)."""
        with contextlib.suppress(*CACHE_ERRORS):
            self.client.delete(keys.popular_first(window_days, genres))

    def memory_usage(self, key_kind: str, name: str, algorithm: str) -> int:
        """Bytes Redis uses for one list (``recs`` or ``similar``), for the benchmarks."""
        key = keys.recs(algorithm, name) if key_kind == "recs" else keys.similar(algorithm, name)
        used: Any = self.client.memory_usage(key)
        return int(used or 0)
