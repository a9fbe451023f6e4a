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

On a Redis Cluster each primary tells only of its own keys, so the thread holds a listener and a
tracker on every primary, and goes dark whenever any of them fails. It checks each second that
the nodes it follows are still the primaries, and a read keeps nothing fetched once the client
knows other primaries than those followed (a node added, a failover): the thread then follows
the new ones.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any

import redis
from redis.cluster import RedisCluster

from server.cache.connection import CACHE_ERRORS, Client, mget
from server.metrics import metrics

log = logging.getLogger(__name__)

INVALIDATION_CHANNEL = "__redis__:invalidate"
# The listener waits this long for an invalidation before checking that tracking is still on.
CHECK_SECONDS = 1.0
# After a failure, reconnect after this long (reads go to Redis meanwhile).
RECONNECT_SECONDS = 1.0
# Redis down or answering badly: the copy is dropped and reads go to Redis.
LISTENER_ERRORS = CACHE_ERRORS


class ClusterChanged(redis.RedisError):
    """The cluster's primaries are no longer the nodes followed."""


@dataclass(frozen=True, slots=True)
class _Held:
    """A value copied from Redis (None: the key did not exist)."""

    value: bytes | str | None


class NearCache:
    """Values of Redis keys under ``prefixes``, held in this process while Redis says they are
    unchanged. At most ``max_entries`` are held; the oldest go first."""

    def __init__(self, client: Client, prefixes: tuple[str, ...], max_entries: int) -> None:
        self.client = client
        self.prefixes = prefixes
        self.max_entries = max_entries
        self._entries: dict[str, _Held | object] = {}
        self._lock = threading.Lock()
        self._live = False
        self._listener_pid: int | None = None
        # The primaries followed (on a cluster; none for one server).
        self._followed: frozenset[str] = frozenset()

    @property
    def live(self) -> bool:
        """Whether invalidations are being followed (and values therefore held)."""
        return self._live

    def mget(self, keys: list[str]) -> list[bytes | str | None]:
        """The values of ``keys``: held copies, the rest in one MGET (raises what Redis raises)."""
        self._start_listener()
        if not self._live:
            return mget(self.client, keys)
        held = [self._entries.get(key) for key in keys]
        wanted = [key for key, entry in zip(keys, held, strict=True) if type(entry) is not _Held]
        fetched: dict[str, bytes | str | None] = {}
        if wanted:
            tokens = [self._reserve(key) for key in wanted]
            fetched = dict(zip(wanted, mget(self.client, wanted), strict=True))
            # A value from a primary not followed would never be invalidated.
            if primaries(self.client) == self._followed:
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

    def _go_live(self, followed: frozenset[str]) -> None:
        with self._lock:
            self._entries.clear()
            self._followed = followed
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
            _follow(cache_ref, refresh=attempts > 0)
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


def _follow(cache_ref: weakref.ref[NearCache], refresh: bool = False) -> None:
    """Turn tracking on, then drop what Redis says changed until a connection fails or the
    cluster's primaries change (raises) or the cache is gone (returns). With ``refresh``, a
    cluster client first asks the cluster for its nodes again (after a failure: a failover)."""
    cache = cache_ref()
    if cache is None:
        return
    if refresh and isinstance(cache.client, RedisCluster):
        cache.client.nodes_manager.initialize()
    followed, servers = _servers(cache.client)
    pairs = [(_resp2_connection(server), _resp2_connection(server)) for server in servers]
    try:
        prefixes = [part for prefix in cache.prefixes for part in ("PREFIX", prefix)]
        for listener, tracker in pairs:
            listener_id = _command(listener, "CLIENT", "ID")
            _command(listener, "SUBSCRIBE", INVALIDATION_CHANNEL)
            _command(
                tracker, "CLIENT", "TRACKING", "ON", "REDIRECT", listener_id, "BCAST", *prefixes
            )
        cache._go_live(followed)
        del cache
        listeners = [listener for listener, _ in pairs]
        check_at = time.monotonic() + CHECK_SECONDS
        while True:
            ready = _readable(listeners, CHECK_SECONDS)
            cache = cache_ref()
            if cache is None:
                return
            for listener in ready:
                message = listener.read_response()
                if isinstance(message, list) and message[0] == b"message":
                    cache.invalidate(message[2])
            if not ready or time.monotonic() >= check_at:
                _check(cache.client, followed, [tracker for _, tracker in pairs])
                check_at = time.monotonic() + CHECK_SECONDS
            del cache
    finally:
        for listener, tracker in pairs:
            listener.disconnect()
            tracker.disconnect()


def primaries(client: Client) -> frozenset[str]:
    """The names of a cluster's primaries as ``client`` knows them (none for one server)."""
    if isinstance(client, RedisCluster):
        return frozenset(node.name for node in _primary_nodes(client))
    return frozenset()


def _servers(client: Client) -> tuple[frozenset[str], list[redis.Redis]]:
    """The servers to follow, with the names of the primaries among them: the one server, or
    every primary of a cluster, each telling only of the keys it holds."""
    if isinstance(client, RedisCluster):
        nodes = _primary_nodes(client)
        names = frozenset(node.name for node in nodes)
        return names, [client.get_redis_connection(node) for node in nodes]
    return frozenset(), [client]


def _primary_nodes(client: RedisCluster) -> list[Any]:
    """The primaries as the client last learnt them (redis-py's ``ClusterNode``)."""
    nodes: list[Any] = client.nodes_manager.get_nodes_by_server_type("primary")
    return nodes


def _check(client: Client, followed: frozenset[str], trackers: list[Any]) -> None:
    """Keep the trackers' connections alive (tracking lasts only as long as each), and on a
    cluster check that every node followed is still a primary and no other one has appeared
    (raises ``ClusterChanged``)."""
    if not isinstance(client, RedisCluster):
        _command(trackers[0], "PING")
        return
    for tracker in trackers:
        role = _command(tracker, "ROLE")
        if not isinstance(role, list) or role[0] != b"master":
            raise ClusterChanged("a node followed is no longer a primary")
    if primaries(client) != followed:
        raise ClusterChanged("the cluster has other primaries")


def _readable(listeners: list[Any], timeout: float) -> list[Any]:
    """The listeners with a message waiting, after up to ``timeout`` seconds for one."""
    if len(listeners) == 1:
        return listeners if listeners[0].can_read(timeout) else []
    ready = [listener for listener in listeners if listener.can_read(0)]  # buffered included
    if not ready:
        select.select([listener._sock for listener in listeners], [], [], timeout)
        ready = [listener for listener in listeners if listener.can_read(0)]
    return ready


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
