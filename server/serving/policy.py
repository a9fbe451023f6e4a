"""The served policy: which model answers a person, and how their list is made from it.

One function, ``served_list``, turns a ranker (the champion of the person's segment, or a pinned
algorithm), the content model and someone's current ratings into their list. The read path, the
precompute workers, the worker's holdout and ``movierec evaluate --served`` all call it, so what
is measured is what is served.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from plugins.base import Recommender, UserState
from server.cache.lists import CachedList

# Reciprocal-rank fusion constant: how much the top ranks dominate a blend.
RRF_K = 10.0
# The algorithm blended into the lists of people with few ratings.
CONTENT = "content"


class Segment(StrEnum):
    """People by how much the model can know of them."""

    NEW = "new"  # no ratings
    COLD = "cold"  # fewer than the cold-start setting
    WARM = "warm"


SEGMENTS = tuple(Segment)


def segment_of(rating_count: int, cold_start_ratings: int) -> Segment:
    """The segment of a person with ``rating_count`` ratings."""
    if rating_count == 0:
        return Segment.NEW
    return Segment.COLD if rating_count < cold_start_ratings else Segment.WARM


@dataclass(frozen=True)
class RatedMovies:
    """A person's current ratings: internal movie ids and their stars."""

    movies: npt.NDArray[np.int64]
    stars: npt.NDArray[np.float32]

    def __len__(self) -> int:
        return len(self.movies)


NO_RATINGS = RatedMovies(np.empty(0, np.int64), np.empty(0, np.float32))


@dataclass(frozen=True)
class Served:
    """A model as it serves: the fitted model and its version number."""

    model: Recommender
    version: int


def is_personal(model: Recommender) -> bool:
    """Whether the model's lists depend on the person. A model that is not (popularity) serves
    people with no ratings too; a personal one has nothing to go on for them."""
    return bool(getattr(model, "personal", True))


def user_state(model: Recommender, user_id: int, rated: RatedMovies) -> UserState:
    """The person's state from their current ratings (fold-in), or as trained when the model
    cannot fold in."""
    if "fold_in" in model.capabilities:
        return model.fold_in(rated.movies, rated.stars)
    return model.user_state(user_id)


def ranked_list(
    served: Served, state: UserState, length: int, exclude_rated: bool = True
) -> CachedList:
    """The model's top ``length`` for ``state`` (rated movies excluded unless told)."""
    ranked = served.model.recommend(state, length, exclude_rated=exclude_rated)
    return CachedList(
        served.version, served.model.name, ranked.movies.astype(np.int32), ranked.scores
    )


def blend(first: CachedList, second: CachedList, weight: float, length: int) -> CachedList:
    """Reciprocal-rank fusion: ``weight`` on ``first``, ``1 - weight`` on ``second``; the
    version is ``second``'s (the ranker's).

    Ranks, not scores, are fused: the two models score on unrelated scales.
    """
    fused: dict[int, float] = {}
    for entry, share in ((first, weight), (second, 1.0 - weight)):
        for rank, movie in enumerate(entry.movies.tolist()):
            fused[movie] = fused.get(movie, 0.0) + share / (RRF_K + rank)
    best = sorted(fused.items(), key=lambda pair: -pair[1])[:length]
    return CachedList(
        second.version,
        f"blend:{first.source}+{second.source}",
        np.array([movie for movie, _ in best], np.int32),
        np.array([score for _, score in best], np.float32),
    )


def served_list(
    ranker: Served,
    content: Served | None,
    user_id: int,
    rated: RatedMovies,
    length: int,
    cold_start_ratings: int,
    exclude_rated: bool = True,
    prefer_trained: bool = False,
) -> CachedList | None:
    """A person's list from ``ranker`` and their current ratings; None when the ranker has
    nothing to go on (a personal model and no ratings, or an empty list): the caller's fallback
    answers.

    Ratings are folded in (with ``prefer_trained``, the trained state is used when the model saw
    as many ratings as they have: right after training, no fold-in is needed). Below
    ``cold_start_ratings`` ratings the list is blended with ``content``'s: a few ratings say more
    about taste through metadata than through co-ratings.
    """
    model = ranker.model
    if not is_personal(model):
        return ranked_list(ranker, user_state(model, user_id, rated), length, exclude_rated)
    if len(rated) == 0:
        return None
    if prefer_trained and model.trained_rating_count(user_id) == len(rated):
        state = model.user_state(user_id)
    else:
        state = user_state(model, user_id, rated)
    entry = ranked_list(ranker, state, length, exclude_rated)
    if len(rated) < cold_start_ratings and content is not None and content.model.name != model.name:
        content_state = content.model.fold_in(rated.movies, rated.stars)
        by_content = ranked_list(content, content_state, length, exclude_rated)
        weight = 1.0 - len(rated) / cold_start_ratings
        entry = blend(by_content, entry, weight, length)
    return entry if len(entry) else None  # none of their movies is known to the model
