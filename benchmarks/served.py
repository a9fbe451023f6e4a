"""What people are served, measured: the served holdout of every ranker the workers train by
default, by segment (new, cold, warm), and the ``auto`` policy the champions make of them.

The holdout is the workers' (``timeline``: each person's newest ratings, and the newest people as
newcomers, half new, half cold). Each test person gets the list the server would serve them;
popularity's list on the same people is the reference. ``auto`` serves each segment by the
ranker that beats popularity by the most (``server.services.champions``)::

    python -m benchmarks.served ../shared/datasets/ml-latest-small
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks.common import arguments, machine, table
from plugins.evaluation.runner import AlgorithmSpec, EvaluationProtocol
from plugins.evaluation.splits import timeline_split
from plugins.registry import discover
from server.config import Settings
from server.datasets import Problems
from server.datasets.table import load_table
from server.models import ModelStatus, ModelVersion
from server.services.champions import POPULARITY, choose
from server.serving.evaluation import run_served
from server.serving.policy import SEGMENTS, Policy

METRIC = "ndcg@10"


def main() -> None:
    parser = arguments(__doc__ or "")
    parser.add_argument("--fractions", default="0.1,0.2", help="Holdout fractions to try.")
    args = parser.parse_args()
    settings = Settings.load()
    registry = discover()
    rankers = [
        name
        for name in settings.retrain_intervals
        if name in registry.names() and "rank" in registry.get(name).capabilities
    ]
    data = load_table(args.data, Problems())
    print(f"{args.data.name}: {len(data):,} ratings; {machine()}")
    print(f"rankers trained by default: {', '.join(rankers)}")
    for fraction in (float(part) for part in args.fractions.split(",")):
        started = time.perf_counter()
        policy = Policy.from_settings(settings)
        fold = next(timeline_split(data, fraction, policy.cold_start_ratings))
        results = run_served(
            data,
            [AlgorithmSpec(name) for name in rankers],
            [fold],
            registry,
            policy,
            EvaluationProtocol(k=10),
        )
        print(f"\nholdout fraction {fraction} ({time.perf_counter() - started:.0f} s)")
        print(_table(results))


def _table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    columns = (*SEGMENTS, "all")
    rows: list[list[Any]] = []
    for label, segments in sorted(results.items()):
        rows.append([label, *(_cell(segments.get(segment)) for segment in columns)])
    auto, chosen = _auto(results)
    rows.append(["auto", *(_cell(auto.get(segment)) for segment in columns)])
    people = {
        segment: int(results[POPULARITY][segment]["users"])
        for segment in SEGMENTS
        if segment in results.get(POPULARITY, {})
    }
    rows.append(["people", *(people.get(segment, "-") for segment in SEGMENTS), "-"])
    lines = table(["served NDCG@10", *columns], rows)
    picks = ", ".join(f"{segment}: {name}" for segment, name in chosen.items())
    return f"{lines}\nauto's champions: {picks}"


def _auto(
    results: dict[str, dict[str, dict[str, float]]],
) -> tuple[dict[str, dict[str, float]], dict[str, str]]:
    """The figures of serving each segment by its champion, chosen as the server chooses."""
    versions = {
        label: ModelVersion(
            algorithm=label, number=1, status=ModelStatus.ACTIVE, metrics={"served": figures}
        )
        for label, figures in results.items()
    }
    choice = choose(versions)
    chosen: dict[str, str] = {segment: str(choice[segment]["algorithm"]) for segment in SEGMENTS}
    auto: dict[str, dict[str, float]] = {
        segment: results[name][segment]
        for segment, name in chosen.items()
        if segment in results.get(name, {})
    }
    people = sum(figures["users"] for figures in auto.values())
    if people:
        auto["all"] = {
            METRIC: sum(f[METRIC] * f["users"] for f in auto.values()) / people,
            "users": people,
        }
    return auto, chosen


def _cell(figures: dict[str, float] | None) -> str:
    return "-" if figures is None else f"{figures[METRIC]:.4f}"


if __name__ == "__main__":
    main()
