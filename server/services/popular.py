"""Popular movies by the Bayesian weighted rating (the ``popularity`` plugin's formula, with m the
90th percentile of the counts), live from the database over a window of days and a set of genres.
The aggregate is exact (no counters to drift when an event is redelivered) and cheap, so it is
cached for a few seconds only. Movies no list may show now (``server.serving.catalogue``) are left
out as the list is read, cached or not.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plugins.algorithms.popularity import vote_quantile, weighted_rating
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


def popular_movies(
    cache: Cache, session: Session, n: int, genres: list[str], window_days: int | None
) -> tuple[list[tuple[int, float]], bool]:
    """The ``n`` most popular movies (internal id, weighted rating), optionally only of
    ``genres`` (any of them) and only counting ratings of the last ``window_days`` (then only
    movies rated there by ``MIN_WINDOW_VOTES`` people or more); and whether the list came from
    the cache. Withheld movies are left out (the cached list is as deep again as they are many, so
    it still holds ``n`` after them)."""
    withheld = withheld_movies(cache, in_session(session))
    window = window_days or 0
    genre_key = "|".join(sorted(genres))
    pairs = cache.popular(window, genre_key) if n <= CACHED_LENGTH else None
    if pairs is not None:
        return withheld.keep(pairs)[:n], True
    depth = max(n, CACHED_LENGTH) + len(withheld.movies)
    pairs = _weighted_ratings(session, genres, window_days, depth)
    cache.store_popular(window, genre_key, pairs)
    return withheld.keep(pairs)[:n], False


def _weighted_ratings(
    session: Session, genres: list[str], window_days: int | None, n: int
) -> list[tuple[int, float]]:
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
    if not rows:
        return []
    movies = np.array([row[0] for row in rows], np.int64)
    votes = np.array([row[1] for row in rows], np.float64)
    means = np.array([float(row[2]) for row in rows]) / 2.0
    scores = weighted_rating(votes, means, vote_quantile(votes, MIN_VOTES_QUANTILE))
    order = np.lexsort((movies, -scores))[:n]
    return [(int(movies[i]), round(float(scores[i]), 4)) for i in order]
