"""The task queue as the web processes and the CLI see it: Celery configured from the settings,
used only to publish tasks by name (``send_task``), so the server never imports the workers.

Publishing is best effort: the outbox row is already committed, and the workers' relay re-sends
anything left unprocessed. After a failed publish the queue stays quiet for a few seconds instead
of making every request wait for a broker that is down.

Rating events are not published by the request that wrote them: ``announce_event`` hands the id
to a background thread. A lone event is published at once; after each publish the thread rests
``ANNOUNCE_INTERVAL_SECONDS``, so under load the events of that interval go as one task. A request
never waits on the broker, and a busy process sends a few messages a second, not one per rating
(each message costs the web its publish and the worker a task run).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from typing import Any

from celery import Celery
from kombu import Queue

from server.cache.connection import redis_url
from server.config import Settings

log = logging.getLogger(__name__)

EVENTS_QUEUE = "events"
TRAINING_QUEUE = "training"
PROCESS_EVENTS = "movierec.events.process"
RELAY_EVENTS = "movierec.events.relay"
RETRAIN = "movierec.training.retrain"
PRECOMPUTE = "movierec.training.precompute"
IMPORT_DATASET = "movierec.data.import"
ENRICH_MOVIES = "movierec.data.enrich"
KEEP_POPULAR = "movierec.popular.keep"
QUIET_AFTER_FAILURE_SECONDS = 5.0
# The announcer's rest after a publish: the most often one process publishes events.
ANNOUNCE_INTERVAL_SECONDS = 0.05
# The most event ids one PROCESS_EVENTS task carries (the announcer and the relay split by it).
EVENTS_PER_TASK = 500


def broker_url(settings: Settings) -> str:
    """The broker: the configured one, or the Redis server (``redis+socket://`` when embedded)."""
    if settings.broker_url:
        return settings.broker_url
    url = redis_url(settings)
    if url.startswith("unix://"):
        return "redis+socket://" + url.removeprefix("unix://")
    return url


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery settings shared by the publishers and the workers."""
    return {
        "broker_url": broker_url(settings),
        "task_ignore_result": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_queues": [Queue(EVENTS_QUEUE), Queue(TRAINING_QUEUE)],
        "task_default_queue": EVENTS_QUEUE,
        "task_routes": {
            RETRAIN: {"queue": TRAINING_QUEUE},
            PRECOMPUTE: {"queue": TRAINING_QUEUE},
            IMPORT_DATASET: {"queue": TRAINING_QUEUE},
            ENRICH_MOVIES: {"queue": TRAINING_QUEUE},  # minutes of paced requests
            KEEP_POPULAR: {"queue": TRAINING_QUEUE},  # aggregates over every rating
        },
        # A task is acknowledged after it ran: a worker killed mid-task leaves it for another.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_connection_timeout": 2,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {"socket_connect_timeout": 2, "visibility_timeout": 3 * 3600},
        "worker_hijack_root_logger": False,
    }


class TaskQueue:
    """Publishes tasks by name; never raises."""

    def __init__(
        self, settings: Settings, announce_interval: float = ANNOUNCE_INTERVAL_SECONDS
    ) -> None:
        self.celery = Celery("movierec", set_as_current=False)
        self.announce_interval = announce_interval
        self.celery.conf.update(celery_config(settings))
        self._quiet_until = 0.0
        self._lock = threading.Lock()
        self._announced: list[int] = []
        self._wakeup = threading.Condition(self._lock)
        self._announcer_pid = 0

    def announce_event(self, event_id: int) -> None:
        """Queue a committed event for the workers; it is published within a few ms."""
        with self._wakeup:
            self._announced.append(event_id)
            if self._announcer_pid != os.getpid():  # first use in this (possibly forked) process
                self._announcer_pid = os.getpid()
                threading.Thread(target=self._announce_forever, daemon=True).start()
                atexit.register(self._publish_announced)
            self._wakeup.notify()

    def _announce_forever(self) -> None:
        while True:
            with self._wakeup:
                self._wakeup.wait_for(lambda: bool(self._announced))
            self._publish_announced()
            time.sleep(self.announce_interval)  # what arrives meanwhile goes as one task

    def _publish_announced(self) -> None:
        with self._lock:
            batch, self._announced = self._announced, []
        for start in range(0, len(batch), EVENTS_PER_TASK):
            self.send(PROCESS_EVENTS, [batch[start : start + EVENTS_PER_TASK]])

    def send(self, name: str, args: list[Any], queue: str = EVENTS_QUEUE) -> bool:
        """Publish a task; False when the broker could not take it (the relay will)."""
        if time.monotonic() < self._quiet_until:
            return False
        try:
            self.celery.send_task(name, args=args, queue=queue, retry=False)
        except Exception as error:  # any broker failure: the outbox keeps the work
            with self._lock:
                self._quiet_until = time.monotonic() + QUIET_AFTER_FAILURE_SECONDS
            log.warning("could not publish %s (%s); the relay will", name, type(error).__name__)
            return False
        return True
