"""Fit each algorithm on each fold and measure it: rating errors (with a counted baseline fallback
for what a model cannot predict) and top-N quality at K."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from plugins.algorithms.baseline import Baseline
from plugins.base import FitOptions, Recommender
from plugins.config import ConfigError
from plugins.data import Ratings
from plugins.evaluation.beyond_accuracy import (
    Popularity,
    calibration,
    genre_mix,
    head_share,
    intra_list_diversity,
    novelty,
    personalization,
    popularity_percentile,
    short_head,
)
from plugins.evaluation.metrics import (
    UserTopN,
    rating_errors,
    summarize_top_n,
    user_top_n,
)
from plugins.evaluation.splits import Fold, RatingTable
from plugins.registry import Registry

# Beyond accuracy, of the same top-N lists (``plugins/evaluation/beyond_accuracy.py``).
LIST_METRICS = (
    "novelty",
    "popularity_percentile",
    "head_share",
    "diversity",
    "personalization",
    "calibration",
)
METRICS = (
    "rmse",
    "mae",
    "mse",
    "precision",
    "recall",
    "ndcg",
    "hit_rate",
    "map",
    "coverage",
    *LIST_METRICS,
)


@dataclass(frozen=True)
class AlgorithmSpec:
    """An algorithm name with parameter overrides."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def label(self) -> str:
        """``name`` or ``name(a=1,b=2)``."""
        if not self.params:
            return self.name
        return f"{self.name}({','.join(f'{k}={v}' for k, v in sorted(self.params.items()))})"


@dataclass
class FoldResult:
    """One algorithm on one fold (or the mean over folds: ``fold == "mean"``)."""

    algorithm: str
    params: dict[str, Any]
    fold: int | str
    rmse: float | None = None
    mae: float | None = None
    mse: float | None = None
    precision: float | None = None
    recall: float | None = None
    ndcg: float | None = None
    hit_rate: float | None = None
    map: float | None = None
    coverage: float | None = None
    novelty: float | None = None
    popularity_percentile: float | None = None
    head_share: float | None = None
    diversity: float | None = None
    personalization: float | None = None
    calibration: float | None = None
    fit_seconds: float = 0.0
    predict_seconds: float = 0.0
    fallbacks: int | None = None

    def to_json(self, k: int) -> dict[str, Any]:
        """The JSON shape of ``movierec evaluate --json`` (top-N metrics named ``name@k``)."""
        row = asdict(self)
        for name in ("precision", "recall", "ndcg", "hit_rate", "map"):
            row[f"{name}@{k}"] = row.pop(name)
        return row


@dataclass(frozen=True)
class FoldOutput:
    """What a fold produced, for ``--dump``: predictions and top-K lists."""

    predictions: list[tuple[int, int, float, float]]
    top_lists: list[tuple[int, int, int, float]]


@dataclass(frozen=True)
class EvaluationProtocol:
    """How models are scored: top-N lists of ``k``, a test rating of ``relevant_threshold``
    stars or more counts as relevant, the fitting seed, and whether top-N metrics are computed
    (rating-only comparisons skip them)."""

    k: int = 10
    relevant_threshold: float = 4.0
    seed: int = 0
    top_n: bool = True


def expand_grid(text: str) -> list[dict[str, str]]:
    """``"n_factors=50,100;reg=0.02"`` -> every combination as a parameter dict."""
    axes: dict[str, list[str]] = {}
    for part in filter(None, (piece.strip() for piece in text.split(";"))):
        name, equals, values = part.partition("=")
        if not equals or not name.strip():
            raise ConfigError(f"expected name=value,value,... got {part!r}")
        axes[name.strip()] = [value.strip() for value in values.split(",")]
    return [dict(zip(axes, combo, strict=True)) for combo in itertools.product(*axes.values())]


def evaluate_fold(
    model: Recommender,
    fold: Fold,
    catalogue: np.ndarray,
    protocol: EvaluationProtocol,
    fallback: Baseline | None,
    train: Ratings | None = None,
) -> tuple[FoldResult, FoldOutput]:
    """Fit ``model`` on the fold's training part (``train``: made here unless the caller made
    it for the fold's other uses; models never change it) and measure it on the test part.
    ``fallback`` answers the ratings ``model`` cannot predict (None: fitted here when
    ``model`` predicts ratings at all)."""
    train = fold.train.to_ratings(catalogue) if train is None else train
    started = time.perf_counter()
    model.fit(train, FitOptions(seed=protocol.seed))
    fit_seconds = time.perf_counter() - started
    result = FoldResult(model.name, {}, fold.number, fit_seconds=fit_seconds)
    started = time.perf_counter()
    predictions: list[tuple[int, int, float, float]] = []
    if "predict" in model.capabilities:
        fallback = Baseline().fit(train) if fallback is None else fallback
        predictions = _rating_predictions(model, fold.test, fallback, result)
    top_lists: list[tuple[int, int, int, float]] = []
    if "rank" in model.capabilities and protocol.top_n:
        top_lists = _top_n(model, fold, protocol, len(catalogue), result)
    result.predict_seconds = time.perf_counter() - started
    return result, FoldOutput(predictions, top_lists)


