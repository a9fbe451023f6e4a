"""A copy of hot Redis keys inside the web process, kept exact by Redis itself.

A cached read costs a Redis round trip: on a small machine, that and Redis's own work are the
larger part of serving a cached list. So each web process keeps the values it has read, and Redis
tells it when one changes: server-assisted client-side caching in broadcast mode (``CLIENT
TRACKING ... BCAST PREFIX``). Every write, expiry, eviction or flush of a key under the tracked
prefixes sends an invalidation to this process's listener connection, which drops the copy; a
refreshed list is seen within a millisecond or so of the worker writing it.

Two connections per process, held by a daemon thread: the listener, subscribed to the
invalidation channel, and the tracker, which turned tracking on with the listener as its
redirect target. Tracking lasts only as long as the tracker's connection, so the thread pings it
whenever the listener is quiet. Until both are up, and whenever either fails, nothing is held and
every read goes to Redis: the copy can be missing, never stale.

A read that races a write is settled by a reservation: before fetching a key the reader puts a
token in its place; an invalidation removes the token; the fetched value is kept only if its
token is still there.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any

import redis

from server.metrics import metrics

log = logging.getLogger(__name__)

INVALIDATION_CHANNEL = "__redis__:invalidate"
# The listener waits this long for an invalidation before checking that tracking is still on.
CHECK_SECONDS = 1.0
# After a failure, reconnect after this long (reads go to Redis meanwhile).
RECONNECT_SECONDS = 1.0
# Redis down or answering badly: the copy is dropped and reads go to Redis.
LISTENER_ERRORS = (redis.RedisError, OSError)


@dataclass(frozen=True, slots=True)
class _Held:
    """A value copied from Redis (None: the key did not exist)."""

    value: bytes | str | None


class NearCache:
    """Values of Redis keys under ``prefixes``, held in this process while Redis says they are
    unchanged. At most ``max_entries`` are held; the oldest go first."""

    def __init__(self, client: redis.Redis, prefixes: tuple[str, ...], max_entries: int) -> None:
        self.client = client
        self.prefixes = prefixes
        self.max_entries = max_entries
        self._entries: dict[str, _Held | object] = {}
        self._lock = threading.Lock()
        self._live = False
        self._listener_pid: int | None = None

    @property
    def live(self) -> bool:
        """Whether invalidations are being followed (and values therefore held)."""
        return self._live

    def mget(self, keys: list[str]) -> list[bytes | str | None]:
        """The values of ``keys``: held copies, the rest in one MGET (raises what Redis raises)."""
        self._start_listener()
        if not self._live:
            return list(self.client.mget(keys))
        held = [self._entries.get(key) for key in keys]
        wanted = [key for key, entry in zip(keys, held, strict=True) if type(entry) is not _Held]
        fetched: dict[str, bytes | str | None] = {}
        if wanted:
            tokens = [self._reserve(key) for key in wanted]
            fetched = dict(zip(wanted, self.client.mget(wanted), strict=True))
            for key, token in zip(wanted, tokens, strict=True):
                self._settle(key, token, fetched[key])
        return [
            entry.value if isinstance(entry, _Held) else fetched[key]
            for key, entry in zip(keys, held, strict=True)
        ]

    def _reserve(self, key: str) -> object:
        token = object()
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.pop(next(iter(self._entries)))
            self._entries[key] = token
            self._report_size()
        return token

    def _report_size(self) -> None:
        """Set the size gauge (under the lock): on a miss or an invalidation, never on a hit."""
        metrics().near_cache_entries.set(len(self._entries))

    def _settle(self, key: str, token: object, value: bytes | str | None) -> None:
        with self._lock:
            if self._entries.get(key) is token:
                self._entries[key] = _Held(value)

    def invalidate(self, keys: list[bytes] | list[str] | None) -> None:
        """Drop the copies of ``keys`` (all of them for None, which is how a flush arrives)."""
        with self._lock:
            if keys is None:
                self._entries.clear()
            else:
                for key in keys:
                    name = key.decode(errors="replace") if isinstance(key, bytes) else key
                    self._entries.pop(name, None)
            self._report_size()

    def _go_dark(self) -> None:
        with self._lock:
            self._live = False
            self._entries.clear()
            self._report_size()

    def _go_live(self) -> None:
        with self._lock:
            self._entries.clear()
            self._live = True

    def _start_listener(self) -> None:
        """Start this process's listener thread once (again in a forked child)."""
        if self._listener_pid == os.getpid():
            return
        with self._lock:
            if self._listener_pid == os.getpid():
                return
            self._listener_pid = os.getpid()
            self._live = False
            self._entries.clear()
        # The thread holds only a weak reference, so a dropped cache (an app in the tests) ends it.
        thread = threading.Thread(
            target=_listen, args=(weakref.ref(self),), name="near-cache", daemon=True
        )
        thread.start()


def _listen(cache_ref: weakref.ref[NearCache]) -> None:
    """Follow invalidations for as long as the cache exists, reconnecting after failures."""
    attempts = 0
    while True:
        failure = None
        try:
            _follow(cache_ref)
        except LISTENER_ERRORS as error:
            failure = type(error).__name__
        cache = cache_ref()
        if cache is None:
            return
        if cache.live or not attempts:  # said once per outage, not at every reconnection
            log.warning("near cache off until Redis answers again: %s", failure)
        attempts += 1
        cache._go_dark()
        del cache  # only the weak reference is held between attempts
        time.sleep(RECONNECT_SECONDS)


def _follow(cache_ref: weakref.ref[NearCache]) -> None:
    """Turn tracking on, then drop what Redis says changed until a connection fails (raises)
    or the cache is gone (returns)."""
    cache = cache_ref()
    if cache is None:
        return
    listener, tracker = _resp2_connection(cache.client), _resp2_connection(cache.client)
    try:
        listener_id = _command(listener, "CLIENT", "ID")
        _command(listener, "SUBSCRIBE", INVALIDATION_CHANNEL)
        prefixes = [part for prefix in cache.prefixes for part in ("PREFIX", prefix)]
        _command(tracker, "CLIENT", "TRACKING", "ON", "REDIRECT", listener_id, "BCAST", *prefixes)
        cache._go_live()
        del cache
        while True:
            message = listener.read_response() if listener.can_read(CHECK_SECONDS) else None
            cache = cache_ref()
            if cache is None:
                return
            if isinstance(message, list) and message[0] == b"message":
                cache.invalidate(message[2])
            elif message is None:
                _command(tracker, "PING")  # tracking lasts only as long as this connection
            del cache
    finally:
        listener.disconnect()
        tracker.disconnect()


def _resp2_connection(client: redis.Redis) -> Any:
    """A connection of its own to ``client``'s server, speaking RESP2: there, invalidations
    arrive as plain pub/sub messages, read the same way by every redis-py version. (Typed Any:
    redis-py's connection methods carry no annotations.)"""
    pool = client.connection_pool
    # redis-py 8 adds options for its RESP3 maintenance notifications; they refuse RESP2.
    kwargs = {
        key: value
        for key, value in pool.connection_kwargs.items()
        if not key.startswith("maint_notifications")
    }
    return pool.connection_class(**{**kwargs, "protocol": 2})


def _command(connection: Any, *args: object) -> object:
    connection.send_command(*args)
    return connection.read_response()
