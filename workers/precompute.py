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
from server.models import ChampionSet, ModelStatus, ModelVersion, Movie, User
from server.services import champions
from server.services.model_versions import active_version, active_versions, get_version
from server.services.ratings import ratings_by_user
from server.serving.lists import compute_user_list, similar_list
from server.serving.policy import CONTENT, RatedMovies, segment_of
from workers.context import WorkerContext

# Lists are written to Redis this many at a time, one round trip each.
BATCH = 500


def precompute_users(
    context: WorkerContext, algorithm: str, number: int, user_ids: list[int]
) -> int:
    """Compute and cache the lists of ``user_ids`` for a version, and their "auto" lists where
    it is their segment's champion; nothing if it no longer serves. Returns how many lists of
    the version were written."""
    started = time.perf_counter()
    written = 0
    with context.db.transaction() as session:
        version = get_version(session, algorithm, number)
        if version.status != ModelStatus.ACTIVE:
            return 0
        ratings = ratings_by_user(session, user_ids, context.settings.feedback_weight_map)
        users = session.scalars(select(User).where(User.id.in_(user_ids))).all()
        content = active_version(session, CONTENT)
        chosen = champions.current(session)
        batch: list[tuple[str, CachedList]] = []
        auto: list[tuple[str, CachedList]] = []
        for user in users:
            rated = ratings.get(user.id)
            if rated is None:
                continue
            entry = _list_for(context, version, content, user, rated, prefer_trained=True)
            if entry is None:
                continue
            batch.append((user.external_id, entry))
            if _champion(context, chosen, rated) == algorithm:
                auto.append((user.external_id, entry.under(_generation(chosen))))
            if len(batch) >= BATCH:
                written += context.serving.cache.store_user_lists(algorithm, batch)
                context.serving.cache.store_user_lists(champions.AUTO, auto)
                batch, auto = [], []
        written += context.serving.cache.store_user_lists(algorithm, batch)
        context.serving.cache.store_user_lists(champions.AUTO, auto)
        _add_precompute_time(session, version.id, time.perf_counter() - started)
    return written


def _champion(context: WorkerContext, chosen: ChampionSet | None, rated: RatedMovies) -> str:
    """The algorithm serving someone with these ratings under ``auto``."""
    segment = segment_of(rated.evidence, context.settings.cold_start_ratings)
    return champions.champion_of(chosen, segment)


def _generation(chosen: ChampionSet | None) -> int:
    return 0 if chosen is None else chosen.id


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
        version = get_version(session, algorithm, number)
        evidence = context.serving.evidence.of(version, model)
        for movie in model.known_movies().tolist():
            if movie not in external:
                continue
            entry = similar_list(model, number, movie, length, evidence)
            if len(entry) > 0:  # an empty list would hide the content-based fallback
                batch.append((external[movie], entry))
            if len(batch) >= BATCH:
                written += context.serving.cache.store_similar_lists(algorithm, batch)
                batch = []
        written += context.serving.cache.store_similar_lists(algorithm, batch)
        _add_precompute_time(session, version.id, time.perf_counter() - started)
    return written


def refresh_users(context: WorkerContext, session: Session, user_ids: list[int]) -> int:
    """Recompute these users' cached lists for every active ranking model from their current
    ratings (fold-in, no retraining), and their "auto" lists, one pipelined write per
    algorithm; returns how many lists were written. A user with no ratings left loses their
    lists (the fallback answers)."""
    ratings = ratings_by_user(session, user_ids, context.settings.feedback_weight_map)
    users = session.scalars(select(User).where(User.id.in_(user_ids))).all()
    written = 0
    active = active_versions(session)
    registry = context.serving.registry
    chosen = champions.current(session)
    auto: dict[str, CachedList | None] = {user.external_id: None for user in users}
    for algorithm, version in sorted(active.items()):
        # A version trained before its algorithm left the allow-list no longer serves.
        if algorithm not in registry.names() or "rank" not in registry.get(algorithm).capabilities:
            continue
        lists = []
        for user in users:
            rated = ratings.get(user.id)
            entry = None
            if rated is not None:
                entry = _list_for(
                    context, version, active.get(CONTENT), user, rated, prefer_trained=False
                )
            if entry is None:
                context.serving.cache.drop_user_list(algorithm, user.external_id)
                continue
            lists.append((user.external_id, entry))
            if rated is not None and _champion(context, chosen, rated) == algorithm:
                auto[user.external_id] = entry.under(_generation(chosen))
        written += context.serving.cache.store_user_lists(algorithm, lists)
    for user_key, entry in auto.items():
        if entry is None:  # the read computes it (the fallback, or a champion not active)
            context.serving.cache.drop_user_list(champions.AUTO, user_key)
    stored = [(user_key, entry) for user_key, entry in auto.items() if entry is not None]
    return written + context.serving.cache.store_user_lists(champions.AUTO, stored)


def _list_for(
    context: WorkerContext,
    version: ModelVersion,
    content: ModelVersion | None,
    user: User,
    rated: RatedMovies,
    prefer_trained: bool,
) -> CachedList | None:
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
