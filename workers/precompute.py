"""Filling the cache: users' lists and movies' similar lists, written in pipelined batches.

Lists are computed with the same function the web processes use on a miss
(``compute_user_list``), so a cached list is exactly what a live computation would answer.
"""

from __future__ import annotations

import time

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from plugins.base import Recommender
from server.cache.lists import CachedList
from server.models import ModelStatus, ModelVersion, Movie, User
from server.services.model_versions import active_version, active_versions, get_version
from server.services.ratings import ratings_by_user
from server.serving.lists import CONTENT, RatedMovies, compute_user_list, similar_list
from workers.context import WorkerContext

# Lists are written to Redis this many at a time, one round trip each.
BATCH = 500


def precompute_users(
    context: WorkerContext, algorithm: str, number: int, user_ids: list[int]
) -> int:
    """Compute and cache the lists of ``user_ids`` for a version; nothing if it no longer
    serves. Returns how many lists were written."""
    started = time.perf_counter()
    written = 0
    with context.db.transaction() as session:
        version = get_version(session, algorithm, number)
        if version.status != ModelStatus.ACTIVE:
            return 0
        ratings = ratings_by_user(session, user_ids)
        users = session.scalars(select(User).where(User.id.in_(user_ids))).all()
        content = active_version(session, CONTENT)
        batch: list[tuple[str, CachedList]] = []
        for user in users:
            rated = ratings.get(user.id)
            if rated is None:
                continue
            entry = _list_for(context, version, content, user, rated, prefer_trained=True)
            batch.append((user.external_id, entry))
            if len(batch) >= BATCH:
                written += context.serving.cache.store_user_lists(algorithm, batch)
                batch = []
        written += context.serving.cache.store_user_lists(algorithm, batch)
        _add_precompute_time(session, version.id, time.perf_counter() - started)
    return written


def precompute_similar(
    context: WorkerContext, algorithm: str, number: int, model: Recommender
) -> int:
    """Cache every known movie's similar list for a version."""
    started = time.perf_counter()
    length = context.serving.cache.list_length
    with context.db.transaction() as session:
        external = {
            movie: ext for movie, ext in session.execute(select(Movie.id, Movie.external_id))
        }
        batch: list[tuple[str, CachedList]] = []
        written = 0
        for movie in model.known_movies().tolist():
            if movie not in external:
                continue
            entry = similar_list(model, number, movie, length)
            if len(entry) > 0:  # an empty list would hide the content-based fallback
                batch.append((external[movie], entry))
            if len(batch) >= BATCH:
                written += context.serving.cache.store_similar_lists(algorithm, batch)
                batch = []
        written += context.serving.cache.store_similar_lists(algorithm, batch)
        version = get_version(session, algorithm, number)
        _add_precompute_time(session, version.id, time.perf_counter() - started)
    return written


def refresh_users(context: WorkerContext, session: Session, user_ids: list[int]) -> int:
    """Recompute these users' cached lists for every active ranking model from their current
    ratings (fold-in, no retraining), one pipelined write per algorithm; returns how many
    lists were written. A user with no ratings left loses their lists (the fallback answers)."""
    ratings = ratings_by_user(session, user_ids)
    users = session.scalars(select(User).where(User.id.in_(user_ids))).all()
    written = 0
    active = active_versions(session)
    registry = context.serving.registry
    for algorithm, version in sorted(active.items()):
        # A version trained before its algorithm left the allow-list no longer serves.
        if algorithm not in registry.names() or "rank" not in registry.get(algorithm).capabilities:
            continue
        lists = []
        for user in users:
            rated = ratings.get(user.id)
            if rated is None:
                context.serving.cache.drop_user_list(algorithm, user.external_id)
                continue
            entry = _list_for(
                context, version, active.get(CONTENT), user, rated, prefer_trained=False
            )
            lists.append((user.external_id, entry))
        written += context.serving.cache.store_user_lists(algorithm, lists)
    return written


def _list_for(
    context: WorkerContext,
    version: ModelVersion,
    content: ModelVersion | None,
    user: User,
    rated: RatedMovies,
    prefer_trained: bool,
) -> CachedList:
    length = context.serving.cache.list_length
    return compute_user_list(
        context.serving, version, content, user, rated, length, prefer_trained=prefer_trained
    )


def _add_precompute_time(session: Session, version_id: int, seconds: float) -> None:
    """Shards run in parallel: each adds its own time (the total is work, not wall time)."""
    session.execute(
        update(ModelVersion)
        .where(ModelVersion.id == version_id)
        .values(precompute_seconds=func.coalesce(ModelVersion.precompute_seconds, 0.0) + seconds)
    )
