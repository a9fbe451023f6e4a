"""The re-ranking stage's trade-off: served NDCG@10, miscalibration, novelty, short-head share
and personalization of the lists against the calibration and popularity weights.

The folds are the top-N tables' (``plugins.evaluation``: k-fold, relevant = test ratings >= 4
stars); every test person gets the list the server would serve them (``served_list``) from
each ranker, fitted once per fold; only the weights change between rows, so each row's
difference from the first (no re-ranking) is the stage's own effect::

    python -m benchmarks.reranking ../shared/datasets/ml-latest-small --folds 5
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from benchmarks.common import arguments, machine, table
from plugins.base import FitOptions
from plugins.evaluation.splits import kfold
from plugins.registry import discover
from server.config import Settings
from server.datasets import Problems
from server.datasets.table import load_table
from server.serving.evaluation import FoldServing, served_metrics
from server.serving.policy import Policy
from server.serving.rerank import Reranking

FIGURES = ("ndcg@10", "calibration", "novelty", "head_share", "personalization")
GRID = (
    (0.0, 0.0),
    (0.1, 0.0),
    (0.2, 0.0),
    (0.3, 0.0),
    (0.5, 0.0),
    (0.0, 0.05),
    (0.0, 0.1),
    (0.0, 0.2),
    (0.2, 0.05),
    (0.2, 0.1),
    (0.3, 0.05),
)


def main() -> None:
    parser = arguments(__doc__ or "")
    parser.add_argument("--algorithms", default="ease,als", help="Rankers to re-rank.")
    parser.add_argument(
        "--weights", help="CALIBRATION,POPULARITY;... to try instead of the default grid."
    )
    args = parser.parse_args()
    grid: tuple[tuple[float, float], ...] = GRID
    if args.weights:
        pairs = (part.split(",") for part in args.weights.split(";"))
        grid = ((0.0, 0.0), *((float(c), float(p)) for c, p in pairs))
    settings = Settings.load()
    registry = discover()
    data = load_table(args.data, Problems())
    catalogue = data.catalogue()
    print(f"{args.data.name}: {len(data):,} ratings, {args.folds} folds; {machine()}")
    weights = (settings.rerank_calibration, settings.rerank_popularity)
    print(f"default weights (calibration, popularity): {weights}")
    rows: dict[tuple[str, float, float], list[dict[str, Any]]] = {}
    started = time.perf_counter()
    for fold in kfold(data, args.folds, args.seed):
        serving = FoldServing.fit(fold, catalogue, registry)
        for name in args.algorithms.split(","):
            model = registry.create(name).fit(fold.train.to_ratings(catalogue), FitOptions(seed=0))
            for calibration, popularity in grid:
                policy = Policy(settings.cold_start_ratings, Reranking(calibration, popularity))
                figures = served_metrics(model, serving, policy)["all"]
                rows.setdefault((name, calibration, popularity), []).append(figures)
    print(f"({time.perf_counter() - started:.0f} s)\n")
    print(_table(rows))


def _table(rows: dict[tuple[str, float, float], list[dict[str, Any]]]) -> str:
    lines: list[list[Any]] = []
    for (name, calibration, popularity), folds in rows.items():
        means = {f: float(np.mean([fold[f] for fold in folds])) for f in FIGURES}
        plain = {f: float(np.mean([fold[f] for fold in rows[(name, 0.0, 0.0)]])) for f in FIGURES}
        spread = float(np.std([fold["ndcg@10"] for fold in folds]))
        lines.append(
            [
                name,
                calibration,
                popularity,
                *(means[f] for f in FIGURES),
                f"{100 * (means['ndcg@10'] / plain['ndcg@10'] - 1):+.1f} %",
                f"{100 * (means['calibration'] / plain['calibration'] - 1):+.1f} %",
                spread,
            ]
        )
    headers = [
        "ranker",
        "calibration w",
        "popularity w",
        *FIGURES,
        "ndcg vs plain",
        "miscal vs plain",
        "ndcg sd (folds)",
    ]
    return table(headers, lines)


if __name__ == "__main__":
    main()
