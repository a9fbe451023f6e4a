"""Popular movies by the Bayesian weighted rating (the ``popularity`` plugin's formula, with m the
90th percentile of the counts), from the database over a window of days and a set of genres.

The aggregate is exact (no counters to drift when an event is redelivered) but reads every
rating in its window: seconds at tens of millions. So readers never compute it once it is kept:
the workers keep every list someone asked for within a day and the catalogue's standard ones
(everyone's and each genre's, of all time), computed again as often as ``keep_popular_lists``
paces them, and a reader takes the kept one however old. Only the first request of a list
nobody kept yet computes it, one process for all (the others wait for its answer). Movies no
list may show now (``server.serving.catalogue``) are left out as the list is read.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plugins.algorithms.popularity import vote_quantile, weighted_rating
from server.cache.keys import POPULAR_KEPT_SECONDS
from server.cache.store import Cache
from server.db import now
from server.models import Genre, MovieGenre, Rating
from server.serving.catalogue import in_session, withheld_movies

MIN_VOTES_QUANTILE = 0.9
# Within a window, a movie counts as popular only once this many people rated it there: one
# person's ratings of last week are not a trend.
MIN_WINDOW_VOTES = 2
SECONDS_PER_DAY = 86_400
CACHED_LENGTH = 500
# Each process tells the workers a list is still read this often (they keep lists asked for
# within POPULAR_KEPT_SECONDS).
ASK_AGAIN_AFTER_SECONDS = 300.0
_last_asked: dict[str, float] = {}  # "window:genres" -> when this process last asked
# A window's lists are computed again once older than this many times what computing them took
# (the beat asks every ``POPULAR_REFRESH_SECONDS``): an aggregate of 25M ratings takes seconds,
# which the bulk lane and the database are not to spend over and over.
REFRESH_COST_RATIO = 30.0
# How long a reader waits for another process computing a list nobody kept yet, and how often
# it looks.
FIRST_WAIT_SECONDS = 10.0
FIRST_POLL_SECONDS = 0.05


def popular_movies(
    cache: Cache, session: Session, n: int, genres: list[str], window_days: int | None
) -> tuple[list[tuple[int, float]], bool]:
    """The ``n`` most popular movies (internal id, weighted rating), optionally only of
    ``genres`` (any of them) and only counting ratings of the last ``window_days`` (then only
    movies rated there by ``MIN_WINDOW_VOTES`` people or more); and whether the list came from
    the cache. Withheld movies are left out (the kept list is as deep again as they are many, so
    it still holds ``n`` after them)."""
    withheld = withheld_movies(cache, in_session(session))
    window = window_days or 0
    genre_key = "|".join(sorted(genres))
    if n <= CACHED_LENGTH:
        kept = cache.popular(window, genre_key) or _first_computed(cache, session, window, genres)
        if kept is not None:
            _ask_to_keep(cache, window, genre_key)
            return withheld.keep(kept[0])[:n], True
    depth = max(n, CACHED_LENGTH) + len(withheld.movies)
    return withheld.keep(_weighted_ratings(session, genres, window_days, depth))[:n], False


def _ask_to_keep(cache: Cache, window: int, genre_key: str) -> None:
    """Tell the workers this list is still read, at most every ``ASK_AGAIN_AFTER_SECONDS`` per
    process: a write to Redis now and then, not at every read."""
    key = f"{window}:{genre_key}"
    if time.monotonic() - _last_asked.get(key, -ASK_AGAIN_AFTER_SECONDS) >= ASK_AGAIN_AFTER_SECONDS:
        _last_asked[key] = time.monotonic()
        cache.want_popular(window, genre_key, now())


def _first_computed(
    cache: Cache, session: Session, window: int, genres: list[str]
) -> tuple[list[tuple[int, float]], int] | None:
    """A list nobody kept yet: computed and kept by the first process to ask (the workers keep
    it from then on), waited for by the others; None when it is not there in time (or Redis is
    down) and the caller computes its own."""
    genre_key = "|".join(sorted(genres))
    cache.want_popular(window, genre_key, now())
    if cache.first_to_compute_popular(window, genre_key):
        try:
            return compute_popular(cache, session, window, genres)
        finally:
            cache.computed_popular(window, genre_key)
    deadline = time.monotonic() + FIRST_WAIT_SECONDS
    while time.monotonic() < deadline:
        time.sleep(FIRST_POLL_SECONDS)
        if (kept := cache.popular(window, genre_key)) is not None:
            return kept
    return None


def compute_popular(
    cache: Cache, session: Session, window: int, genres: list[str]
) -> tuple[list[tuple[int, float]], int]:
    """Compute a popular list, as deep as the withheld movies may need, and keep it."""
    depth = CACHED_LENGTH + len(withheld_movies(cache, in_session(session)).movies)
    pairs = _weighted_ratings(session, genres, window or None, depth)
    computed_at = now()
    cache.store_popular(window, "|".join(sorted(genres)), pairs, computed_at)
    return pairs, computed_at


def keep_popular_lists(cache: Cache, session: Session, pace: float = REFRESH_COST_RATIO) -> int:
    """Compute again every popular list asked for within ``POPULAR_KEPT_SECONDS`` and the
    standard ones (everyone's and each genre's, of all time, so that no reader computes them),
    each window's ratings aggregated once for all its lists; a window's lists only once ``pace``
    times what their last computation took has passed since it began. Returns how many lists
    were computed (the workers run it every ``POPULAR_REFRESH_SECONDS``)."""
    wanted = set(cache.wanted_popular(now() - POPULAR_KEPT_SECONDS))
    wanted |= {(0, "")} | {(0, name) for name in session.scalars(select(Genre.name))}
    by_window: dict[int, list[str]] = {}
    for window, genre_key in sorted(wanted):
        by_window.setdefault(window, []).append(genre_key)
    depth = CACHED_LENGTH + len(withheld_movies(cache, in_session(session)).movies)
    computed = 0
    for window, genre_keys in by_window.items():
        last = cache.popular_cost(window)
        if last is not None and time.time() - last[0] < pace * last[1]:
            continue
        started, clock = time.time(), time.perf_counter()
        votes = _window_votes(session, window or None)
        genres_of = _movies_by_genre(session) if any(genre_keys) else {}
        computed_at = now()
        for genre_key in genre_keys:
            names = genre_key.split("|") if genre_key else []
            chosen = votes.of(genres_of, names)
            cache.store_popular(window, genre_key, chosen.ranked(depth), computed_at)
            computed += 1
        cache.store_popular_cost(window, started, time.perf_counter() - clock)
    return computed


@dataclass(frozen=True)
class _Votes:
    """Each movie's ratings in a window: how many, and their mean in stars."""

    movies: npt.NDArray[np.int64]
    counts: npt.NDArray[np.float64]
    means: npt.NDArray[np.float64]

    def of(self, genres_of: dict[str, npt.NDArray[np.int64]], names: list[str]) -> _Votes:
        """The movies of any of the genres ``names`` (all movies without names)."""
        if not names:
            return self
        empty = np.empty(0, np.int64)
        members = np.concatenate([genres_of.get(name, empty) for name in names])
        kept = np.isin(self.movies, members)
        return _Votes(self.movies[kept], self.counts[kept], self.means[kept])

    def ranked(self, n: int) -> list[tuple[int, float]]:
        """The ``n`` best (movie, weighted rating), m the counts' ``MIN_VOTES_QUANTILE``."""
        if not len(self.movies):
            return []
        min_votes = vote_quantile(self.counts, MIN_VOTES_QUANTILE)
        scores = weighted_rating(self.counts, self.means, min_votes)
        order = np.lexsort((self.movies, -scores))[:n]
        return [(int(self.movies[i]), round(float(scores[i]), 4)) for i in order]


