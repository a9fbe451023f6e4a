"""Rating-prediction and top-N metrics, each a small pure function of numpy arrays."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.floating]


@dataclass(frozen=True)
class RatingErrors:
    """Errors of predicted against true stars."""

    rmse: float
    mae: float
    mse: float


def rating_errors(true: npt.ArrayLike, predicted: npt.ArrayLike) -> RatingErrors:
    """RMSE, MAE and MSE; NaN for an empty test set."""
    diff = np.asarray(predicted, np.float64) - np.asarray(true, np.float64)
    if len(diff) == 0:
        return RatingErrors(float("nan"), float("nan"), float("nan"))
    mse = float(np.mean(diff**2))
    return RatingErrors(float(np.sqrt(mse)), float(np.mean(np.abs(diff))), mse)


@dataclass(frozen=True)
class UserTopN:
    """One user's top-N quality at K."""

    precision: float
    recall: float
    ndcg: float
    hit: float
    average_precision: float


def user_top_n(recommended: Sequence[int], relevant: set[int], k: int) -> UserTopN:
    """Binary-relevance metrics of one ranked list at ``k`` against a non-empty relevant set.
    NDCG uses a log2 discount and an ideal DCG over min(k, |relevant|) hits; AP@K divides by
    min(k, |relevant|)."""
    hits = np.array([movie in relevant for movie in list(recommended)[:k]], dtype=bool)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal_hits = min(k, len(relevant))
    n_hits = int(hits.sum())
    precision_at = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return UserTopN(
        precision=n_hits / k,
        recall=n_hits / len(relevant),
        ndcg=float(discounts[: len(hits)][hits].sum() / discounts[:ideal_hits].sum()),
        hit=float(n_hits > 0),
        average_precision=float(precision_at[hits].sum() / ideal_hits),
    )


@dataclass(frozen=True)
class TopNSummary:
    """Means over the evaluated users, plus catalogue coverage."""

    precision: float
    recall: float
    ndcg: float
    hit_rate: float
    map: float
    coverage: float
    users: int


def summarize_top_n(
    per_user: Sequence[UserTopN], recommended_movies: set[int], catalogue_size: int
) -> TopNSummary:
    """Average the per-user metrics; coverage = distinct recommended movies / catalogue size."""
    if not per_user:
        nan = float("nan")
        return TopNSummary(nan, nan, nan, nan, nan, nan, 0)

    def mean(values: list[float]) -> float:
        return float(np.mean(values))

    return TopNSummary(
        precision=mean([u.precision for u in per_user]),
        recall=mean([u.recall for u in per_user]),
        ndcg=mean([u.ndcg for u in per_user]),
        hit_rate=mean([u.hit for u in per_user]),
        map=mean([u.average_precision for u in per_user]),
        coverage=len(recommended_movies) / catalogue_size if catalogue_size else 0.0,
        users=len(per_user),
    )
