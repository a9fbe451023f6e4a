"""What a worker process holds: the serving context (settings, database, plugins, cache, loaded
models) and the coordination through Redis (locks, heartbeat, import reports), built once per
process after the fork."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from server.cache.connection import connect
from server.cache.coordination import Coordination
from server.config import Settings
from server.db import Database
from server.serving.context import ServingContext, build_serving_context


@dataclass(frozen=True)
class WorkerContext:
    """The worker's view of the system."""

    serving: ServingContext
    coordination: Coordination

    @property
    def settings(self) -> Settings:
        """The settings of this process."""
        return self.serving.settings

    @property
    def db(self) -> Database:
        """The database of this process."""
        return self.serving.database


def build_context(settings: Settings) -> WorkerContext:
    """A context for ``settings`` (connections open lazily)."""
    database = Database(settings.resolved_database_url, settings.sql_echo)
    client = connect(settings)
    return WorkerContext(
        build_serving_context(settings, client, database),
        Coordination(client, settings.training_lock_seconds),
    )


@functools.cache
def process_context() -> WorkerContext:
    """This process's context, from the environment's settings."""
    return build_context(Settings.load())
