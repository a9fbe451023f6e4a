"""The served policy on a holdout: each test person gets the list the server would give them
(``served_list`` from their training ratings, the content blend when cold, popularity when the
ranker has nothing to go on), scored by segment. The worker's holdout, the quality gate, the
champion and ``movierec evaluate --served`` all read these figures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from plugins.algorithms.popularity import Popularity as PopularityModel
from plugins.base import FitOptions, Recommender
from plugins.data import Ratings
from plugins.evaluation.beyond_accuracy import (
    Popularity,
    calibration,
    genre_mix,
    head_share,
    novelty,
    personalization,
    short_head,
)
from plugins.evaluation.metrics import UserTopN, summarize_top_n, user_top_n
from plugins.evaluation.runner import AlgorithmSpec, EvaluationProtocol, rows_by_user
from plugins.evaluation.splits import Fold, RatingTable
from plugins.registry import Registry
from server.serving.policy import (
    CONTENT,
    NO_RATINGS,
    SEGMENTS,
    Policy,
    RatedMovies,
    Served,
    segment_of,
    served_list,
)
from server.serving.rerank import MovieTraits

# Figures of a segment with fewer test people than this are noise: the champion ignores them.
MIN_SEGMENT_USERS = 20


@dataclass(frozen=True)
class FoldServing:
    """What serves beside the ranker on one fold, fitted once on its training part: the
    popularity fallback (also the reference), the content model of the cold-start blend, the
    traits re-ranking uses, and what the beyond-accuracy figures are measured against."""

    fold: Fold
    catalogue: np.ndarray
    fallback: Served
    content: Served | None
    traits: MovieTraits
    history: dict[int, RatedMovies]
    popularity: Popularity
    genres: dict[int, tuple[str, ...]]

    @classmethod
    def fit(
        cls, fold: Fold, catalogue: np.ndarray, registry: Registry, train: Ratings | None = None
    ) -> FoldServing:
        """Fit the fallback and (when installed) the content model on ``fold.train`` (``train``
        when the caller made its ``Ratings`` already); the history of its test people only."""
        train = fold.train.to_ratings(catalogue) if train is None else train
        content = None
        if CONTENT in registry.names():
            content = Served(registry.create(CONTENT).fit(train, FitOptions(seed=0)), 0)
        known = fold.train.take(np.isin(fold.train.users, np.unique(fold.test.users)))
        history = {
            user: RatedMovies(known.movies[rows], known.stars[rows].astype(np.float32))
            for user, rows in rows_by_user(known.users)
        }
        genres = {movie: info.genres for movie, info in fold.train.movie_info.items()}
        counts = np.diff(train.csc.indptr)
        return cls(
            fold,
            catalogue,
            Served(PopularityModel().fit(train), 0),
            content,
            MovieTraits.build(train.movie_ids, counts, genres),
            history,
            Popularity.of(fold.train.users, fold.train.movies),
            genres,
        )


@dataclass(frozen=True)
class _Served:
    """One test person's served list, scored."""

    movies: list[int]
    rated_mix: dict[str, float]
    served: UserTopN
    popular: UserTopN
    own: bool  # served by the ranker itself, not the fallback


def served_metrics(
    model: Recommender,
    serving: FoldServing,
    policy: Policy,
    k: int = 10,
    relevant_threshold: float = 4.0,
) -> dict[str, dict[str, float]]:
    """Top-N metrics at ``k`` of what ``model`` (fitted on the fold's training part) serves each
    test person under ``policy``, by segment and for everyone (``"all"``), each with the same
    figures of the popularity fallback on the same people (``popularity_ndcg@k``) and the
    served lists' novelty, short-head share, personalization and miscalibration."""
    ranker = Served(model, 0)
    scored: dict[str, list[_Served]] = {}
    test = serving.fold.test
    for user, rows in rows_by_user(test.users):
        relevant = set(test.movies[rows][test.stars[rows] >= relevant_threshold].tolist())
        if not relevant:
            continue
        rated = serving.history.get(user, NO_RATINGS)
        popular = served_list(serving.fallback, None, serving.traits, user, rated, k, policy)
        assert popular is not None  # popularity is not personal: it always answers
        entry = served_list(ranker, serving.content, serving.traits, user, rated, k, policy)
        movies = (entry or popular).movies.tolist()
        person = _Served(
            movies,
            genre_mix(rated.movies.tolist(), serving.genres),
            user_top_n(movies, relevant, k),
            user_top_n(popular.movies.tolist(), relevant, k),
            entry is not None,
        )
        segment = segment_of(len(rated), policy.cold_start_ratings)
        scored.setdefault(segment, []).append(person)
        scored.setdefault("all", []).append(person)
    return {
        segment: _summary(scored[segment], k, serving)
        for segment in (*SEGMENTS, "all")
        if segment in scored
    }


