"""How many list reads the cache answered (hits) and how many it could not (misses)."""

from __future__ import annotations

import logging
import threading
import time

from server.cache import keys
from server.cache.connection import CACHE_ERRORS, Client
from server.metrics import metrics

log = logging.getLogger(__name__)

# Each process adds its counts to Redis this often.
FLUSH_SECONDS = 5.0


class ReadCounter:
    """Counts reads in memory and adds them to a per-minute Redis hash every
    ``FLUSH_SECONDS``: a Redis write per read would double the cost of a hit."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._lock = threading.Lock()
        self._hits = self._misses = 0
        self._flush_at = time.monotonic() + FLUSH_SECONDS

    def count(self, hit: bool) -> None:
        """Count one read (here for the admin page, and in the Prometheus counter)."""
        (metrics().cache_hits if hit else metrics().cache_misses).inc()
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
            self._flush_at = time.monotonic() + FLUSH_SECONDS
        if not hits and not misses:
            return
        key = keys.reads(int(time.time()) // 60)
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.hincrby(key, "hits", hits)
            pipe.hincrby(key, "misses", misses)
            pipe.expire(key, keys.READ_STATS_TTL_SECONDS)
            pipe.execute()
        except CACHE_ERRORS as error:
            log.warning("read counts lost: %s", type(error).__name__)

    def recent(self, minutes: int = 15) -> tuple[int, int]:
        """Hits and misses of all processes over the last ``minutes`` (as last flushed)."""
        now = int(time.time()) // 60
        pipe = self.client.pipeline(transaction=False)
        for minute in range(now - minutes + 1, now + 1):
            pipe.hmget(keys.reads(minute), ["hits", "misses"])
        hits = misses = 0
        for minute_hits, minute_misses in pipe.execute():
            hits += int(minute_hits or 0)
            misses += int(minute_misses or 0)
        return hits, misses
