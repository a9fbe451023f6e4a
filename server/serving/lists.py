"""Turning model versions and someone's ratings into a ranked list: the one computation behind a
cached list (the workers) and a computed answer (the web processes on a miss). The policy itself,
shared with the evaluation, is in ``server.serving.policy``."""

from __future__ import annotations

import numpy as np

from plugins.base import Recommender
from server.cache.lists import CachedList
from server.models import ModelVersion, User
from server.serving.context import ServingContext
from server.serving.policy import RatedMovies, Served, served_list


def served_version(context: ServingContext, version: ModelVersion | None) -> Served | None:
    """The model of ``version`` as it serves; None for no version or one whose algorithm was
    left out of the allow-list."""
    if version is None or version.algorithm not in context.registry.names():
        return None
    return Served(context.models.model(version), version.number)


def compute_user_list(
    context: ServingContext,
    version: ModelVersion,
    content: ModelVersion | None,
    user: User,
    rated: RatedMovies,
    length: int,
    exclude_rated: bool = True,
    prefer_trained: bool = False,
) -> CachedList | None:
    """A person's list from ``version`` and their current ratings, by the served policy (the
    content blend below ``cold_start_ratings`` uses ``content``, the active content version the
    caller looked up once for however many people it computes); None when the model has nothing
    to go on and the fallback must answer."""
    ranker = Served(context.models.model(version), version.number)
    return served_list(
        ranker,
        served_version(context, content),
        user.id,
        rated,
        length,
        context.settings.cold_start_ratings,
        exclude_rated,
        prefer_trained,
    )


def similar_list(model: Recommender, version: int, movie_id: int, length: int) -> CachedList:
    """The movies most similar to ``movie_id`` by ``model`` (positive similarities only)."""
    ranked = model.similar(movie_id, length)
    # No positive similarity is no evidence (a movie nobody rated scores 0 with everything).
    keep = ranked.scores > 0
    return CachedList(
        version, model.name, ranked.movies[keep].astype(np.int32), ranked.scores[keep]
    )
