"""Counts of sign-in attempts in fixed one-minute windows: in Redis, shared by every web process,
and in this process while Redis is down, so an outage never turns the sign-in throttle off."""

from __future__ import annotations

import logging
import threading
import time

from server.cache import keys
from server.cache.connection import CACHE_ERRORS, Client

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60
# Subjects this process remembers while Redis is down (older windows are dropped first).
LOCAL_SUBJECTS = 100_000


class AttemptCounts:
    """How many attempts a subject (an address, a username, ...) made in the current window."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._local: dict[str, tuple[int, int]] = {}  # subject -> (window, count)
        self._lock = threading.Lock()

    def add(self, subject: str) -> int:
        """Count one attempt of ``subject``; returns its count in this window."""
        key = keys.attempts(WINDOW_SECONDS, subject)
        try:
            pipe = self.client.pipeline(transaction=True)  # one key: one slot on a cluster
            pipe.set(key, 0, ex=WINDOW_SECONDS, nx=True)  # the window starts at the first
            pipe.incr(key)
            _, count = pipe.execute()
        except CACHE_ERRORS as error:
            log.warning("sign-in attempts counted in this process: %s", type(error).__name__)
            return self._add_locally(subject)
        return int(count)

    def count(self, subject: str) -> int:
        """The attempts of ``subject`` in this window, without adding one."""
        try:
            raw = self.client.get(keys.attempts(WINDOW_SECONDS, subject))
        except CACHE_ERRORS:
            return self._local_count(subject)
        return int(raw or 0)

    def _add_locally(self, subject: str) -> int:
        window = int(time.time()) // WINDOW_SECONDS
        with self._lock:
            if len(self._local) >= LOCAL_SUBJECTS:
                self._local = {s: v for s, v in self._local.items() if v[0] == window}
            started, count = self._local.get(subject, (window, 0))
            count = count + 1 if started == window else 1
            self._local[subject] = (window, count)
            return count

    def _local_count(self, subject: str) -> int:
        window = int(time.time()) // WINDOW_SECONDS
        with self._lock:
            started, count = self._local.get(subject, (window, 0))
        return count if started == window else 0
