"""The read path of recommendations: Redis → the model held in this process → the fallback chain.

Every answer is a ``RankedAnswer`` naming where it came from (``source``: the algorithm, a blend,
or ``fallback:...``), the model version, and whether it came from the cache.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from sqlalchemy.orm import Session

from server.cache.connection import CACHE_ERRORS
from server.cache.lists import CachedList
from server.models import User
from server.services import champions
from server.services.algorithms import require_algorithm
from server.services.model_versions import active_version
from server.services.movies import get_movie
from server.services.popular import popular_movies
from server.services.ratings import rated_by
from server.services.users import get_user
from server.serving.context import ServingContext
from server.serving.explain import explain, explain_popular
from server.serving.lists import compute_user_list, served_version, similar_list
from server.serving.policy import CONTENT, RatedMovies, ranked_list, segment_of, user_state

# With a genre filter, this many candidates are ranked before filtering.
GENRE_CANDIDATES = 3000


@dataclass(frozen=True)
class RankedAnswer:
    """A ranked list of (internal movie id, score) and where it came from; ``entry`` is the
    list it was cut from, with each movie's reason, if any."""

    items: list[tuple[int, float]]
    source: str
    model_version: int | None
    cached: bool
    entry: CachedList | None = None


def recommendations(
    context: ServingContext,
    user_external_id: str,
    n: int,
    algorithm: str | None = None,
    genre: str | None = None,
    exclude_rated: bool = True,
) -> RankedAnswer:
    """A user's top ``n``, optionally within a genre (``NotFound`` for an unknown one): from the
    cache when it holds a current list (no database work at all), else computed in one
    transaction. The algorithm ``auto``
    (the default) serves each person by their segment's champion."""
    name = algorithm or context.settings.default_algorithm
    if name != champions.AUTO:
        require_algorithm(context.registry, name, "rank")
    genre = None if genre is None else context.movies.known_genre(genre)
    cacheable = exclude_rated and n <= context.cache.list_length
    if cacheable:
        _, hit = context.cache.user_list(name, user_external_id)
        if hit is not None:
            items = hit.pairs(n) if genre is None else _within_genre(context, hit.pairs(), genre)
            if len(items) >= n or (genre is None and len(hit) < context.cache.list_length):
                context.cache.reads.count(hit=True)
                return RankedAnswer(items[:n], hit.source, hit.version, True, hit)
        context.cache.reads.count(hit=False)
    with context.database.transaction() as session:
        return _computed_recommendations(
            context, session, name, user_external_id, n, genre, exclude_rated, cacheable
        )


def _computed_recommendations(
    context: ServingContext,
    session: Session,
    name: str,
    user_external_id: str,
    n: int,
    genre: str | None,
    exclude_rated: bool,
    cacheable: bool,
) -> RankedAnswer:
    user = get_user(session, user_external_id)
    rated = rated_by(session, user.id)
    ranker, generation = _ranker(context, session, name, len(rated))
    version = active_version(session, ranker) if ranker in context.registry.names() else None
    # Someone who has rated nothing yet but picked genres gets popular movies of those genres.
    picked_only = len(rated) == 0 and bool(user.favorite_genres)
    if version is not None and not picked_only:
        length = context.cache.list_length if genre is None else GENRE_CANDIDATES
        content = active_version(session, CONTENT)
        entry = compute_user_list(
            context, version, content, user, rated, max(length, n), exclude_rated
        )
        if entry is not None:
            context.cache.publish_active_version(ranker, version.number)
            if name == champions.AUTO:
                context.cache.publish_active_version(name, generation)
            if cacheable and genre is None:
                stamped = entry.under(generation)
                _store_quietly(context.cache.store_user_lists, name, user_external_id, stamped)
            items = _within_genre(context, entry.pairs(), genre)
            return RankedAnswer(items[:n], entry.source, version.number, False, entry)
    return _fallback(context, session, user, rated, n, genre)


def _ranker(
    context: ServingContext, session: Session, name: str, rating_count: int
) -> tuple[str, int]:
    """The algorithm that serves this person, and the champion set it was chosen by (0 when
    ``name`` is an algorithm, or no set was chosen yet)."""
    if name != champions.AUTO:
        return name, 0
    chosen = champions.current(session)
    segment = segment_of(rating_count, context.settings.cold_start_ratings)
    return champions.champion_of(chosen, segment), 0 if chosen is None else chosen.id


