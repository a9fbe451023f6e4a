"""What a worker process holds: settings, the database and the serving context (plugins, cache,
loaded models), built once per process after the fork."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from server.cache.connection import connect
from server.config import Settings
from server.db import Database
from server.services.recommendations import ServingContext, build_serving_context


@dataclass(frozen=True)
class WorkerContext:
    """The worker's view of the system."""

    settings: Settings
    db: Database
    serving: ServingContext


def build_context(settings: Settings) -> WorkerContext:
    """A context for ``settings`` (connections open lazily)."""
    database = Database(settings.resolved_database_url, settings.sql_echo)
    return WorkerContext(
        settings, database, build_serving_context(settings, connect(settings), database)
    )


@functools.cache
def process_context() -> WorkerContext:
    """This process's context, from the environment's settings."""
    return build_context(Settings.load())