def _weighted_ratings(
    session: Session, genres: list[str], window_days: int | None, n: int
) -> list[tuple[int, float]]:
    return _window_votes(session, window_days, genres).ranked(n)


def _window_votes(session: Session, window_days: int | None, genres: Sequence[str] = ()) -> _Votes:
    """Every movie's votes within the window (of all time without one), of ``genres`` only
    when given (then filtered by the database)."""
    query = select(
        Rating.movie_id, func.count().label("votes"), func.avg(Rating.half_stars).label("mean")
    ).group_by(Rating.movie_id)
    if window_days:
        query = query.where(Rating.updated_at >= now() - window_days * SECONDS_PER_DAY).having(
            func.count() >= MIN_WINDOW_VOTES
        )
    if genres:
        in_genres = (
            select(MovieGenre.movie_id)
            .join(Genre, Genre.id == MovieGenre.genre_id)
            .where(Genre.name.in_(genres))
        )
        query = query.where(Rating.movie_id.in_(in_genres))
    rows = session.execute(query).all()
    return _Votes(
        np.array([row[0] for row in rows], np.int64),
        np.array([row[1] for row in rows], np.float64),
        np.array([float(row[2]) for row in rows], np.float64) / 2.0,
    )


def _movies_by_genre(session: Session) -> dict[str, npt.NDArray[np.int64]]:
    """Each genre's movies."""
    members: dict[str, list[int]] = {}
    for name, movie in session.execute(
        select(Genre.name, MovieGenre.movie_id).join(Genre, Genre.id == MovieGenre.genre_id)
    ):
        members.setdefault(name, []).append(movie)
    return {name: np.array(movies, np.int64) for name, movies in members.items()}
