"""What processes tell each other through Redis besides lists: training locks, the workers'
heartbeat, sign-in attempt counts (``attempts.py``) and the outcome of the latest dataset
import."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis

from server.cache import keys
from server.cache.attempts import AttemptCounts
from server.cache.connection import CACHE_ERRORS, Client

log = logging.getLogger(__name__)


# KEYS[1] the lease, ARGV[1] its holder, ARGV[2] seconds: extends it when the holder holds it.
_RENEW_IF_HELD = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


class Coordination:
    """Locks, heartbeats, sign-in attempts and import reports over one Redis client."""

    def __init__(self, client: Client, lock_seconds: int = 60) -> None:
        self.client = client
        self.lock_seconds = lock_seconds
        self.attempts = AttemptCounts(client)

    # Dataset imports ----------------------------------------------------------------------------

    def record_import(self, report: dict[str, Any]) -> None:
        """Keep the outcome of the latest dataset import (for the admin page)."""
        with contextlib.suppress(*CACHE_ERRORS):
            self.client.set(keys.LAST_IMPORT, json.dumps(report), ex=keys.IMPORT_REPORT_TTL_SECONDS)

    def last_import(self) -> dict[str, Any] | None:
        """The outcome of the latest dataset import, if known."""
        try:
            raw = self.client.get(keys.LAST_IMPORT)
        except CACHE_ERRORS:
            return None
        report: dict[str, Any] | None = json.loads(raw) if raw else None
        return report

    # Requested retrains ---------------------------------------------------------------------

    def mark_retrain_waiting(self, algorithm: str) -> bool:
        """Mark a requested retrain of ``algorithm`` as waiting in the queue; False when one
        already waits (it will see the same data, so a second would only repeat it). With
        Redis down nothing coalesces: the request is not refused."""
        key = keys.retrain_waiting(algorithm)
        try:
            return bool(self.client.set(key, 1, nx=True, ex=keys.RETRAIN_WAITING_TTL_SECONDS))
        except CACHE_ERRORS:
            return True

    def retrain_started(self, algorithm: str) -> None:
        """The waiting retrain of ``algorithm`` started: the next request queues a new one."""
        with contextlib.suppress(*CACHE_ERRORS):
            self.client.delete(keys.retrain_waiting(algorithm))

    # Workers ------------------------------------------------------------------------------------

    def beat_heartbeat(self, now: int) -> None:
        """Record that a worker ran the periodic relay just now."""
        self.client.set(keys.HEARTBEAT, now, ex=keys.HEARTBEAT_TTL_SECONDS)

    def last_heartbeat(self) -> int | None:
        """When a worker last ran the relay (None if not within the heartbeat TTL)."""
        raw = self.client.get(keys.HEARTBEAT)
        return int(raw) if raw else None

    def scheduler_lease(self, holder: str) -> bool:
        """Take or renew the lease of the one beat that schedules, for ``holder``; False while
        another beat holds it. With Redis down every beat schedules: the relay and retrain
        requests are idempotent, and losing the schedule would lose the relay."""
        lease, seconds = keys.SCHEDULER_LEASE, keys.SCHEDULER_LEASE_SECONDS
        try:
            if self.client.set(lease, holder, nx=True, ex=seconds):
                return True
            # Renewed only by its holder: compare and extend in one script.
            renewed = self.client.eval(_RENEW_IF_HELD, 1, lease, holder, seconds)
        except CACHE_ERRORS:
            return True
        return bool(renewed)

    @contextmanager
    def training_lock(self, algorithm: str) -> Iterator[bool]:
        """Hold the algorithm's training lock; yields False when someone else holds it.

        The lock lives ``lock_seconds`` and a thread renews it while the holder runs, so a
        worker killed mid-training blocks the next run for at most that long.
        """
        lock = self.client.lock(
            keys.training_lock(algorithm), timeout=self.lock_seconds, thread_local=False
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
