"""``popularity``: the Bayesian weighted rating (IMDB's formula) or plain counts, optionally
decayed by age for a "trending" list. The same list for everyone: the cold-start fallback."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from plugins.base import FitOptions, IndexArray, RecommenderBase, UserState
from plugins.config import ConfigError
from plugins.data import FloatArray, Ratings

SECONDS_PER_DAY = 86_400.0


def weighted_rating(votes: np.ndarray, means: np.ndarray, min_votes: float) -> np.ndarray:
    """The Bayesian weighted rating WR = v/(v+m)·R + m/(v+m)·C of each movie, from its vote
    count v (weights allowed) and mean R, with m = ``min_votes`` and C the mean of all votes: a
    movie needs many ratings to rank on its own mean."""
    total = votes.sum()
    overall = float((votes * means).sum() / total) if total > 0 else 3.5
    return np.asarray((votes * means + min_votes * overall) / (votes + min_votes))


def vote_quantile(votes: np.ndarray, quantile: float) -> float:
    """The ``quantile`` of the vote counts of rated movies: the usual ``min_votes``."""
    rated = votes[votes > 0]
    return float(np.quantile(rated, quantile)) if len(rated) else 1.0


@dataclass(frozen=True)
class PopularityConfig:
    """``weighted``: WR = v/(v+m)·R + m/(v+m)·C with m the ``min_votes_quantile`` of the vote
    counts (or ``min_votes`` when set); ``count``: number of ratings. ``half_life_days`` > 0
    weighs each rating by 0.5^(age / half-life), age taken from the newest rating."""

    kind: Literal["weighted", "count"] = "weighted"
    min_votes_quantile: float = 0.9
    min_votes: float | None = None
    half_life_days: float = 0.0

    def validate(self) -> None:
        """Reject settings that make no sense."""
        if not 0.0 <= self.min_votes_quantile <= 1.0:
            raise ConfigError("min_votes_quantile must be between 0 and 1")
        if self.half_life_days < 0 or (self.min_votes is not None and self.min_votes < 0):
            raise ConfigError("half_life_days and min_votes must be >= 0")


class Popularity(RecommenderBase[PopularityConfig]):
    """Ranks every movie by one popularity score; unknown users get the same list."""

    name = "popularity"
    version = "1"
    capabilities = frozenset({"rank", "fold_in"})
    # The same list for everyone: it serves people with no ratings too (``server.serving.policy``).
    personal = False
    config_class = PopularityConfig

    def _fit(self, ratings: Ratings, options: FitOptions) -> None:
        matrix = ratings.csc
        weights = self._weights(ratings.times.tocsc().data.astype(np.float64))
        columns = np.repeat(np.arange(matrix.shape[1]), np.diff(matrix.indptr))
        votes = np.bincount(columns, weights, matrix.shape[1])
        if self.config.kind == "count":
            self.scores = votes.astype(np.float32)
            return
        sums = np.bincount(columns, weights * matrix.data, matrix.shape[1])
        means = np.divide(sums, votes, out=np.zeros_like(sums), where=votes > 0)
        threshold = self._vote_threshold(votes)
        self.scores = weighted_rating(votes, means, threshold).astype(np.float32)

    def _weights(self, times: np.ndarray) -> np.ndarray:
        if self.config.half_life_days <= 0 or len(times) == 0:
            return np.ones(len(times))
        age_days = (times.max() - times) / SECONDS_PER_DAY
        return np.asarray(np.power(0.5, age_days / self.config.half_life_days))

    def _vote_threshold(self, votes: np.ndarray) -> float:
        if self.config.min_votes is not None:
            return self.config.min_votes
        return vote_quantile(votes, self.config.min_votes_quantile)

    def _score(self, state: UserState, items: IndexArray) -> FloatArray:
        return self.scores[items]

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {"scores": self.scores}

    def _restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.scores = arrays["scores"]


@dataclass(frozen=True)
class CountConfig(PopularityConfig):
    """``popularity-count``: plain counts."""

    kind: Literal["weighted", "count"] = "count"


class PopularityCount(Popularity):
    """The most rated movies: what most people have seen."""

    name = "popularity-count"
    config_class = CountConfig


@dataclass(frozen=True)
class TrendingConfig(PopularityConfig):
    """``trending``: counts, each rating weighing half as much every ``half_life_days``."""

    kind: Literal["weighted", "count"] = "count"
    half_life_days: float = 180.0


class Trending(Popularity):
    """The most rated movies lately."""

    name = "trending"
    config_class = TrendingConfig
