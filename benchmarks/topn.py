"""Top-N quality of every ranking plugin (the protocol of ``plugins.evaluation``), and of the
``implicit`` library's ALS used directly with its defaults, on the same folds.

    python -m benchmarks.topn [DATA] [--folds 5] [--seed 0]

Relevant = test ratings >= 4 stars; candidates = every movie the user has not rated in training.
The reference is wrapped only so that the same runner scores it: the library's own
``AlternatingLeastSquares()`` fitted on the users x movies matrix, once with the stars as values
(what the tutorials feed it) and once binary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from threadpoolctl import threadpool_limits

from benchmarks.common import arguments, machine, table, warm_up
from plugins.base import FitOptions, IndexArray, RecommenderBase, UserState
from plugins.data import FloatArray, Ratings
from plugins.evaluation.runner import AlgorithmSpec, EvaluationProtocol, run
from plugins.evaluation.splits import kfold
from plugins.registry import Registry, discover
from server.datasets.table import load_table


@dataclass(frozen=True)
class ReferenceConfig:
    values: Literal["stars", "binary"] = "stars"


class ImplicitDefaults(RecommenderBase[ReferenceConfig]):
    """``implicit.cpu.als.AlternatingLeastSquares()`` with every default."""

    name = "implicit-als-defaults"
    capabilities = frozenset({"rank"})
    config_class = ReferenceConfig

    def _fit(self, ratings: Ratings, options: FitOptions) -> None:
        matrix = ratings.matrix.astype(np.float32)
        if self.config.values == "binary":
            matrix = sp.csr_matrix(
                (np.ones_like(matrix.data), matrix.indices, matrix.indptr), shape=matrix.shape
            )
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(random_state=options.seed)
            model.fit(matrix, show_progress=False)
        self.users, self.items = model.user_factors, model.item_factors

    def _user_extra(self, state: UserState) -> Any:
        return None if state.index is None else self.users[state.index]

    def _score(self, state: UserState, items: IndexArray) -> FloatArray:
        if state.extra is None:
            return np.full(len(items), np.nan, np.float32)
        return np.asarray(self.items[items] @ state.extra, np.float32)


def main() -> None:
    args = arguments(__doc__.splitlines()[0]).parse_args()
    ratings = load_table(args.data)
    folds = list(kfold(ratings, args.folds, args.seed))
    print(f"{args.data.name}: {len(ratings):,} ratings, {args.folds} folds; {machine()}")
    installed = discover()
    rankers = [n for n in installed.names() if "rank" in installed.get(n).capabilities]
    warm_up([installed.get(n) for n in rankers if n != "hybrid"])
    registry = Registry({**installed.classes, ImplicitDefaults.name: ImplicitDefaults}, [])
    specs = [AlgorithmSpec(n) for n in rankers]
    specs += [AlgorithmSpec(ImplicitDefaults.name, {"values": v}) for v in ("stars", "binary")]
    results = [
        r
        for r in run(ratings, specs, folds, registry, EvaluationProtocol(seed=args.seed))
        if r.fold == "mean"
    ]
    results.sort(key=lambda r: -(r.ndcg or 0.0))
    print(
        table(
            [
                "algorithm",
                "ndcg@10",
                "precision@10",
                "recall@10",
                "hit_rate@10",
                "map@10",
                "coverage",
                "fit s",
            ],
            [
                [
                    AlgorithmSpec(r.algorithm, r.params).label(),
                    r.ndcg,
                    r.precision,
                    r.recall,
                    r.hit_rate,
                    r.map,
                    r.coverage,
                    r.fit_seconds,
                ]
                for r in results
            ],
        )
    )
    ndcg = {AlgorithmSpec(r.algorithm, r.params).label(): r.ndcg or 0.0 for r in results}
    reference = max(v for k, v in ndcg.items() if k.startswith(ImplicitDefaults.name))
    best_name = max(rankers, key=lambda n: ndcg[n])
    print(f"als / implicit ALS defaults (best of stars, binary): {ndcg['als'] / reference:.2f}x")
    print(f"best ({best_name}) / popularity: {ndcg[best_name] / ndcg['popularity']:.2f}x")


if __name__ == "__main__":
    main()
