"""The ``ServingContext``: what answering needs, built once per process (web or worker)."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from threadpoolctl import threadpool_limits

from plugins.registry import Registry, discover
from server.artifacts import artifact_store
from server.cache.store import Cache
from server.config import Settings
from server.db import Database
from server.serving.model_store import ModelStore
from server.serving.movie_directory import MovieDirectory
from server.serving.policy import Policy
from server.serving.traits import EvidenceStore


@dataclass(frozen=True)
class ServingContext:
    """The settings, the plugins, the cache, the models held, the movies' rows, what
    re-ranking and explaining know of each model and the database of one process."""

    settings: Settings
    registry: Registry
    cache: Cache
    models: ModelStore
    movies: MovieDirectory
    database: Database
    evidence: EvidenceStore

    @property
    def policy(self) -> Policy:
        """The served policy's settings."""
        return Policy.from_settings(self.settings)

    def release_held(self) -> None:
        """Let go of the models and evidence held; what is asked for next is loaded again."""
        self.models.release()
        self.evidence.release()


def build_serving_context(
    settings: Settings, client: redis.Redis, database: Database, near_cache: bool = False
) -> ServingContext:
    """Discover the plugins and connect the cache: once per process (web processes hold the
    lists they read with ``near_cache``).

    BLAS is limited to one thread in serving processes: they fold in and score one user at a
    time, where a BLAS thread pool only adds wake-ups, and its spinning threads take the cores
    from the other web and worker processes (a user's refresh took 18 ms instead of 1.4).
    """
    threadpool_limits(limits=1, user_api="blas")
    registry = discover(settings.algorithm_allow_list)
    cache = Cache.from_settings(client, settings, near=near_cache)
    movies = MovieDirectory(database)
    models = ModelStore(registry, artifact_store(settings))
    return ServingContext(
        settings, registry, cache, models, movies, database, EvidenceStore(movies)
    )
