"""Turning a model and someone's ratings into a ranked list: the one computation behind a cached
list (the workers) and a computed answer (the web processes on a miss)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from plugins.base import Recommender, UserState
from server.cache.lists import CachedList
from server.models import ModelVersion, User
from server.serving.context import ServingContext


@dataclass(frozen=True)
class RatedMovies:
    """A user's current ratings: internal movie ids and their stars."""

    movies: npt.NDArray[np.int64]
    stars: npt.NDArray[np.float32]

    def __len__(self) -> int:
        return len(self.movies)


NO_RATINGS = RatedMovies(np.empty(0, np.int64), np.empty(0, np.float32))


# The algorithm blended into the lists of users with few ratings.
CONTENT = "content"
# Reciprocal-rank fusion constant: how much the top ranks dominate a blend.
RRF_K = 10.0


def user_state(model: Recommender, user_id: int, rated: RatedMovies) -> UserState:
    """The user's state from their current ratings (fold-in), or as trained when the model
    cannot fold in."""
    if "fold_in" in model.capabilities:
        return model.fold_in(rated.movies, rated.stars)
    return model.user_state(user_id)


def ranked_list(
    model: Recommender, version: int, state: UserState, length: int, exclude_rated: bool = True
) -> CachedList:
    """The model's top ``length`` for ``state`` (rated movies excluded unless told)."""
    ranked = model.recommend(state, length, exclude_rated=exclude_rated)
    return CachedList(version, model.name, ranked.movies.astype(np.int32), ranked.scores)


def blend(first: CachedList, second: CachedList, weight: float, length: int) -> CachedList:
    """Reciprocal-rank fusion: ``weight`` on ``first``, ``1 - weight`` on ``second``.

    Ranks, not scores, are fused: the two models score on unrelated scales.
    """
    fused: dict[int, float] = {}
    for entry, share in ((first, weight), (second, 1.0 - weight)):
        for rank, movie in enumerate(entry.movies.tolist()):
            fused[movie] = fused.get(movie, 0.0) + share / (RRF_K + rank)
    best = sorted(fused.items(), key=lambda pair: -pair[1])[:length]
    return CachedList(
        first.version,
        f"blend:{first.source}+{second.source}",
        np.array([movie for movie, _ in best], np.int32),
        np.array([score for _, score in best], np.float32),
    )


def similar_list(model: Recommender, version: int, movie_id: int, length: int) -> CachedList:
    """The movies most similar to ``movie_id`` by ``model`` (positive similarities only)."""
    ranked = model.similar(movie_id, length)
    # No positive similarity is no evidence (a movie nobody rated scores 0 with everything).
    keep = ranked.scores > 0
    return CachedList(
        version, model.name, ranked.movies[keep].astype(np.int32), ranked.scores[keep]
    )


def compute_user_list(
    context: ServingContext,
    version: ModelVersion,
    content: ModelVersion | None,
    user: User,
    rated: RatedMovies,
    length: int,
    exclude_rated: bool = True,
    prefer_trained: bool = False,
) -> CachedList:
    """A user's list from ``version``'s model and their current ratings (fold-in; with
    ``prefer_trained``, the trained state when the model saw as many ratings as they have).

    Users with fewer than ``cold_start_ratings`` ratings get a blend with the results of
    ``content`` (the active content-based version, if any) from the same ratings: a few ratings
    say more about taste through metadata than through co-ratings. The caller looks ``content``
    up, once for however many users it computes.
    """
    model = context.models.model(version)
    if prefer_trained and model.trained_rating_count(user.id) == len(rated):
        state = model.user_state(user.id)  # right after training: no fold-in needed
    else:
        state = user_state(model, user.id, rated)
    entry = ranked_list(model, version.number, state, length, exclude_rated)
    few = len(rated) < context.settings.cold_start_ratings
    if (
        few
        and content is not None
        and content.algorithm in context.registry.names()  # not left out of the allow-list
        and version.algorithm != content.algorithm
    ):
        content_model = context.models.model(content)
        content_state = content_model.fold_in(rated.movies, rated.stars)
        by_content = ranked_list(content_model, content.number, content_state, length)
        weight = 1.0 - len(rated) / context.settings.cold_start_ratings
        entry = blend(by_content, entry, weight, length)
        entry = CachedList(version.number, entry.source, entry.movies, entry.scores)
    return entry
