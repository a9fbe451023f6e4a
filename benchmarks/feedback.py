"""What feedback besides stars buys: top-N quality when part of what people watched is known only
as ``view`` feedback (never rated), served by fold-in as the server serves it.

    python -m benchmarks.feedback [DATA] [--seeds 3] [--unrated 0.5]

Each person's newest 20% of ratings is the test set (relevant: 4 stars or more). Of the rest, a
random ``--unrated`` share per person loses its stars, as on a site where most watching is never
rated. Three ways to know the rest, each served by fold-in and scored by NDCG@10 over movies the
person has not watched:

- ``stars only``: the rated share; what the server knew before feedback (the reference);
- ``stars + views``: the rated share, and the unrated share as ``view`` feedback weighing
  ``--view-weight`` (the server's default, 1);
- ``all stars``: every training rating with its stars (the ceiling: nothing lost).

The watched-but-unrated movies are left out of every list in all three (the server excludes
watched movies), so only the signal differs. Repeated over ``--seeds`` draws of the unrated
share; the spread is the lowest and highest run.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from benchmarks.common import DEFAULT_DATA, machine, table
from plugins.base import Recommender
from plugins.data import MovieInfo, Ratings
from plugins.evaluation.metrics import user_top_n
from plugins.evaluation.splits import RatingTable
from plugins.registry import discover
from server.datasets.table import load_table

ALGORITHMS = ("als", "ease")
TEST_SHARE = 0.2
K = 10
RELEVANT_STARS = 4.0


@dataclass(frozen=True)
class Split:
    """Training rows, each person's watched-but-unrated rows, and the test rows."""

    rated: npt.NDArray[np.bool_]
    unrated: npt.NDArray[np.bool_]
    test: npt.NDArray[np.bool_]


def newest_share_as_test(table: RatingTable) -> npt.NDArray[np.bool_]:
    """Each person's newest ``TEST_SHARE`` of ratings (at least one when they have five)."""
    order = np.lexsort((table.timestamps, table.users))
    users = table.users[order]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    counts = np.diff(np.r_[starts, len(users)])
    test = np.zeros(len(table), bool)
    for start, count in zip(starts, counts, strict=True):
        held = int(count * TEST_SHARE) if count >= 5 else 0
        test[order[start + count - held : start + count]] = True
    return test


def split(table: RatingTable, test: npt.NDArray[np.bool_], unrated: float, seed: int) -> Split:
    """Of the training rows, a random ``unrated`` share loses its stars."""
    draw = np.random.default_rng(seed).random(len(table)) < unrated
    return Split(~test & ~draw, ~test & draw, test)


def fit(name: str, ratings: Ratings) -> Recommender:
    model = discover({name}).create(name)
    model.fit(ratings)
    return model


def score(
    model: Recommender,
    table: RatingTable,
    parts: Split,
    known: npt.NDArray[np.bool_],
    views: npt.NDArray[np.bool_],
    view_weight: float,
) -> float:
    """Mean NDCG@10 of the lists folded in from each test person's ``known`` ratings and
    ``views`` (as feedback), watched movies left out."""
    ndcgs = []
    for user in np.unique(table.users[parts.test]):
        mine = table.users == user
        relevant = set(table.movies[mine & parts.test & (table.stars >= RELEVANT_STARS)].tolist())
        if not relevant:
            continue
        rated = mine & known
        viewed = table.movies[mine & views]
        state = model.fold_in(
            table.movies[rated],
            table.stars[rated],
            viewed,
            np.full(len(viewed), view_weight, np.float32),
        )
        watched = table.movies[mine & parts.unrated]  # the server never suggests them again
        ranked = model.recommend(state, K, exclude=watched).movies.tolist()
        ndcgs.append(user_top_n(ranked, relevant, K).ndcg)
    return float(np.mean(ndcgs))


def run_seed(
    name: str, table: RatingTable, test: npt.NDArray[np.bool_], args: argparse.Namespace, seed: int
) -> dict[str, float]:
    """NDCG@10 of the three ways of knowing the training rows, for one draw."""
    parts = split(table, test, args.unrated, seed)
    catalogue = np.unique(table.movies)
    nothing = np.zeros(len(table), bool)

    every_movie = {int(movie): MovieInfo() for movie in catalogue}  # the same catalogue each way

    def ratings(rows: npt.NDArray[np.bool_]) -> Ratings:
        return Ratings(
            table.users[rows],
            table.movies[rows],
            table.stars[rows],
            table.timestamps[rows],
            every_movie,
        )

    stars_only = ratings(parts.rated)
    with_views = stars_only.with_signals(
        table.users[parts.unrated],
        table.movies[parts.unrated],
        np.full(int(parts.unrated.sum()), args.view_weight, np.float32),
    )
    every_star = parts.rated | parts.unrated
    return {
        "stars only": score(
            fit(name, stars_only), table, parts, parts.rated, nothing, args.view_weight
        ),
        "stars + views": score(
            fit(name, with_views), table, parts, parts.rated, parts.unrated, args.view_weight
        ),
        "all stars": score(
            fit(name, ratings(every_star)), table, parts, every_star, nothing, args.view_weight
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--unrated", type=float, default=0.5)
    parser.add_argument("--view-weight", type=float, default=1.0)
    args = parser.parse_args()
    table_ = load_table(args.data)
    test = newest_share_as_test(table_)
    print(
        f"{args.data}: {len(table_):,} ratings; {args.unrated:.0%} of each person's training "
        f"ratings known only as views (weight {args.view_weight:g}); {args.seeds} seeds; "
        f"{machine()}"
    )
    rows = []
    for name in ALGORITHMS:
        started = time.perf_counter()
        runs = [run_seed(name, table_, test, args, seed) for seed in range(args.seeds)]
        means = {way: float(np.mean([r[way] for r in runs])) for way in runs[0]}
        gains = [r["stars + views"] / r["stars only"] for r in runs]
        rows.append(
            [
                name,
                means["stars only"],
                means["stars + views"],
                means["all stars"],
                f"{np.mean(gains):.2f}x ({min(gains):.2f}-{max(gains):.2f})",
                f"{time.perf_counter() - started:.0f} s",
            ]
        )
    headers = ["algorithm", "stars only", "stars + views", "all stars", "views / stars only"]
    print(table([*headers, "time"], rows))


if __name__ == "__main__":
    main()
