"""movierec against Surprise on the same folds: RMSE, MAE and fit time of each pair, and the ratios.

    python -m benchmarks.vs_surprise [DATA] [--folds 5] [--seed 0] [--pairs svd,knn-item]

Both libraries get the identical train/test ratings of every fold (movierec's k-fold split) and
are scored by the same metric code. Each of our numba-compiled algorithms is fitted once on tiny
data first, so compilation (cached on disk after the first run anyway) is not timed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from surprise import SVD, BaselineOnly, Dataset, KNNBaseline, Reader, SVDpp

from benchmarks.common import arguments, machine, table, warm_up
from plugins.evaluation.metrics import rating_errors
from plugins.evaluation.runner import AlgorithmSpec, EvaluationProtocol, run
from plugins.evaluation.splits import Fold, RatingTable, kfold
from plugins.registry import discover
from server.datasets.table import load_table

PAIRS = {
    "baseline": lambda: BaselineOnly(verbose=False),
    "knn-item": lambda: KNNBaseline(
        sim_options={"name": "pearson_baseline", "user_based": False}, verbose=False
    ),
    "svd": lambda: SVD(random_state=0),
    "svdpp": lambda: SVDpp(random_state=0),
}
# Surprise's similarities count every rating: so do ours here (by default each person's newest
# 1,000, a cut that changes nothing on small data but the few heaviest raters).
LIKE_SURPRISE = {"knn-item": {"max_profile": 0}}
CHALLENGERS = ["gbm"]  # our candidates for the best RMSE, beyond the pairs


@dataclass
class Measured:
    """Mean RMSE, MAE and fit seconds over the folds."""

    rmse: float
    mae: float
    fit_seconds: float


def surprise_fold(make: Any, fold: Fold) -> tuple[float, float, float]:
    """Fit a Surprise algorithm on the fold's training ratings; (rmse, mae, fit seconds)."""
    train = pd.DataFrame(
        {"user": fold.train.users, "movie": fold.train.movies, "stars": fold.train.stars}
    )
    trainset = Dataset.load_from_df(train, Reader(rating_scale=(0.5, 5.0))).build_full_trainset()
    algorithm = make()
    started = time.perf_counter()
    algorithm.fit(trainset)
    fit_seconds = time.perf_counter() - started
    test = zip(
        fold.test.users.tolist(), fold.test.movies.tolist(), fold.test.stars.tolist(), strict=True
    )
    predicted = np.array([p.est for p in algorithm.test(list(test))])
    errors = rating_errors(fold.test.stars, predicted)
    return errors.rmse, errors.mae, fit_seconds


def surprise_all(folds: list[Fold], names: list[str]) -> dict[str, Measured]:
    """Every Surprise counterpart, averaged over the folds."""
    measured = {}
    for name in names:
        runs = np.array([surprise_fold(PAIRS[name], fold) for fold in folds])
        measured[name] = Measured(*runs.mean(axis=0))
        print(f"  surprise {name}: {measured[name]}", flush=True)
    return measured


def ours_all(
    table_: RatingTable, folds: list[Fold], seed: int, names: list[str]
) -> dict[str, Measured]:
    """Every movierec algorithm of the comparison, averaged over the folds."""
    registry = discover()  # every plugin: gbm's components come from it too
    warm_up([registry.get(name) for name in names if name in PAIRS])
    specs = [AlgorithmSpec(name, LIKE_SURPRISE.get(name, {})) for name in names]
    results = run(table_, specs, folds, registry, EvaluationProtocol(seed=seed, top_n=False))
    return {
        row.algorithm.partition("(")[0]: Measured(
            row.rmse or np.nan, row.mae or np.nan, row.fit_seconds
        )
        for row in results
        if row.fold == "mean"
    }


def main() -> None:
    parser = arguments(__doc__.splitlines()[0])
    parser.add_argument("--pairs", default=",".join(PAIRS), help="Which pairs to compare.")
    args = parser.parse_args()
    pairs = args.pairs.split(",")
    challengers = CHALLENGERS if pairs == list(PAIRS) else []
    ratings = load_table(args.data)
    folds = list(kfold(ratings, args.folds, args.seed))
    print(f"{args.data.name}: {len(ratings):,} ratings, {args.folds} folds; {machine()}")
    ours = ours_all(ratings, folds, args.seed, pairs + challengers)
    theirs = surprise_all(folds, pairs)
    rows = []
    for name in pairs:
        a, b = ours[name], theirs[name]
        rows.append(
            [
                name,
                a.rmse,
                b.rmse,
                a.rmse - b.rmse,
                a.mae,
                b.mae,
                a.fit_seconds,
                b.fit_seconds,
                f"{b.fit_seconds / a.fit_seconds:.1f}x",
            ]
        )
    headers = [
        "pair",
        "rmse ours",
        "rmse surprise",
        "diff",
        "mae ours",
        "mae surprise",
        "fit s ours",
        "fit s surprise",
        "fit speed-up",
    ]
    print(table(headers, rows))
    for name in challengers:
        print(
            f"{name}: rmse {ours[name].rmse:.4f}, mae {ours[name].mae:.4f}, "
            f"fit {ours[name].fit_seconds:.2f} s"
        )
    best_ours = min(ours.items(), key=lambda item: item[1].rmse)
    best_theirs = min(theirs.items(), key=lambda item: item[1].rmse)
    print(
        f"best: ours {best_ours[0]} {best_ours[1].rmse:.4f} vs Surprise {best_theirs[0]} "
        f"{best_theirs[1].rmse:.4f}: {best_theirs[1].rmse - best_ours[1].rmse:+.4f} better"
    )


if __name__ == "__main__":
    main()
