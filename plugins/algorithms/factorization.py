"""``svd`` (biased matrix factorization, Funk 2006 / Koren 2009) and ``svdpp`` (SVD++, Koren 2008),
trained by SGD in compiled loops.

SVD++ is trained user by user: the implicit term is computed once per user and its gradient is
applied once after the user's ratings, instead of touching every rated movie's factors after every
rating (what makes the tutorials' SVD++ slow). Both fold in a new user by ridge regression on the
movie factors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numba
import numpy as np

from plugins.algorithms.biases import Biases
from plugins.base import FitOptions, IndexArray, RecommenderBase, UserState
from plugins.config import ConfigError
from plugins.data import FloatArray, Ratings


@dataclass(frozen=True)
class FactorizationConfig:
    """Defaults tuned on MovieLens by 5-fold cross-validation (benchmarks/vs_surprise.py)."""

    n_factors: int = 50
    epochs: int = 18
    learning_rate: float = 0.014
    reg: float = 0.08
    learning_rate_bias: float = 0.007
    reg_bias: float = 0.02
    reg_implicit: float = 0.05
    init_std: float = 0.1

    def validate(self) -> None:
        """Reject settings that cannot train."""
        if self.n_factors < 1 or self.epochs < 0:
            raise ConfigError("n_factors must be >= 1 and epochs >= 0")
        if min(self.learning_rate, self.learning_rate_bias) <= 0:
            raise ConfigError("learning rates must be > 0")


@dataclass(frozen=True)
class SvdppConfig(FactorizationConfig):
    """SVD++ defaults: more, smaller steps pay off for the implicit term."""

    epochs: int = 30
    learning_rate: float = 0.01


@dataclass(frozen=True)
class _Factors:
    """A user's bias and effective factor vector (including SVD++'s implicit part)."""

    bias: float
    vector: FloatArray


class _Factorization(RecommenderBase[FactorizationConfig]):
    capabilities = frozenset({"predict", "fold_in"})
    config_class = FactorizationConfig

    def _fit(self, ratings: Ratings, options: FitOptions) -> None:
        config = self.config
        rng = np.random.default_rng(options.seed)
        n_users, n_items = ratings.shape
        self.user_factors = rng.normal(0, config.init_std, (n_users, config.n_factors))
        self.item_factors = rng.normal(0, config.init_std, (n_items, config.n_factors))
        self.user_factors = self.user_factors.astype(np.float32)
        self.item_factors = self.item_factors.astype(np.float32)
        self.biases = Biases(
            ratings.global_mean, np.zeros(n_users, np.float32), np.zeros(n_items, np.float32)
        )
        self._train(ratings, options.seed)

    def _train(self, ratings: Ratings, seed: int) -> None:
        m, c = ratings.matrix, self.config
        implicit = getattr(self, "implicit_factors", None)
        # float32 throughout: mixed precision keeps the inner loops from vectorizing (1.6x)
        lr, reg, lr_bias, reg_bias, reg_implicit = (
            np.float32(v)
            for v in (c.learning_rate, c.reg, c.learning_rate_bias, c.reg_bias, c.reg_implicit)
        )
        _sgd_epochs(
            m.indptr,
            m.indices,
            m.data,
            np.float32(self.biases.mean),
            self.biases.user,
            self.biases.item,
            self.user_factors,
            self.item_factors,
            self.item_factors if implicit is None else implicit,
            implicit is not None,
            lr,
            reg,
            lr_bias,
            reg_bias,
            reg_implicit,
            c.epochs,
            seed,
        )

    def _implicit(self, rated: IndexArray) -> FloatArray:
        """SVD++'s implicit-feedback vector of a user (zero for plain SVD)."""
        return np.zeros(self.item_factors.shape[1], np.float32)

    def _user_extra(self, state: UserState) -> _Factors:
        implicit = self._implicit(state.rated)
        if state.index is not None:
            vector = self.user_factors[state.index] + implicit
            return _Factors(float(self.biases.user[state.index]), vector)
        bias = self.biases.user_bias(state.rated, state.stars, reg_user=15.0)
        if len(state.rated) == 0:
            return _Factors(bias, implicit)
        residual = state.stars - self.biases.predict(bias, state.rated)
        residual -= self.item_factors[state.rated] @ implicit
        q = self.item_factors[state.rated].astype(np.float64)
        ridge = self.config.reg * len(state.rated) * np.eye(q.shape[1])
        vector = np.linalg.solve(q.T @ q + ridge, q.T @ residual)
        return _Factors(bias, (vector + implicit).astype(np.float32))

    def _score(self, state: UserState, items: IndexArray) -> FloatArray:
        factors: _Factors = state.extra
        dots = self.item_factors[items] @ factors.vector
        return (self.biases.predict(factors.bias, items) + dots).astype(np.float32)

    def _score_catalogue(self, state: UserState) -> FloatArray:
        # Gathering every row first copied the whole factor matrix for each list.
        factors: _Factors = state.extra
        every = np.arange(self.data.shape[1], dtype=np.int64)
        dots = self.item_factors @ factors.vector
        return (self.biases.predict(factors.bias, every) + dots).astype(np.float32)

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return self.biases.arrays() | {"users": self.user_factors, "items": self.item_factors}

    def _restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.biases = Biases.from_arrays(arrays)
        self.user_factors = arrays["users"]
        self.item_factors = arrays["items"]


