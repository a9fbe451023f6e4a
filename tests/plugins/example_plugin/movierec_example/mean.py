"""``movie-mean``: each movie's mean rating, damped towards the global mean."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from plugins.base import FitOptions, IndexArray, RecommenderBase, UserState
from plugins.data import FloatArray, Ratings


@dataclass(frozen=True)
class MeanConfig:
    """How many global-mean votes each movie starts with."""

    damping: float = 5.0


class MovieMean(RecommenderBase[MeanConfig]):
    """Predicts and ranks by the damped mean rating of each movie."""

    name = "movie-mean"
    version = "1"
    capabilities = frozenset({"predict", "rank"})
    config_class = MeanConfig

    def _fit(self, ratings: Ratings, options: FitOptions) -> None:
        columns = ratings.csc
        counts = np.diff(columns.indptr)
        sums = np.asarray(columns.sum(axis=0)).ravel()
        damping = self.config.damping
        self.means = ((sums + damping * ratings.global_mean) / (counts + damping)).astype(
            np.float32
        )

    def _score(self, state: UserState, items: IndexArray) -> FloatArray:
        return self.means[items]

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {"means": self.means}

    def _restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.means = arrays["means"]
