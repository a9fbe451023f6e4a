"""Global mean + user and item biases: the baseline predictor that several algorithms build on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numba
import numpy as np

from plugins.data import FloatArray, Ratings


@dataclass(frozen=True)
class Biases:
    """``mean + user[u] + item[i]`` predicts a rating."""

    mean: float
    user: FloatArray
    item: FloatArray

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays to save (see ``from_arrays``)."""
        return {"bias_mean": np.array([self.mean]), "bias_user": self.user, "bias_item": self.item}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> Biases:
        """Biases saved with ``arrays``."""
        return cls(float(arrays["bias_mean"][0]), arrays["bias_user"], arrays["bias_item"])

    def user_bias(self, rated: np.ndarray, stars: FloatArray, reg_user: float) -> float:
        """The bias of a user from their ratings (for an unknown or folded-in user)."""
        if len(rated) == 0:
            return 0.0
        residual = stars - self.mean - self.item[rated]
        return float(residual.sum() / (reg_user + len(rated)))

    def predict(self, user_bias: float, items: np.ndarray) -> FloatArray:
        """Baseline predictions of ``items`` for a user with ``user_bias``."""
        return np.asarray(self.mean + user_bias + self.item[items], np.float32)


def fit_als(ratings: Ratings, reg_user: float, reg_item: float, epochs: int) -> Biases:
    """Alternate closed-form updates of item then user biases (Koren 2010, section 2.1)."""
    users, items, stars = ratings.coo
    n_users, n_items = ratings.shape
    mean = ratings.global_mean
    user_counts = np.bincount(users, minlength=n_users)
    item_counts = np.bincount(items, minlength=n_items)
    user_bias = np.zeros(n_users)
    item_bias = np.zeros(n_items)
    for _ in range(epochs):
        residual = stars - mean - user_bias[users]
        item_bias = np.bincount(items, residual, n_items) / (reg_item + item_counts)
        residual = stars - mean - item_bias[items]
        user_bias = np.bincount(users, residual, n_users) / (reg_user + user_counts)
    return Biases(mean, user_bias.astype(np.float32), item_bias.astype(np.float32))


def fit_sgd(ratings: Ratings, reg: float, learning_rate: float, epochs: int, seed: int) -> Biases:
    """Stochastic gradient descent over shuffled ratings."""
    users, items, stars = ratings.coo
    user_bias = np.zeros(ratings.shape[0], np.float32)
    item_bias = np.zeros(ratings.shape[1], np.float32)
    mean = ratings.global_mean
    _sgd_epochs(users, items, stars, mean, user_bias, item_bias, reg, learning_rate, epochs, seed)
    return Biases(mean, user_bias, item_bias)


@numba.njit(cache=True)
def _sgd_epochs(users, items, stars, mean, user_bias, item_bias, reg, lr, epochs, seed):  # type: ignore[no-untyped-def]
    np.random.seed(seed)
    for _ in range(epochs):
        for k in np.random.permutation(len(stars)):
            u, i = users[k], items[k]
            error = stars[k] - (mean + user_bias[u] + item_bias[i])
            user_bias[u] += lr * (error - reg * user_bias[u])
            item_bias[i] += lr * (error - reg * item_bias[i])