class SVD(_Factorization):
    """Biased matrix factorization trained by SGD."""

    name = "svd"
    version = "1"


class SVDpp(_Factorization):
    """SVD++: SVD plus a user term made of the factors of every movie the user rated."""

    name = "svdpp"
    version = "1"
    config_class = SvdppConfig

    def _fit(self, ratings: Ratings, options: FitOptions) -> None:
        rng = np.random.default_rng(options.seed + 1)
        shape = (ratings.shape[1], self.config.n_factors)
        self.implicit_factors = rng.normal(0, self.config.init_std, shape).astype(np.float32)
        super()._fit(ratings, options)

    def _implicit(self, rated: IndexArray) -> FloatArray:
        if len(rated) == 0:
            return np.zeros(self.implicit_factors.shape[1], np.float32)
        total = self.implicit_factors[rated].sum(axis=0)
        return np.asarray(total / np.sqrt(len(rated)), np.float32)

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return super()._state_arrays() | {"implicit": self.implicit_factors}

    def _restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        super()._restore(arrays)
        self.implicit_factors = arrays["implicit"]


@numba.njit(cache=True, fastmath=True)
def _sgd_epochs(  # type: ignore[no-untyped-def]
    indptr,
    indices,
    stars,
    mean,
    bu,
    bi,
    p,
    q,
    y,
    with_implicit,
    lr,
    reg,
    lr_b,
    reg_b,
    reg_y,
    epochs,
    seed,
):
    # Users in random order, each user's ratings in random order: a user's row stays in cache
    # and the ratings are read from one CSR row at a time (a global shuffle reads every array at
    # random, which made an epoch over 10M ratings 6x slower). SVD++'s implicit term is computed
    # once per user and its gradient applied once after the user's ratings.
    np.random.seed(seed)
    n_factors = p.shape[1]
    implicit = np.zeros(n_factors, np.float32)
    gradient = np.zeros(n_factors, np.float32)
    for _ in range(epochs):
        for u in np.random.permutation(len(indptr) - 1):
            start, end = indptr[u], indptr[u + 1]
            if end == start:
                continue
            norm = 1.0 / np.sqrt(end - start)
            if with_implicit:
                implicit[:] = 0.0
                gradient[:] = 0.0
                for k in range(start, end):
                    implicit += y[indices[k]]
                implicit *= norm
            for k in start + np.random.permutation(end - start):
                i = indices[k]
                dot = np.float32(0.0)
                for f in range(n_factors):
                    dot += q[i, f] * (p[u, f] + implicit[f])
                error = stars[k] - (mean + bu[u] + bi[i] + dot)
                bu[u] += lr_b * (error - reg_b * bu[u])
                bi[i] += lr_b * (error - reg_b * bi[i])
                for f in range(n_factors):
                    pu, qi = p[u, f], q[i, f]
                    gradient[f] += error * qi
                    p[u, f] += lr * (error * qi - reg * pu)
                    q[i, f] += lr * (error * (pu + implicit[f]) - reg * qi)
            if with_implicit:
                for k in range(start, end):
                    j = indices[k]
                    for f in range(n_factors):
                        y[j, f] += lr * (gradient[f] * norm * norm - reg_y * y[j, f])
