"""``gbm``: gradient-boosted trees (xgboost, the optional ``gbm`` extra) that predict a rating from
neighbourhood and baseline features: user and movie means and counts, and the predictions of other
plugins (by default the baseline, both k-NN variants, SVD and SVD++).

The trees must learn from predictions the components made *without* seeing the rating, so the
training set's component features are out-of-fold: the training ratings are cut into
``stack_folds`` parts, and each part is predicted by components fitted on the others. The
components are then refitted on all ratings for serving (stacking, Wolpert 1992).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

try:
    import xgboost
except ImportError as missing:  # the registry logs this and skips the plugin
    raise ImportError("the gbm algorithm needs xgboost: pip install 'movierec[gbm]'") from missing

from plugins.algorithms.composite import (
    Component,
    component_states,
    create_components,
    load_components,
    parse_names,
    save_components,
)
from plugins.base import FitOptions, IndexArray, RecommenderBase, UserState
from plugins.config import ConfigError
from plugins.data import RATING_SCALE, FloatArray, Ratings


@dataclass(frozen=True)
class GbmConfig:
    """Components (rating-predicting plugins joined by +) and the booster."""

    components: str = "baseline+knn-item+knn-user+svd+svdpp"
    stack_folds: int = 3
    trees: int = 400
    depth: int = 5
    learning_rate: float = 0.05
    threads: int = 0

    def validate(self) -> None:
        """Reject settings that cannot train."""
        if self.stack_folds < 2 or self.trees < 1 or self.depth < 1:
            raise ConfigError("stack_folds must be >= 2, trees and depth >= 1")
        self.names()

    def names(self) -> list[str]:
        """The component names."""
        return parse_names(self.components)


_DAMPING = 5.0  # pseudo-ratings at the global mean that shrink a small sample's mean


def _statistics(ratings: Ratings) -> tuple[np.ndarray, np.ndarray]:
    """Per user and per movie: (mean, log(1 + count)), shrunk towards the global mean."""

    def stats(axis: int) -> np.ndarray:
        counts = np.asarray((ratings.matrix != 0).sum(axis=axis)).ravel()
        sums = np.asarray(ratings.matrix.sum(axis=axis)).ravel()
        means = (sums + _DAMPING * ratings.global_mean) / (counts + _DAMPING)
        return np.column_stack([means, np.log1p(counts)]).astype(np.float32)

    return stats(1), stats(0)


def _user_statistics(
    stats: np.ndarray, index: int | None, stars: FloatArray, global_mean: float
) -> np.ndarray:
    """A user's (mean, log count): stored for a known user, from their ratings otherwise."""
    if index is not None:
        return np.asarray(stats[index])
    count = len(stars)
    mean = (float(stars.sum()) + _DAMPING * global_mean) / (count + _DAMPING)
    return np.array([mean, np.log1p(count)], np.float32)


def _features(predictions: list[FloatArray], user: np.ndarray, movies: np.ndarray) -> np.ndarray:
    """One row per movie: component predictions, user statistics, movie statistics."""
    user_columns = np.tile(user, (len(movies), 1))
    return np.column_stack([*predictions, user_columns, movies]).astype(np.float32)


class Gbm(RecommenderBase[GbmConfig]):
    """Stacks other plugins' predictions with user and movie statistics."""

    name = "gbm"
    version = "1"
    capabilities = frozenset({"predict"})
    config_class = GbmConfig

    def _fit(self, ratings: Ratings, options: FitOptions) -> None:
        features, targets = self._out_of_fold(ratings, options)
        self.booster = xgboost.XGBRegressor(
            n_estimators=self.config.trees,
            max_depth=self.config.depth,
            learning_rate=self.config.learning_rate,
            subsample=0.8,
            colsample_bytree=0.9,
            tree_method="hist",
            n_jobs=self.config.threads or None,
            random_state=options.seed,
        )
        self.booster.fit(features, targets)
        self.components = self._fitted_components(ratings, options)
        self.user_stats, self.item_stats = _statistics(ratings)

    def _fitted_components(self, ratings: Ratings, options: FitOptions) -> list[Component]:
        components = create_components(self, self.config.names())
        for component in components:
            component.fit(ratings, options)
        return components

    def _out_of_fold(self, ratings: Ratings, options: FitOptions) -> tuple[np.ndarray, np.ndarray]:
        """Features of every training rating from components that did not see it."""
        parts = np.random.default_rng(options.seed).integers(
            0, self.config.stack_folds, ratings.n_ratings
        )
        users, items, stars = ratings.coo  # CSR order: each user's ratings are contiguous
        blocks, targets = [], []
        for part in range(self.config.stack_folds):
            held = np.flatnonzero(parts == part)
            train = ratings.subset(parts != part)
            components = self._fitted_components(train, options)
            user_stats, item_stats = _statistics(train)
            starts = np.flatnonzero(np.r_[True, users[held][1:] != users[held][:-1]])
            for rows in np.split(held, starts[1:]):
                user = int(ratings.user_ids[users[rows[0]]])
                movies = ratings.movie_ids[items[rows]]
                known = train.user_index(user)
                stats = _user_statistics(
                    user_stats, known, np.empty(0, np.float32), train.global_mean
                )
                predictions = [c.predict(user, movies) for c in components]
                blocks.append(_features(predictions, stats, item_stats[items[rows]]))
                targets.append(stars[rows])
        return np.vstack(blocks), np.concatenate(targets)

    def _user_extra(self, state: UserState) -> list[UserState]:
        return component_states(self.components, self, state)

    def _score(self, state: UserState, items: IndexArray) -> FloatArray:
        # the same training data, so the components' dense indices are ours
        predictions = [
            np.clip(c._predict(own, items), *RATING_SCALE)
            for c, own in zip(self.components, state.extra, strict=True)
        ]
        user = _user_statistics(self.user_stats, state.index, state.stars, self.data.global_mean)
        features = _features(predictions, user, self.item_stats[items])
        return np.asarray(self.booster.predict(features), np.float32)

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {"user_stats": self.user_stats, "item_stats": self.item_stats}

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:  # type: ignore[override]
        self.user_stats, self.item_stats = arrays["user_stats"], arrays["item_stats"]

    def _save_files(self, directory: Path) -> None:
        save_components(self.components, directory)
        self.booster.save_model(directory / "booster.json")

    def _load_files(self, directory: Path) -> None:
        self.components = load_components(self, self.config.names(), directory)
        self.booster = xgboost.XGBRegressor()
        self.booster.load_model(directory / "booster.json")
