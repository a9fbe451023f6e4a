"""``ease``: Embarrassingly Shallow Autoencoder (Steck 2019), a closed-form item-item model for
top-N: B = I - P·diag(1/diag(P)) with P = (XᵀX + λI)⁻¹, then zero diagonal.

Memory and time grow with the square and the cube of the number of movies it models, so it keeps
the ``max_items`` most-rated ones (4·max_items² bytes per dense matrix; 10,000 movies ≈ 400 MB
each, and the inverse takes O(max_items³)). Other movies get no score.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numba
import numpy as np
import scipy.linalg
import scipy.sparse as sp

from plugins.base import FitOptions, IndexArray, RecommenderBase, UserState
from plugins.config import ConfigError
from plugins.data import FloatArray, Ratings


@dataclass(frozen=True)
class EaseConfig:
    """``reg`` is λ; ``min_stars`` turns ratings into the binary matrix X."""

    reg: float = 250.0
    max_items: int = 6000
    # Only liked movies (3.5 stars or more) count as history: NDCG@10 0.299 -> 0.308 on
    # ml-latest-small, 0.289 -> 0.300 on the Kaggle ratings, 0.180 -> 0.198 on synthetic data.
    min_stars: float = 3.5

    def validate(self) -> None:
        """Reject settings that cannot work."""
        if self.reg <= 0 or self.max_items < 1:
            raise ConfigError("reg must be > 0 and max_items >= 1")


class Ease(RecommenderBase[EaseConfig]):
    """Scores are the user's binary history times the learned item-item weights."""

    name = "ease"
    version = "1"
    capabilities = frozenset({"rank", "similar", "fold_in"})
    config_class = EaseConfig

    def _fit(self, ratings: Ratings, options: FitOptions) -> None:
        liked = ratings.matrix.copy()
        liked.data = (liked.data >= self.config.min_stars).astype(np.float32)
        if ratings.signals.nnz:  # feedback besides stars: its weight beside a liked rating's 1
            liked = sp.csr_matrix(liked + ratings.signals, dtype=np.float32)
        liked.eliminate_zeros()
        counts = np.diff(liked.tocsc().indptr)
        rated = np.flatnonzero(counts)
        keep = rated[np.argsort(-counts[rated], kind="stable")[: self.config.max_items]]
        self.items = np.sort(keep).astype(np.int64)
        x = liked[:, self.items]
        gram = (x.T @ x).toarray().astype(np.float64)
        gram[np.diag_indices_from(gram)] += self.config.reg
        inverse = scipy.linalg.inv(gram, overwrite_a=True, check_finite=False)
        weights = inverse / -np.diag(inverse)
        np.fill_diagonal(weights, 0.0)
        # Row-major: a person's scores add up rows (the inverse comes back column-major).
        self.weights = np.ascontiguousarray(weights, dtype=np.float32)
        self._derive()

    def _derive(self) -> None:
        # Each movie's row in the weights; len(items) for a movie not modelled, which a
        # person's scores hold as a NaN past the modelled ones (one gather scores a catalogue).
        self.slot = np.full(self.data.shape[1], len(self.items), np.int64)
        self.slot[self.items] = np.arange(len(self.items))

    def _user_extra(self, state: UserState) -> FloatArray:
        liked = state.rated[state.stars >= self.config.min_stars]
        items = np.concatenate([liked, state.signal_items])
        values = np.concatenate([np.ones(len(liked), np.float32), state.signal_weights])
        history = self.slot[items]
        known = history < len(self.items)
        # The person's row of X (1 per liked rating, plus feedback weights) times the weights.
        scores = _weighted_rows(np.asarray(self.weights), history[known], values[known])
        return np.append(scores, np.float32(np.nan))

    def _score(self, state: UserState, items: IndexArray) -> FloatArray:
        return state.extra[self.slot[items]]  # type: ignore[no-any-return]

    def _score_catalogue(self, state: UserState) -> FloatArray:
        return state.extra[self.slot]  # type: ignore[no-any-return]

    def _similar_scores(self, item: int) -> FloatArray:
        scores = np.full(self.data.shape[1], np.nan, np.float32)
        if self.slot[item] < len(self.items):
            scores[self.items] = self.weights[self.slot[item]]
        return scores

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {"items": self.items, "weights": self.weights}

    def _restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.items = arrays["items"]
        self.weights = arrays["weights"]
        self._derive()


@numba.njit(cache=True)
def _weighted_rows(weights, rows, values):  # type: ignore[no-untyped-def]
    """``values @ weights[rows]`` without copying the rows out first: half the time of numpy's
    at a few hundred rows of thousands, and every person's list is made of it."""
    out = np.zeros(weights.shape[1], np.float32)
    for i in range(len(rows)):
        row, value = weights[rows[i]], values[i]
        for j in range(len(out)):
            out[j] += value * row[j]
    return out
