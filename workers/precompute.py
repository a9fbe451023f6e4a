"""Filling the cache: users' lists and movies' similar lists, written in pipelined batches.

Lists are computed with the same function the web processes use on a miss
(``compute_user_list``), so a cached list is exactly what a live computation would answer, less
the movies withheld for good (hidden, past their window, deleted: ``server.serving.catalogue``),
read as much deeper as it takes to stay ``list_length`` long. Readers leave out every movie
withheld at the time of the read, so a movie hidden after a list was written is in none from the
next read on, and one waiting for its window is in lists the moment it opens; a movie shown
again after a list was written without it returns to that list when it is written again (the
person's next rating, the next precompute).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import partial

from sqlalchemy import Row, func, select, update
from sqlalchemy.orm import Session

from server.cache.lists import CachedList
from server.models import ChampionSet, ModelStatus, ModelVersion, Movie, User
from server.services import champions
from server.services.model_versions import active_version, active_versions, get_version
from server.services.ratings import newest_changes, ratings_by_user
from server.serving.catalogue import Withheld, in_session, withheld_movies
from server.serving.lists import compute_user_list, similar_list
from server.serving.policy import CONTENT, RatedMovies, is_personal, segment_of
from workers.context import WorkerContext

# Lists are written to Redis this many at a time, one round trip each.
BATCH = 500
# A list read deeper to make up for withheld movies is read at most this deep.
MAX_DEPTH = 30_000
# What a precompute shard holds: people (their lists) or movies (their similar lists).
USERS, SIMILAR = "users", "similar"


def precompute_users(
    context: WorkerContext, algorithm: str, number: int, user_ids: list[int]
) -> int:
    """Compute and cache the lists of ``user_ids`` for a version: each person's own list of
    the algorithm when it is served by name (``champions.served_by_name``), and their "auto"
    list where it is their segment's champion; nothing for other people, nor if it no longer
    serves. Returns how many people's lists were written."""
    started = time.perf_counter()
    written = 0
    with context.db.transaction() as session:
        version = get_version(session, algorithm, number)
        if version.status != ModelStatus.ACTIVE:
            return 0
        weights = context.settings.feedback_weight_map
        # Stamps first (see ``server.cache.guarded``): a person's newer list is not replaced.
        ratings = ratings_by_user(session, user_ids, weights, newest_changes(session, user_ids))
        users = _people(session, user_ids)
        content = active_version(session, CONTENT)
        chosen = champions.current(session)
        withheld = withheld_movies(context.serving.cache, in_session(session)).lasting()
        everyone = algorithm in _served_by_name(context)
        model = context.serving.models.model(version)
        if is_personal(model):  # many lists to explain: count the most rated's co-raters once
            context.serving.evidence.tabled(version, model)
        batch: list[tuple[str, CachedList]] = []
        auto: list[tuple[str, CachedList]] = []
        for user in users:
            rated = ratings.get(user.id)
            if rated is None:
                continue
            champion = _champion(context, chosen, rated) == algorithm
            if not (everyone or champion):
                continue  # served to this person by no one: not worth its memory
            entry = _list_for(context, version, content, user.id, rated, True, withheld)
            if entry is None:
                continue
            written += 1
            if everyone:
                batch.append((user.external_id, entry))
            if champion:
                auto.append((user.external_id, entry.under(_generation(chosen))))
            if len(batch) + len(auto) >= BATCH:
                context.serving.cache.store_user_lists(algorithm, batch)
                context.serving.cache.store_user_lists(champions.AUTO, auto)
                batch, auto = [], []
        context.serving.cache.store_user_lists(algorithm, batch)
        context.serving.cache.store_user_lists(champions.AUTO, auto)
        _add_precompute_time(session, version.id, time.perf_counter() - started)
    return written


def _people(session: Session, user_ids: list[int]) -> Sequence[Row[int, str]]:
    """The id and external id of each of ``user_ids`` (no ORM objects: a shard has thousands,
    and a ``User`` loads its favourite genres too)."""
    return session.execute(select(User.id, User.external_id).where(User.id.in_(user_ids))).all()


def _champion(context: WorkerContext, chosen: ChampionSet | None, rated: RatedMovies) -> str:
    """The algorithm serving someone with these ratings under ``auto``."""
    segment = segment_of(rated.evidence, context.settings.cold_start_ratings)
    return champions.champion_of(chosen, segment)


def _served_by_name(context: WorkerContext) -> set[str]:
    settings = context.settings
    return champions.served_by_name(settings.default_algorithm, settings.challenger)


def _generation(chosen: ChampionSet | None) -> int:
    return 0 if chosen is None else chosen.id


def precompute_similar(
    context: WorkerContext, algorithm: str, number: int, movie_ids: list[int]
) -> int:
    """Compute and cache the similar lists of ``movie_ids`` (internal ids) for a version;
    nothing if it is no longer active. Returns how many lists were written."""
    started = time.perf_counter()
    length = context.serving.cache.list_length
    with context.db.transaction() as session:
        version = get_version(session, algorithm, number)
        if version.status != ModelStatus.ACTIVE:
            return 0
        model = context.serving.models.model(version)
        # Many lists to explain: count the most rated movies' co-raters once (their similar
        # lists are mostly of them), as for people's lists, and hold who rated what by person
        # (the rarer movies' co-raters are counted through their few raters).
        evidence = context.serving.evidence.profiled(version, model)
        withheld = withheld_movies(context.serving.cache, in_session(session)).lasting()
        rows = session.execute(select(Movie.id, Movie.external_id).where(Movie.id.in_(movie_ids)))
        external = {movie: external_id for movie, external_id in rows}
        batch: list[tuple[str, CachedList]] = []
        written = 0
        for movie in movie_ids:
            if movie not in external:  # deleted since the model was trained
                continue
            alike = partial(similar_list, model, number, movie, evidence=evidence)
            entry = _shown(alike, length, withheld)
            if entry is not None:  # an empty list would hide the content-based fallback
                batch.append((external[movie], entry))
            if len(batch) >= BATCH:
                written += context.serving.cache.store_similar_lists(algorithm, batch)
                batch = []
        written += context.serving.cache.store_similar_lists(algorithm, batch)
        _add_precompute_time(session, version.id, time.perf_counter() - started)
    return written


