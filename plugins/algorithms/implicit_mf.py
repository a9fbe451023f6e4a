"""``als`` and ``bpr``: the ``implicit`` library's ALS (Hu, Koren, Volinsky 2008) and BPR
(Rendle 2009) on ratings turned into confidence weights.

The library does the training; this module decides what a rating means as implicit feedback
(``min_stars`` drops disliked movies, ``weighting`` turns stars into confidence) and keeps the
factors in safe ``.npy`` artifacts.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking
from threadpoolctl import ThreadpoolController

from plugins.base import FitOptions, IndexArray, RecommenderBase, UserState
from plugins.config import ConfigError
from plugins.data import FloatArray, Ratings

Weighting = Literal["binary", "stars", "centered"]


@functools.cache
def _controller() -> ThreadpoolController:
    """Inspecting the loaded libraries is slow (it reads /proc): do it once per process."""
    return ThreadpoolController()


def one_blas_thread() -> Any:
    """A context that limits BLAS to one thread (implicit parallelizes itself)."""
    return _controller().limit(limits=1, user_api="blas")


def confidence(ratings: Ratings, weighting: Weighting, min_stars: float) -> sp.csr_matrix:
    """Users x movies confidence: ``binary`` (1 per kept rating), ``stars``, or ``centered``
    (1 + stars above the user's mean, at least 1)."""
    matrix = ratings.matrix
    users = ratings.coo[0]
    stars = matrix.data.astype(np.float32)
    if weighting == "binary":
        values = np.ones_like(stars)
    elif weighting == "stars":
        values = stars
    else:
        counts = np.maximum(np.diff(matrix.indptr), 1)
        means = np.bincount(users, stars, ratings.shape[0]) / counts
        values = np.maximum(1.0 + stars - means[users], 1.0).astype(np.float32)
    values = np.where(stars >= min_stars, values, 0.0).astype(np.float32)
    # copies: eliminate_zeros works in place and must not touch the shared training matrix
    weighted = sp.csr_matrix(
        (values, matrix.indices.copy(), matrix.indptr.copy()), shape=matrix.shape
    )
    if ratings.signals.nnz:  # feedback besides stars adds its weight to the pair's confidence
        weighted = sp.csr_matrix(weighted + ratings.signals, dtype=np.float32)
    weighted.eliminate_zeros()
    return weighted


def one_user(state: UserState, data: Ratings) -> Ratings:
    """``state``'s ratings and feedback besides stars as a one-row ``Ratings`` over ``data``'s
    movies: the same weighting then applies to a folded-in person as to the trained ones."""
    width = data.shape[1]
    stars = sp.csr_matrix(
        (state.stars, state.rated, [0, len(state.rated)]), shape=(1, width), dtype=np.float32
    )
    signals = sp.csr_matrix(
        (state.signal_weights, state.signal_items, [0, len(state.signal_items)]),
        shape=(1, width),
        dtype=np.float32,
    )
    signals.sum_duplicates()
    return Ratings.from_matrix([0], data.movie_ids, stars).with_signal_matrix(signals)


@dataclass(frozen=True)
class AlsConfig:
    """Defaults tuned for top-N on MovieLens (benchmarks/topn.py)."""

    factors: int = 64
    regularization: float = 20.0
    alpha: float = 2.0
    iterations: int = 15
    weighting: Weighting = "centered"
    min_stars: float = 0.0
    threads: int = 0

    def validate(self) -> None:
        """Reject settings that cannot train."""
        if self.factors < 1 or self.iterations < 1 or self.alpha <= 0:
            raise ConfigError("factors and iterations must be >= 1, alpha > 0")


@dataclass(frozen=True)
class BprConfig:
    """BPR samples negatives; one thread keeps a seeded run reproducible."""

    factors: int = 64
    learning_rate: float = 0.01
    regularization: float = 0.01
    iterations: int = 100
    min_stars: float = 3.5
    threads: int = 1

    def validate(self) -> None:
        """Reject settings that cannot train."""
        if self.factors < 1 or self.iterations < 1 or self.learning_rate <= 0:
            raise ConfigError("factors and iterations must be >= 1, learning_rate > 0")


class _ImplicitModel(RecommenderBase[Any]):
    """Scores are dot products of the library's user and item factors."""

    def _train(self, model: Any, weights: sp.csr_matrix) -> None:
        with one_blas_thread():  # the library parallelizes itself
            model.fit(weights, show_progress=False)
        self.user_factors = np.asarray(model.user_factors, np.float32)
        self.item_factors = np.asarray(model.item_factors, np.float32)

    def _user_extra(self, state: UserState) -> FloatArray | None:
        return None if state.index is None else self.user_factors[state.index]

    def _score(self, state: UserState, items: IndexArray) -> FloatArray:
        if state.extra is None:
            return np.full(len(items), np.nan, np.float32)
        # One product over every movie, then a gather: cheaper than gathering the factor rows
        # first (a copy of the whole matrix when ranking everything).
        return np.asarray(self.item_factors @ state.extra, np.float32)[items]

    def _similar_scores(self, item: int) -> FloatArray:
        norms = self._item_norms()
        dots = self.item_factors @ self.item_factors[item]
        return np.asarray(dots / np.maximum(norms * norms[item], 1e-12), np.float32)

    def _item_norms(self) -> FloatArray:
        norms: FloatArray | None = getattr(self, "_norms", None)
        if norms is None or len(norms) != len(self.item_factors):
            norms = np.asarray(np.linalg.norm(self.item_factors, axis=1), np.float32)
            self._norms = norms
        return norms

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {"users": self.user_factors, "items": self.item_factors}

    def _restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.user_factors = arrays["users"]
        # implicit's Cython fold-in takes writable buffers only: the item factors (movies x
        # factors, small) are copied out of the read-only memory map.
        self.item_factors = np.array(arrays["items"])


class Als(_ImplicitModel):
    """Weighted ALS; a new user is folded in with the library's ``recalculate_user``."""

    name = "als"
    version = "1"
    capabilities = frozenset({"rank", "similar", "fold_in"})
    config_class = AlsConfig

    def _model(self, seed: int) -> AlternatingLeastSquares:
        c = self.config
        return AlternatingLeastSquares(
            factors=c.factors,
            regularization=c.regularization,
            alpha=c.alpha,
            iterations=c.iterations,
            num_threads=c.threads,
            random_state=seed,
        )

    def _fit(self, ratings: Ratings, options: FitOptions) -> None:
        weights = confidence(ratings, self.config.weighting, self.config.min_stars)
        with one_blas_thread():
            model = self._model(options.seed)
        self._train(model, weights)

    def _user_extra(self, state: UserState) -> FloatArray | None:
        if state.index is not None:
            return np.asarray(self.user_factors[state.index], np.float32)
        if len(state.rated) == 0 and len(state.signal_items) == 0:
            return None
        row = confidence(one_user(state, self.data), self.config.weighting, self.config.min_stars)
        with one_blas_thread():
            vector = self._fold_in_model().recalculate_user(0, row)
        return np.asarray(vector, np.float32).ravel()

    def _fold_in_model(self) -> AlternatingLeastSquares:
        """The library's model around our item factors, built once: fold-in runs per request."""
        model: AlternatingLeastSquares | None = getattr(self, "_fold_model", None)
        if model is None or model.item_factors.shape != self.item_factors.shape:
            with one_blas_thread():
                model = self._model(0)
            # One user at a time: a thread pool only adds wake-ups and spinning threads.
            model.num_threads = 1
            model.item_factors = np.ascontiguousarray(self.item_factors)
            model.user_factors = np.zeros((1, self.item_factors.shape[1]), np.float32)
            self._fold_model = model
        return model


class Bpr(_ImplicitModel):
    """Bayesian personalized ranking over the movies a user liked (``min_stars``)."""

    name = "bpr"
    version = "1"
    capabilities = frozenset({"rank", "similar"})
    config_class = BprConfig

    def _fit(self, ratings: Ratings, options: FitOptions) -> None:
        c = self.config
        with one_blas_thread():
            model = BayesianPersonalizedRanking(
                factors=c.factors,
                learning_rate=c.learning_rate,
                regularization=c.regularization,
                iterations=c.iterations,
                num_threads=c.threads,
                random_state=options.seed,
            )
        self._train(model, confidence(ratings, "binary", c.min_stars))
