"""Onboarding that learns: NDCG@10 of a new person's served list after 3, 5, 10 and 20 answers,
when the movies they are asked about are chosen by ``server.serving.onboarding`` (ours), in
popularity order within their genres (the server before it), or at random.

People are split into folds; each fold's people are new: the models are fitted on everyone
else. Half of each new person's ratings (at random) are held out as their test set, the same for
every strategy; they can answer only for the other half, with their real stars. A simulated
person picks their three most rated genres, is asked movie after movie until they have given k
answers; their list is then served from those answers (the served policy: popularity, re-ranked,
while cold; the warm ranker from ``MOVIEREC_COLD_START_RATINGS`` answers on) and scored against
their held-out half::

    python -m benchmarks.onboarding ../shared/datasets/ml-latest-small --folds 5
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import numpy as np

from benchmarks.common import arguments, machine, table
from plugins.algorithms.popularity import Popularity
from plugins.base import FitOptions
from plugins.evaluation.metrics import user_top_n
from plugins.evaluation.runner import rows_by_user
from plugins.evaluation.splits import RatingTable
from plugins.registry import discover
from server.config import Settings
from server.datasets import Problems
from server.datasets.table import load_table
from server.serving.explain import Evidence
from server.serving.onboarding import POOL, Questionnaire
from server.serving.policy import Policy, RatedMovies, Served, served_list
from server.web.pages import ONBOARDING_MOVIES

ANSWERS = (3, 5, 10, 20)
STRATEGIES = ("ours", "popularity order", "random")
# Ours asks a page of questions at a time, each page following the answers so far.
PAGE = ONBOARDING_MOVIES
# A person is asked this many movies at most.
MAX_QUESTIONS = 3 * POOL


def main() -> None:
    parser = arguments(__doc__ or "")
    parser.add_argument("--warm", default="ease", help="The ranker of warm people.")
    args = parser.parse_args()
    data = load_table(args.data, Problems())
    policy = Policy.from_settings(Settings.load())
    registry = discover()
    people = np.unique(data.users)
    folds = np.array_split(np.random.default_rng(args.seed).permutation(people), args.folds)
    print(f"{args.data.name}: {len(data):,} ratings, {len(people)} people, {args.folds} folds")
    print(machine())
    started = time.perf_counter()
    scores: dict[tuple[str, int], list[float]] = {}
    asked: dict[tuple[str, int], list[float]] = {}
    for fold in folds:
        new = np.isin(data.users, fold)
        figures = _fold(data.take(~new), data.take(new), registry, policy, args)
        for key, (ndcg, questions_asked) in figures.items():
            scores.setdefault(key, []).append(ndcg)
            asked.setdefault(key, []).append(questions_asked)
    print(f"({time.perf_counter() - started:.0f} s)\n")
    rows: list[list[Any]] = []
    for strategy in STRATEGIES:
        row: list[Any] = [strategy]
        for k in ANSWERS:
            values = scores[(strategy, k)]
            row.append(f"{np.mean(values):.4f} ± {np.std(values):.4f}")
        row.append(" / ".join(f"{np.mean(asked[(strategy, k)]):.0f}" for k in ANSWERS))
        rows.append(row)
    for other in STRATEGIES[1:]:
        row = [f"ours - {other}, same people"]
        for k in ANSWERS:
            paired = np.subtract(scores[("ours", k)], scores[(other, k)])
            row.append(f"{np.mean(paired):+.4f} ± {np.std(paired):.4f}")
        rows.append([*row, ""])
    headers = ["questions chosen by", *(f"NDCG@10 after {k}" for k in ANSWERS), "questions asked"]
    print(table(headers, rows))
    print(
        "mean ± standard deviation over folds (a difference: per fold, on the same people); "
        "questions asked: mean per person, per column"
    )


def _fold(
    train: RatingTable, test: RatingTable, registry: Any, policy: Policy, args: Any
) -> dict[tuple[str, int], tuple[float, float]]:
    catalogue = np.union1d(train.catalogue(), test.catalogue())
    ratings = train.to_ratings(catalogue)
    genres = {movie: info.genres for movie, info in train.movie_info.items()}
    evidence = Evidence.build(ratings.movie_ids, ratings.csc, genres, {}, False)
    traits, counts = evidence.traits, evidence.counts
    popular = Served(Popularity().fit(ratings), 0)
    warm = Served(registry.create(args.warm).fit(ratings, FitOptions(seed=0)), 0)
    content = Served(registry.create("content").fit(ratings, FitOptions(seed=0)), 0)
    weighted = popular.model.recommend(popular.model.fold_in([], []), len(catalogue))
    rng = np.random.default_rng(args.seed)
    known = ratings.movie_ids[counts > 0]
    questionnaires: dict[tuple[str, ...], Questionnaire] = {}
    results: dict[tuple[str, int], list[tuple[float, int]]] = {}
    for person, rows in rows_by_user(test.users):
        held = rng.random(len(rows)) < 0.5
        relevant = set(test.movies[rows][held & (test.stars[rows] >= 4.0)].tolist())
        movies, stars = test.movies[rows][~held], test.stars[rows][~held]
        if not relevant or not len(movies):
            continue
        picked = _picked_genres(test.movies[rows].tolist(), genres)
        if picked not in questionnaires:
            questionnaires[picked] = Questionnaire(evidence, picked)
        stars_of = dict(zip(movies.tolist(), stars.tolist(), strict=True))
        orders = {
            "ours": _adaptive(questionnaires[picked], stars_of, max(ANSWERS)),
            "popularity order": [  # of their genres; of all when the data has none
                m
                for m in weighted.movies.tolist()
                if not picked or set(genres.get(m, ())) & set(picked)
            ][:MAX_QUESTIONS],
            "random": rng.permutation(known)[:MAX_QUESTIONS].tolist(),
        }
        for strategy, order in orders.items():
            answered = [(position, m) for position, m in enumerate(order) if m in stars_of]
            for k in ANSWERS:
                given = [m for _, m in answered[:k]]
                asked = answered[k - 1][0] + 1 if len(answered) >= k else len(order)
                rated = RatedMovies(
                    np.array(given, np.int64), np.array([stars_of[m] for m in given], np.float32)
                )
                ranker = warm if len(given) >= policy.cold_start_ratings else popular
                entry = served_list(ranker, content, traits, person, rated, 10, policy)
                if entry is None:
                    entry = served_list(popular, None, traits, person, rated, 10, policy)
                assert entry is not None
                ndcg = user_top_n(entry.movies.tolist(), relevant, 10).ndcg
                results.setdefault((strategy, k), []).append((ndcg, asked))
    return {
        key: (float(np.mean([v for v, _ in values])), float(np.mean([a for _, a in values])))
        for key, values in results.items()
    }


def _adaptive(questionnaire: Questionnaire, stars_of: dict[int, float], wanted: int) -> list[int]:
    """The questions a person is asked, a page of ``PAGE`` at a time as the onboarding page
    shows them, each page chosen after the answers to the ones before."""
    asked: list[int] = []
    answers: dict[int, float] = {}
    while len(answers) < wanted and len(asked) < MAX_QUESTIONS:
        page = questionnaire.round(answers, set(asked), PAGE)
        if not page:
            break
        asked += page
        answers |= {movie: stars_of[movie] for movie in page if movie in stars_of}
    return asked


def _picked_genres(movies: list[int], genres: dict[int, tuple[str, ...]]) -> tuple[str, ...]:
    """The three genres a person rated most: what they would pick on the first page."""
    counted = Counter(name for movie in movies for name in genres.get(movie, ()))
    return tuple(sorted(name for name, _ in counted.most_common(3)))


if __name__ == "__main__":
    main()