def precompute_shard(
    context: WorkerContext, algorithm: str, number: int, ids: list[int], kind: str = USERS
) -> int:
    """One precompute task: people's lists (``USERS``) or movies' similar lists (``SIMILAR``)
    of a version."""
    if kind == SIMILAR:
        return precompute_similar(context, algorithm, number, ids)
    if kind == USERS:
        return precompute_users(context, algorithm, number, ids)
    raise ValueError(f"unknown precompute shard kind: {kind!r}")


def refresh_users(context: WorkerContext, session: Session, user_ids: list[int]) -> int:
    """Recompute these users' cached lists as ``precompute_users`` keeps them (the lists of
    algorithms served by name, and each person's "auto" list by their segment's champion) from
    their current ratings (fold-in, no retraining), one pipelined write per algorithm; the
    lists other algorithms' reads cached are dropped (their next read computes them). Returns
    how many lists were written. A user with no ratings left loses their lists (the fallback
    answers)."""
    stamps = newest_changes(session, user_ids)  # before the data: see server.cache.guarded
    ratings = ratings_by_user(session, user_ids, context.settings.feedback_weight_map, stamps)
    users = _people(session, user_ids)
    written = 0
    active = active_versions(session)
    registry = context.serving.registry
    chosen = champions.current(session)
    settings = context.settings
    served = champions.precomputed(chosen, settings.default_algorithm, settings.challenger)
    by_name = _served_by_name(context)
    withheld = withheld_movies(context.serving.cache, in_session(session)).lasting()
    auto: dict[str, CachedList | None] = {user.external_id: None for user in users}
    everyone = {user.external_id: stamps.get(user.id, 0) for user in users}
    for algorithm, version in sorted(active.items()):
        # A version trained before its algorithm left the allow-list no longer serves.
        if algorithm not in registry.names() or "rank" not in registry.get(algorithm).capabilities:
            continue
        if algorithm not in by_name:  # its own lists come from reads: now out of date
            context.serving.cache.drop_user_lists(algorithm, everyone, only_cached=True)
        if algorithm not in served:
            continue
        model = context.serving.models.model(version)
        if is_personal(model):  # the co-raters' table makes explaining cheaper once counted
            context.serving.evidence.tabled_soon(version, model)
        lists = []
        for user in users:
            rated = ratings.get(user.id)
            champion = rated is not None and _champion(context, chosen, rated) == algorithm
            if algorithm not in by_name and not champion:
                continue
            entry = None
            if rated is not None:
                content = active.get(CONTENT)
                entry = _list_for(context, version, content, user.id, rated, False, withheld)
            if entry is None:
                gone = {user.external_id: everyone[user.external_id]}
                context.serving.cache.drop_user_lists(algorithm, gone)
                continue
            if algorithm in by_name:
                lists.append((user.external_id, entry))
            if champion:
                auto[user.external_id] = entry.under(_generation(chosen))
        written += context.serving.cache.store_user_lists(algorithm, lists)
    # The read computes these (the fallback, or a champion not active).
    unserved = {user_key: everyone[user_key] for user_key, entry in auto.items() if entry is None}
    context.serving.cache.drop_user_lists(champions.AUTO, unserved)
    stored = [(user_key, entry) for user_key, entry in auto.items() if entry is not None]
    return written + context.serving.cache.store_user_lists(champions.AUTO, stored)


def _list_for(
    context: WorkerContext,
    version: ModelVersion,
    content: ModelVersion | None,
    user_id: int,
    rated: RatedMovies,
    prefer_trained: bool,
    withheld: Withheld,
) -> CachedList | None:
    """The person's list as cached, without ``withheld`` movies; None when the fallback must
    answer."""
    return _shown(
        lambda depth: compute_user_list(
            context.serving, version, content, user_id, rated, depth, prefer_trained=prefer_trained
        ),
        context.serving.cache.list_length,
        withheld,
    )


def _shown(
    compute: Callable[[int], CachedList | None], length: int, withheld: Withheld
) -> CachedList | None:
    """The first ``length`` movies that are not ``withheld`` of the list ``compute(depth)``
    gives, read deeper while withheld movies leave it short; None for no movie at all."""
    depth = length + min(len(withheld.movies), length)
    while True:
        entry = compute(depth)
        if entry is None:
            return None
        kept = withheld.keep_list(entry)
        if len(kept) >= length or len(entry) < depth or depth >= MAX_DEPTH:
            return kept.head(length) if len(kept) > 0 else None
        depth = min(depth * 4, MAX_DEPTH)


def _add_precompute_time(session: Session, version_id: int, seconds: float) -> None:
    """Shards run in parallel: each adds its own time (the total is work, not wall time)."""
    session.execute(
        update(ModelVersion)
        .where(ModelVersion.id == version_id)
        .values(precompute_seconds=func.coalesce(ModelVersion.precompute_seconds, 0.0) + seconds)
    )
