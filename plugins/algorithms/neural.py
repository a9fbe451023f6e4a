"""``neural``: user and movie embeddings with biases, a dot product, and a sigmoid scaled to the
rating range (the "EmbeddingDotBias" model of the deep-learning tutorials), trained on mini-batches
with Adam and weight decay.

Written as compiled numpy (numba) rather than on a deep-learning framework: the model is one dot
product, and this keeps a multi-gigabyte dependency out of the server. Adam is applied lazily, to
the rows a batch touched, as sparse embedding optimizers do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numba
import numpy as np

from plugins.base import FitOptions, IndexArray, RecommenderBase, UserState
from plugins.config import ConfigError
from plugins.data import RATING_SCALE, FloatArray, Ratings

LOW, HIGH = RATING_SCALE[0] - 0.25, RATING_SCALE[1] + 0.25  # the sigmoid never reaches its ends


@dataclass(frozen=True)
class NeuralConfig:
    """Embedding size, optimizer and schedule."""

    n_factors: int = 32
    # Chosen on 3 folds of ml-latest-small and of the Kaggle ratings (the README gives the
    # 5-fold figures): fewer, smaller steps with less decay than before.
    epochs: int = 8
    batch_size: int = 512
    learning_rate: float = 0.005
    weight_decay: float = 0.5
    init_std: float = 0.05

    def validate(self) -> None:
        """Reject settings that cannot train."""
        if self.n_factors < 1 or self.epochs < 0 or self.batch_size < 1:
            raise ConfigError("n_factors and batch_size must be >= 1, epochs >= 0")
        if self.learning_rate <= 0 or self.weight_decay < 0:
            raise ConfigError("learning_rate must be > 0 and weight_decay >= 0")


@dataclass(frozen=True)
class _Embedding:
    bias: float
    vector: FloatArray


class Neural(RecommenderBase[NeuralConfig]):
    """Predicts LOW + (HIGH - LOW)·sigmoid(b + b_u + b_i + p_u·q_i)."""

    name = "neural"
    version = "1"
    capabilities = frozenset({"predict", "fold_in"})
    config_class = NeuralConfig

    def _fit(self, ratings: Ratings, options: FitOptions) -> None:
        c = self.config
        rng = np.random.default_rng(options.seed)
        n_users, n_items = ratings.shape
        # one parameter table per kind: column 0 is the bias, the rest the embedding
        self.users = np.zeros((n_users, c.n_factors + 1), np.float32)
        self.items = np.zeros((n_items, c.n_factors + 1), np.float32)
        self.users[:, 1:] = rng.normal(0, c.init_std, (n_users, c.n_factors))
        self.items[:, 1:] = rng.normal(0, c.init_std, (n_items, c.n_factors))
        share = (ratings.global_mean - LOW) / (HIGH - LOW)
        self.offset = float(np.log(share / (1 - share)))
        users, items, stars = ratings.coo
        _train(
            users,
            items,
            stars,
            self.users,
            self.items,
            np.float32(self.offset),
            c.learning_rate,
            c.weight_decay,
            c.epochs,
            c.batch_size,
            options.seed,
        )

    def _user_extra(self, state: UserState) -> _Embedding:
        if state.index is not None:
            row = self.users[state.index]
            return _Embedding(float(row[0]), row[1:])
        row = np.zeros(self.users.shape[1], np.float32)
        if len(state.rated):
            _fold_in(
                row,
                self.items[state.rated],
                state.stars,
                np.float32(self.offset),
                self.config.learning_rate * 10,
                self.config.weight_decay,
            )
        return _Embedding(float(row[0]), row[1:])

    def _score(self, state: UserState, items: IndexArray) -> FloatArray:
        user: _Embedding = state.extra
        item_rows = self.items[items]
        z = self.offset + user.bias + item_rows[:, 0] + item_rows[:, 1:] @ user.vector
        return (LOW + (HIGH - LOW) / (1.0 + np.exp(-z))).astype(np.float32)

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {"users": self.users, "items": self.items, "offset": np.array([self.offset])}

    def _restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.users, self.items = arrays["users"], arrays["items"]
        self.offset = float(arrays["offset"][0])


@numba.njit(cache=True, fastmath=True)
def _gradient(offset, user_row, item_row, star):  # type: ignore[no-untyped-def]
    """d(squared error)/dz of one rating, where z is the sigmoid's input."""
    z = offset + user_row[0] + item_row[0]
    for f in range(1, len(user_row)):
        z += user_row[f] * item_row[f]
    sigma = 1.0 / (1.0 + np.exp(-z))
    predicted = LOW + (HIGH - LOW) * sigma
    return 2.0 * (predicted - star) * (HIGH - LOW) * sigma * (1.0 - sigma)


@numba.njit(cache=True, fastmath=True)
def _train(users, items, stars, user_table, item_table, offset, lr, decay, epochs, batch, seed):  # type: ignore[no-untyped-def]
    np.random.seed(seed)
    width = user_table.shape[1]
    tables = (user_table, item_table)
    grads = (np.zeros_like(user_table), np.zeros_like(item_table))
    first = (np.zeros_like(user_table), np.zeros_like(item_table))
    second = (np.zeros_like(user_table), np.zeros_like(item_table))
    touched = (np.zeros(len(user_table), np.bool_), np.zeros(len(item_table), np.bool_))
    step = 0
    for _ in range(epochs):
        order = np.random.permutation(len(stars))
        for start in range(0, len(order), batch):
            step += 1
            rows = order[start : start + batch]
            for k in rows:
                u, i = users[k], items[k]
                g = _gradient(offset, user_table[u], item_table[i], stars[k]) / len(rows)
                grads[0][u, 0] += g
                grads[1][i, 0] += g
                for f in range(1, width):
                    grads[0][u, f] += g * item_table[i, f]
                    grads[1][i, f] += g * user_table[u, f]
                touched[0][u] = True
                touched[1][i] = True
            correction1 = 1.0 - 0.9**step
            correction2 = 1.0 - 0.999**step
            for t in range(2):
                ids = users[rows] if t == 0 else items[rows]
                for r in ids:
                    if not touched[t][r]:
                        continue
                    touched[t][r] = False
                    for f in range(width):
                        g = grads[t][r, f] + decay * tables[t][r, f] / len(rows)
                        first[t][r, f] = 0.9 * first[t][r, f] + 0.1 * g
                        second[t][r, f] = 0.999 * second[t][r, f] + 0.001 * g * g
                        m = first[t][r, f] / correction1
                        v = second[t][r, f] / correction2
                        tables[t][r, f] -= lr * m / (np.sqrt(v) + 1e-8)
                        grads[t][r, f] = 0.0


@numba.njit(cache=True, fastmath=True)
def _fold_in(user_row, item_rows, stars, offset, lr, decay):  # type: ignore[no-untyped-def]
    """Fit one user's bias and embedding to their ratings with the movies held fixed."""
    gradient = np.zeros_like(user_row)
    for _ in range(200):
        gradient[:] = 0.0
        for k in range(len(stars)):
            g = _gradient(offset, user_row, item_rows[k], stars[k]) / len(stars)
            gradient[0] += g
            for f in range(1, len(user_row)):
                gradient[f] += g * item_rows[k, f]
        for f in range(len(user_row)):
            user_row[f] -= lr * (gradient[f] + decay * user_row[f] / len(stars))
