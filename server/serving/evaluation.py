"""The served policy on a holdout: each test person gets the list the server would give them
(``served_list`` from their training ratings, the content blend when cold, popularity when the
ranker has nothing to go on), scored by segment. The worker's holdout, the quality gate, the
champion and ``movierec evaluate --served`` all read these figures.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from plugins.algorithms.popularity import Popularity
from plugins.base import FitOptions, Recommender
from plugins.evaluation.metrics import UserTopN, summarize_top_n, user_top_n
from plugins.evaluation.runner import AlgorithmSpec, EvaluationProtocol, rows_by_user
from plugins.evaluation.splits import Fold, RatingTable
from plugins.registry import Registry
from server.serving.policy import SEGMENTS, RatedMovies, Served, segment_of, served_list

# The list of everyone with no ratings when the ranker is personal: the live popularity list.
FALLBACK = "popularity"
CONTENT = "content"
# Figures of a segment with fewer test people than this are noise: the champion ignores them.
MIN_SEGMENT_USERS = 20


def served_metrics(
    model: Recommender,
    fold: Fold,
    catalogue: np.ndarray,
    registry: Registry,
    cold_start_ratings: int,
    k: int = 10,
    relevant_threshold: float = 4.0,
) -> dict[str, dict[str, float]]:
    """Top-N metrics at ``k`` of what ``model`` (fitted on ``fold.train``) serves each test
    person, by segment and for everyone (``"all"``), each with the same figures of the popularity
    fallback on the same people (``popularity_ndcg@k``)."""
    train = fold.train.to_ratings(catalogue)
    fallback = Served(Popularity().fit(train), 0)
    content = None
    if CONTENT in registry.names() and model.name != CONTENT:
        content = Served(registry.create(CONTENT).fit(train, FitOptions(seed=0)), 0)
    ranker = Served(model, 0)
    history = _ratings_by_user(fold.train.users, fold.train.movies, fold.train.stars)
    scored: dict[str, list[tuple[UserTopN, UserTopN]]] = {}
    recommended: set[int] = set()
    test = fold.test
    for user, rows in rows_by_user(test.users):
        relevant = set(test.movies[rows][test.stars[rows] >= relevant_threshold].tolist())
        if not relevant:
            continue
        rated = history.get(user, RatedMovies(np.empty(0, np.int64), np.empty(0, np.float32)))
        popular = served_list(fallback, None, user, rated, k, cold_start_ratings)
        assert popular is not None  # popularity is not personal: it always answers
        entry = served_list(ranker, content, user, rated, k, cold_start_ratings)
        if entry is None:
            entry = popular
        movies = entry.movies.tolist()
        recommended.update(movies)
        pair = (user_top_n(movies, relevant, k), user_top_n(popular.movies.tolist(), relevant, k))
        segment = segment_of(len(rated), cold_start_ratings)
        scored.setdefault(segment, []).append(pair)
        scored.setdefault("all", []).append(pair)
    return {
        segment: _summary(scored[segment], k, len(catalogue))
        for segment in (*SEGMENTS, "all")
        if segment in scored
    }


def _summary(
    pairs: list[tuple[UserTopN, UserTopN]], k: int, catalogue_size: int
) -> dict[str, float]:
    served = summarize_top_n([first for first, _ in pairs], set(), catalogue_size)
    popular = summarize_top_n([second for _, second in pairs], set(), catalogue_size)
    return {
        "users": served.users,
        f"ndcg@{k}": served.ndcg,
        f"precision@{k}": served.precision,
        f"recall@{k}": served.recall,
        f"hit_rate@{k}": served.hit_rate,
        f"popularity_ndcg@{k}": popular.ndcg,
    }


def lift(figures: dict[str, Any], k: int = 10) -> float | None:
    """Served NDCG over popularity's on the same people (None when either is missing or zero)."""
    served, popular = figures.get(f"ndcg@{k}"), figures.get(f"popularity_ndcg@{k}")
    if served is None or not popular:
        return None
    return float(served) / float(popular)


def _ratings_by_user(
    users: np.ndarray, movies: np.ndarray, stars: np.ndarray
) -> dict[int, RatedMovies]:
    return {
        user: RatedMovies(movies[rows].astype(np.int64), stars[rows].astype(np.float32))
        for user, rows in rows_by_user(users)
    }


def run_served(
    table: RatingTable,
    specs: list[AlgorithmSpec],
    folds: list[Fold],
    registry: Registry,
    cold_start_ratings: int,
    protocol: EvaluationProtocol,
    on_fold: Callable[[], None] | None = None,
) -> dict[str, dict[str, dict[str, float]]]:
    """``served_metrics`` of every ranking configuration on every fold, averaged over folds
    (weighted by people): ``{label: {segment: figures}}``."""
    catalogue = table.catalogue()
    per_fold: dict[str, list[dict[str, dict[str, float]]]] = {}
    for fold in folds:
        train = fold.train.to_ratings(catalogue)
        for spec in specs:
            model = registry.create(spec.name, spec.params)
            if "rank" in model.capabilities:
                model.fit(train, FitOptions(seed=protocol.seed))
                figures = served_metrics(
                    model,
                    fold,
                    catalogue,
                    registry,
                    cold_start_ratings,
                    protocol.k,
                    protocol.relevant_threshold,
                )
                per_fold.setdefault(spec.label(), []).append(figures)
            if on_fold is not None:
                on_fold()
    return {label: _mean_over_folds(rows) for label, rows in per_fold.items()}


def _mean_over_folds(rows: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    means: dict[str, dict[str, float]] = {}
    for segment in (*SEGMENTS, "all"):
        present = [row[segment] for row in rows if segment in row]
        people = sum(figures["users"] for figures in present)
        if not people:
            continue
        means[segment] = {
            name: (
                people
                if name == "users"
                else sum(figures[name] * figures["users"] for figures in present) / people
            )
            for name in present[0]
        }
    return means


def served_leaderboard(results: dict[str, dict[str, dict[str, float]]], k: int) -> str:
    """One line per configuration: served NDCG@k by segment, with popularity's on the same
    people in brackets, best overall first."""
    metric, popular = f"ndcg@{k}", f"popularity_ndcg@{k}"
    columns = (*SEGMENTS, "all")
    lines = [f"{'algorithm':<28}" + "".join(f"{name:>24}" for name in columns)]
    ranked = sorted(results.items(), key=lambda item: -item[1].get("all", {}).get(metric, 0.0))
    for label, segments in ranked:
        cells = []
        for segment in columns:
            figures = segments.get(segment)
            cell = (
                "-"
                if figures is None
                else (f"{figures[metric]:.4f} ({figures[popular]:.4f}, {int(figures['users'])})")
            )
            cells.append(f"{cell:>24}")
        lines.append(f"{label:<28}" + "".join(cells))
    lines.append(f"served NDCG@{k} (popularity's on the same people, people measured)")
    return "\n".join(lines)
