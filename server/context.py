"""Accessors for what the current Flask app holds: its settings, database, Redis client, serving
context, coordination, rendered bodies and task queue, each created on first use."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from typing import TypeVar

import redis
from flask import current_app

from server.cache.connection import connect
from server.cache.coordination import Coordination
from server.cache.rendered import RenderedBodies
from server.config import Settings
from server.db import Database
from server.serving.context import ServingContext, build_serving_context
from server.tasks import TaskQueue

T = TypeVar("T")

# Held while something of an app is built on first use (reentrant: the serving context asks for
# the Redis client while it is built).
_BUILDING = threading.RLock()


def get_db() -> Database:
    """The current app's database."""
    database: Database = current_app.extensions["movierec.db"]
    return database


def get_settings() -> Settings:
    """The current app's settings."""
    settings: Settings = current_app.extensions["movierec.settings"]
    return settings


def get_redis() -> redis.Redis:
    """The current app's Redis client, created on first use (this may start the embedded server)."""
    return _first_use("movierec.redis", lambda: connect(get_settings()))


def get_serving() -> ServingContext:
    """The current app's serving context (plugins discovered and cache connected on first use)."""
    return _first_use("movierec.serving", _serving)


def _serving() -> ServingContext:
    serving = build_serving_context(get_settings(), get_redis(), get_db(), near_cache=True)
    # The plugins' imports (numpy, scipy, numba, scikit-learn...) leave ~230,000 objects that
    # live as long as the process. Left to the collector, every full collection scans them all:
    # a pause of 150-350 ms in the middle of requests on a small machine. Frozen, they are never
    # scanned again; only what requests create is.
    gc.freeze()
    return serving


def get_coordination() -> Coordination:
    """The current app's locks, heartbeats, throttles and import reports."""
    return _first_use(
        "movierec.coordination",
        lambda: Coordination(get_redis(), get_settings().training_lock_seconds),
    )


def get_rendered_bodies() -> RenderedBodies:
    """The current app's rendered bodies of cached answers."""
    return _first_use("movierec.rendered", RenderedBodies)


def get_queue() -> TaskQueue:
    """The current app's task publisher, created on first use."""
    return _first_use("movierec.queue", lambda: TaskQueue(get_settings()))


def _first_use(name: str, build: Callable[[], T]) -> T:
    """The app's ``name``, built by ``build`` the first time it is asked for, by one thread:
    a web process's first requests arrive together, one a thread, and each built a serving
    context of its own before (plugins discovered and lists read four times over: 15-18 s
    for the first reads of four processes of four threads at 25M ratings)."""
    held: T | None = current_app.extensions.get(name)
    if held is None:
        with _BUILDING:
            held = current_app.extensions.get(name)
            if held is None:
                held = build()
                current_app.extensions[name] = held
    return held
