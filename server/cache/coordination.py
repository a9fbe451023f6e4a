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