def _fallback(
    context: ServingContext,
    session: Session,
    user: User,
    rated: RatedMovies,
    n: int,
    genre: str | None,
) -> RankedAnswer:
    """The fallback chain: each configured algorithm that has an active model and the user's
    ratings to fold in, then the live popularity list (narrowed by favourite genres), which
    always answers."""
    for step in context.settings.fallback_chain:
        version = None if step == "popularity" else active_version(session, step)
        served = served_version(context, version)
        if (
            version is None
            or served is None
            or len(rated) == 0
            or "rank" not in served.model.capabilities
        ):
            continue
        entry = ranked_list(served, user_state(served.model, user.id, rated), GENRE_CANDIDATES)
        entry = explain(entry, rated, context.evidence.of(version, served.model), served.model)
        items = _within_genre(context, entry.pairs(), genre)
        if items:
            return RankedAnswer(items[:n], f"fallback:{step}", served.version, False, entry)
    genres = [genre] if genre else [g.name for g in user.favorite_genres]
    seen = set(rated.movies.tolist())
    pool, _ = popular_movies(context.cache, session, n + len(seen), genres, None)
    items = [(movie, score) for movie, score in pool if movie not in seen][:n]
    return _popular_answer(context, items, genres)


def _popular_answer(
    context: ServingContext, items: list[tuple[int, float]], genres: list[str]
) -> RankedAnswer:
    """The live popular list as an answer: each movie ``popular_in`` the first of ``genres``
    it belongs to (the ones asked for, or the person's favourites), else ``popular``."""
    movies = [movie for movie, _ in items]
    rows = context.movies.rows(movies)
    ids = context.movies.genre_ids()
    picked = [
        next(
            (ids.get(name, -1) for name in genres if movie in rows and name in rows[movie].genres),
            -1,
        )
        for movie in movies
    ]
    entry = CachedList(
        0,
        "fallback:popularity",
        np.array(movies, np.int32),
        np.array([score for _, score in items], np.float32),
    )
    return RankedAnswer(items, entry.source, None, False, explain_popular(entry, picked))


def similar_movies(
    context: ServingContext,
    movie_external_id: str,
    n: int,
    algorithm: str | None = None,
) -> RankedAnswer:
    """The movies most like one movie; content-based for a movie the model has not seen."""
    name = algorithm or context.settings.similar_algorithm
    require_algorithm(context.registry, name, "similar")
    if n <= context.cache.list_length:
        _, hit = context.cache.similar_list(name, movie_external_id)
        if hit is not None and len(hit) > 0:
            context.cache.reads.count(hit=True)
            return RankedAnswer(hit.pairs(n), hit.source, hit.version, True, hit)
        context.cache.reads.count(hit=False)
    with context.database.transaction() as session:
        return _computed_similar(context, session, name, movie_external_id, n)


def _computed_similar(
    context: ServingContext, session: Session, name: str, movie_external_id: str, n: int
) -> RankedAnswer:
    movie = get_movie(session, movie_external_id)
    for step, source in ((name, name), (CONTENT, f"fallback:{CONTENT}")):
        if step not in context.registry.names():  # content may be outside the allow-list
            continue
        version = active_version(session, step)
        if version is None or "similar" not in context.registry.get(step).capabilities:
            continue
        model = context.models.model(version)
        evidence = context.evidence.of(version, model)
        entry = similar_list(model, version.number, movie.id, context.cache.list_length, evidence)
        if len(entry) == 0:
            continue
        if step == name:
            context.cache.publish_active_version(name, version.number)
            _store_quietly(context.cache.store_similar_lists, name, movie_external_id, entry)
        return RankedAnswer(entry.pairs(n), source, version.number, False, entry)
    genres = [genre.name for genre in movie.genres]
    pool, _ = popular_movies(context.cache, session, n + 1, genres, None)
    items = [(other, score) for other, score in pool if other != movie.id]
    return _popular_answer(context, items[:n], genres)


def _within_genre(
    context: ServingContext, items: list[tuple[int, float]], genre: str | None
) -> list[tuple[int, float]]:
    if genre is None:
        return items
    rows = context.movies.rows([movie for movie, _ in items])
    return [
        (movie, score) for movie, score in items if movie in rows and genre in rows[movie].genres
    ]


def _store_quietly(
    store: Callable[[str, Iterable[tuple[str, CachedList]]], int],
    algorithm: str,
    key: str,
    entry: CachedList,
) -> None:
    # On failure the next read computes it again: the cache is an optimisation, not a store.
    with contextlib.suppress(*CACHE_ERRORS):
        store(algorithm, [(key, entry)])