def _summary(people: list[_Served], k: int, serving: FoldServing) -> dict[str, float]:
    served = summarize_top_n([person.served for person in people], set(), len(serving.catalogue))
    popular = summarize_top_n([person.popular for person in people], set(), 1)
    lists = [person.movies for person in people]
    figures = {
        "users": served.users,
        # The share of these people the ranker served itself (the rest got the fallback).
        "own_share": sum(person.own for person in people) / len(people),
        f"ndcg@{k}": served.ndcg,
        # Half the width of its 95 % interval (normal approximation over the people scored).
        f"ndcg@{k}_ci95": _half_interval([person.served.ndcg for person in people]),
        f"precision@{k}": served.precision,
        f"recall@{k}": served.recall,
        f"hit_rate@{k}": served.hit_rate,
        f"popularity_ndcg@{k}": popular.ndcg,
        "novelty": novelty(lists, serving.popularity),
        "head_share": head_share(lists, short_head(serving.popularity)),
    }
    if len(lists) > 1:
        figures["personalization"] = personalization(lists)
    mixed = {index: person.rated_mix for index, person in enumerate(people) if person.rated_mix}
    if mixed:
        figures["calibration"] = calibration(
            {index: people[index].movies for index in mixed}, mixed, serving.genres
        )
    return figures


def _half_interval(values: list[float]) -> float:
    """1.96 standard errors of the mean of ``values`` (0 for fewer than two)."""
    if len(values) < 2:
        return 0.0
    return float(1.96 * np.std(values, ddof=1) / np.sqrt(len(values)))


def lift(figures: dict[str, Any], k: int = 10) -> float | None:
    """Served NDCG over popularity's on the same people (None when either is missing or zero)."""
    served, popular = figures.get(f"ndcg@{k}"), figures.get(f"popularity_ndcg@{k}")
    if served is None or not popular:
        return None
    return float(served) / float(popular)


def run_served(
    table: RatingTable,
    specs: list[AlgorithmSpec],
    folds: list[Fold],
    registry: Registry,
    policy: Policy,
    protocol: EvaluationProtocol,
    on_fold: Callable[[], None] | None = None,
) -> dict[str, dict[str, dict[str, float]]]:
    """``served_metrics`` of every ranking configuration on every fold, averaged over folds
    (weighted by people): ``{label: {segment: figures}}``."""
    catalogue = table.catalogue()
    per_fold: dict[str, list[dict[str, dict[str, float]]]] = {}
    for fold in folds:
        train = fold.train.to_ratings(catalogue)
        serving = FoldServing.fit(fold, catalogue, registry, train)
        for spec in specs:
            model = registry.create(spec.name, spec.params)
            if "rank" in model.capabilities:
                model.fit(train, FitOptions(seed=protocol.seed))
                figures = served_metrics(
                    model, serving, policy, protocol.k, protocol.relevant_threshold
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
        names = {name for figures in present for name in figures} - {"users"}
        if len(present) > 1:  # one fold's interval says nothing of the mean over folds
            names = {name for name in names if not name.endswith("_ci95")}
        means[segment] = {"users": people}
        for name in sorted(names):
            weighed = [(f[name], f["users"]) for f in present if f.get(name) is not None]
            if weighed:
                weight = sum(users for _, users in weighed)
                means[segment][name] = sum(value * users for value, users in weighed) / weight
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