def _rating_predictions(
    model: Recommender, test: RatingTable, fallback: Baseline, result: FoldResult
) -> list[tuple[int, int, float, float]]:
    predicted = np.empty(len(test), np.float32)
    result.fallbacks = 0
    for user, rows in rows_by_user(test.users):
        predicted[rows] = model.predict(int(user), test.movies[rows])
        missing = rows[np.isnan(predicted[rows])]
        if len(missing):  # unknown user or movie: the baseline answers, and it is counted
            predicted[missing] = fallback.predict(int(user), test.movies[missing])
            result.fallbacks += len(missing)
    errors = rating_errors(test.stars, predicted)
    result.rmse, result.mae, result.mse = errors.rmse, errors.mae, errors.mse
    return list(
        zip(
            test.users.tolist(),
            test.movies.tolist(),
            test.stars.tolist(),
            predicted.tolist(),
            strict=True,
        )
    )


def _top_n(
    model: Recommender,
    fold: Fold,
    protocol: EvaluationProtocol,
    catalogue_size: int,
    result: FoldResult,
) -> list[tuple[int, int, int, float]]:
    test = fold.test
    per_user: list[UserTopN] = []
    recommended: set[int] = set()
    ranked_lists: dict[int, list[int]] = {}
    lists: list[tuple[int, int, int, float]] = []
    for user, rows in rows_by_user(test.users):
        relevant = set(test.movies[rows][test.stars[rows] >= protocol.relevant_threshold].tolist())
        if not relevant:
            continue
        ranked = model.recommend(int(user), protocol.k)
        movies = ranked.movies.tolist()
        per_user.append(user_top_n(movies, relevant, protocol.k))
        recommended.update(movies)
        ranked_lists[int(user)] = movies
        lists.extend(
            (int(user), rank, movie, float(score))
            for rank, (movie, score) in enumerate(ranked.pairs(), start=1)
        )
    summary = summarize_top_n(per_user, recommended, catalogue_size)
    result.precision, result.recall, result.ndcg = summary.precision, summary.recall, summary.ndcg
    result.hit_rate, result.map, result.coverage = summary.hit_rate, summary.map, summary.coverage
    _measure_lists(ranked_lists, fold.train, result)
    return lists


def _measure_lists(lists: dict[int, list[int]], train: RatingTable, result: FoldResult) -> None:
    """The beyond-accuracy metrics of the lists, against the training ratings."""
    popularity = Popularity.of(train.users, train.movies)
    genres = {movie: info.genres for movie, info in train.movie_info.items()}
    every_list = list(lists.values())
    result.novelty = novelty(every_list, popularity)
    result.popularity_percentile = popularity_percentile(every_list, popularity)
    result.head_share = head_share(every_list, short_head(popularity))
    result.personalization = personalization(every_list)
    if any(genres.values()):  # without genres, diversity and calibration mean nothing
        result.diversity = intra_list_diversity(every_list, genres)
        rated = {
            user: genre_mix(train.movies[rows].tolist(), genres)
            for user, rows in rows_by_user(train.users)
            if user in lists
        }
        result.calibration = calibration(lists, rated, genres)


def rows_by_user(users: np.ndarray) -> Iterable[tuple[int, np.ndarray]]:
    order = np.argsort(users, kind="stable")
    sorted_users = users[order]
    starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]])
    for start, end in zip(starts, np.r_[starts[1:], len(order)], strict=True):
        yield int(sorted_users[start]), order[start:end]


def mean_rows(results: list[FoldResult]) -> list[FoldResult]:
    """One ``fold="mean"`` row per algorithm and parameter set."""
    groups: dict[str, list[FoldResult]] = {}
    for row in results:
        groups.setdefault(f"{row.algorithm}{sorted(row.params.items())}", []).append(row)
    means = []
    for rows in groups.values():
        mean = FoldResult(rows[0].algorithm, rows[0].params, "mean")
        for name in (*METRICS, "fit_seconds", "predict_seconds"):
            values = [getattr(row, name) for row in rows if getattr(row, name) is not None]
            setattr(mean, name, float(np.mean(values)) if values else None)
        fallbacks = [row.fallbacks for row in rows if row.fallbacks is not None]
        mean.fallbacks = int(sum(fallbacks)) if fallbacks else None
        means.append(mean)
    return means


def run(
    table: RatingTable,
    specs: list[AlgorithmSpec],
    folds: list[Fold],
    registry: Registry,
    protocol: EvaluationProtocol,
    on_fold: Callable[[FoldResult, FoldOutput], None] | None = None,
) -> list[FoldResult]:
    """Every algorithm on every fold, then the means; ``on_fold`` sees each fold's outcome."""
    catalogue = table.catalogue()
    results: list[FoldResult] = []
    for fold in folds:
        train = fold.train.to_ratings(catalogue)
        fallback = Baseline().fit(train)
        for spec in specs:
            model = registry.create(spec.name, spec.params)
            result, output = evaluate_fold(model, fold, catalogue, protocol, fallback, train)
            result.params = dict(spec.params)
            results.append(result)
            if on_fold is not None:
                on_fold(result, output)
    return results + mean_rows(results)
