"""Predicted star ratings from a ``predict`` plugin, folded in from the user's current ratings."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plugins.data import RATING_SCALE
from server.models import Rating
from server.services.algorithms import require_algorithm
from server.services.model_versions import active_version
from server.services.movies import get_movie
from server.services.ratings import rated_by
from server.services.users import get_user
from server.serving.context import ServingContext
from server.serving.policy import user_state

# The movie-mean fallback shrinks towards the global mean by this many pseudo-ratings.
PRIOR_RATINGS = 5.0


@dataclass(frozen=True)
class Prediction:
    """A predicted rating and where it came from."""

    stars: float
    source: str
    model_version: int | None


def predict_rating(
    context: ServingContext,
    session: Session,
    user_external_id: str,
    movie_external_id: str,
    algorithm: str | None = None,
) -> Prediction:
    """The rating the user would give the movie; the movie's damped mean when no model can say."""
    name = algorithm or context.settings.predict_algorithm
    require_algorithm(context.registry, name, "predict")
    user = get_user(session, user_external_id)
    movie = get_movie(session, movie_external_id)
    version = active_version(session, name)
    if version is not None:
        model = context.models.model(version)
        state = user_state(model, user.id, rated_by(session, user.id))
        value = float(model.predict(state, np.array([movie.id]))[0])
        if not np.isnan(value):
            return Prediction(round(value, 3), name, version.number)
    return Prediction(round(_damped_mean(session, movie.id), 3), "fallback:movie-mean", None)


def _damped_mean(session: Session, movie_id: int) -> float:
    overall = session.scalar(select(func.avg(Rating.half_stars)))
    count, mean = session.execute(
        select(func.count(), func.avg(Rating.half_stars)).where(Rating.movie_id == movie_id)
    ).one()
    prior = float(overall) / 2.0 if overall is not None else sum(RATING_SCALE) / 2.0
    if not count:
        return prior
    return float((count * float(mean) / 2.0 + PRIOR_RATINGS * prior) / (count + PRIOR_RATINGS))
