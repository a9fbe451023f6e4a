"""Turning model versions and someone's ratings into a ranked list: the one computation behind a
cached list (the workers) and a computed answer (the web processes on a miss). The policy itself,
shared with the evaluation, is in ``server.serving.policy``."""

from __future__ import annotations

import numpy as np

from plugins.base import Recommender
from server.cache.lists import CachedList
from server.models import ModelVersion
from server.serving.context import ServingContext
from server.serving.explain import Evidence, explain, explain_alike
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
    user_id: int,
    rated: RatedMovies,
    length: int,
    exclude_rated: bool = True,
    prefer_trained: bool = False,
) -> CachedList | None:
    """A person's list (``user_id``: internal, or one no stored person has for a visitor) from
    ``version`` and their current ratings, by the served policy (the
    content blend below ``cold_start_ratings`` uses ``content``, the active content version the
    caller looked up once for however many people it computes); None when the model has nothing
    to go on and the fallback must answer. Each movie of the list carries its reason
    (``server.serving.explain``)."""
    model = context.models.model(version)
    evidence = context.evidence.of(version, model)
    entry = served_list(
        Served(model, version.number),
        served_version(context, content),
        evidence.traits,
        user_id,
        rated,
        length,
        context.policy,
        exclude_rated,
        prefer_trained,
    )
    return None if entry is None else explain(entry, rated, evidence, model).stamped(rated.stamp)


def similar_list(
    model: Recommender, version: int, movie_id: int, length: int, evidence: Evidence | None
) -> CachedList:
    """The movies most similar to ``movie_id`` by ``model`` (positive similarities only), each
    saying what it shares with it (``evidence``: the version's)."""
    ranked = model.similar(movie_id, length)
    # No positive similarity is no evidence (a movie nobody rated scores 0 with everything).
    keep = ranked.scores > 0
    entry = CachedList(
        version, model.name, ranked.movies[keep].astype(np.int32), ranked.scores[keep]
    )
    return explain_alike(entry, movie_id, evidence)
