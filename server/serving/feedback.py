"""Feedback besides stars as the served policy sees it: positive types add weight to a movie
(``MOVIEREC_FEEDBACK_WEIGHTS``) for the models that read implicit signals, and some types keep a
movie out of the person's lists for good. Used for stored people and for visitors alike."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

import numpy as np

from server.serving.policy import RatedMovies

# A watched, liked or refused movie is never suggested to that person again; one on their
# watchlist may be (they want to watch it).
EXCLUDING = frozenset({"view", "like", "not_interested"})


def with_feedback(
    rated: RatedMovies, feedback: Iterable[tuple[int, str]], weights: Mapping[str, float]
) -> RatedMovies:
    """``rated`` plus ``feedback`` (internal movie id, type) pairs: each movie's positive
    weights summed as a signal, and the movies of ``EXCLUDING`` types kept out of lists."""
    summed: dict[int, float] = {}
    excluded: set[int] = set()
    for movie, kind in feedback:
        weight = weights.get(kind, 0.0)
        if weight > 0.0:
            summed[movie] = summed.get(movie, 0.0) + weight
        if kind in EXCLUDING:
            excluded.add(movie)
    if not summed and not excluded:
        return rated
    movies = np.array(sorted(summed), np.int64)
    return replace(
        rated,
        signal_movies=movies,
        signal_weights=np.array([summed[int(m)] for m in movies], np.float32),
        excluded=np.array(sorted(excluded), np.int64),
    )
