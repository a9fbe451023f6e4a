"""Accessors for what the current Flask app holds: its settings, database, Redis client, serving
context, coordination, rendered bodies and task queue, each created on first use."""

from __future__ import annotations

import gc

import redis
from flask import current_app

from server.cache.connection import connect
from server.cache.coordination import Coordination
from server.cache.rendered import RenderedBodies
from server.config import Settings
from server.db import Database
from server.serving.context import ServingContext, build_serving_context
from server.tasks import TaskQueue


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
    client: redis.Redis | None = current_app.extensions.get("movierec.redis")
    if client is None:
        client = connect(get_settings())
        current_app.extensions["movierec.redis"] = client
    return client


def get_serving() -> ServingContext:
    """The current app's serving context (plugins discovered and cache connected on first use)."""
    serving: ServingContext | None = current_app.extensions.get("movierec.serving")
    if serving is None:
        serving = build_serving_context(get_settings(), get_redis(), get_db(), near_cache=True)
        current_app.extensions["movierec.serving"] = serving
        # The plugins' imports (numpy, scipy, numba, scikit-learn...) leave ~230,000 objects
        # that live as long as the process. Left to the collector, every full collection scans
        # them all: a pause of 150-350 ms in the middle of requests on a small machine. Frozen,
        # they are never scanned again; only what requests create is.
        gc.freeze()
    return serving


def get_coordination() -> Coordination:
    """The current app's locks, heartbeats, throttles and import reports."""
    coordination: Coordination | None = current_app.extensions.get("movierec.coordination")
    if coordination is None:
        coordination = Coordination(get_redis(), get_settings().training_lock_seconds)
        current_app.extensions["movierec.coordination"] = coordination
    return coordination


def get_rendered_bodies() -> RenderedBodies:
    """The current app's rendered bodies of cached answers."""
    bodies: RenderedBodies | None = current_app.extensions.get("movierec.rendered")
    if bodies is None:
        bodies = RenderedBodies()
        current_app.extensions["movierec.rendered"] = bodies
    return bodies


def get_queue() -> TaskQueue:
    """The current app's task publisher, created on first use."""
    queue: TaskQueue | None = current_app.extensions.get("movierec.queue")
    if queue is None:
        queue = TaskQueue(get_settings())
        current_app.extensions["movierec.queue"] = queue
    return queue
