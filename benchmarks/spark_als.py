"""spark-als against als: fit time, peak memory and ranking quality on synthetic ratings of 1M and
10M (the shapes of benchmarks/scale.py). Needs the ``spark`` extra and Java.

    python -m benchmarks.spark_als [--sizes 1000000,10000000] [--test-users 5000]

Each size's ratings (seed 1) are split with ``user_holdout`` (10 % of each person's ratings held
out); both algorithms fit the same training part with their defaults, each in a fresh interpreter
after a warm-up fit on tiny data. For spark-als the warm-up also starts Spark's JVM: "start s",
not part of "fit s". Memory counts the interpreter and every process it started (Spark's JVM,
which in local mode is the driver and the executor): "fit MB" is what the fit added to their
resident memory, "process MB" the sum of their peaks. Quality: NDCG@10 and hit rate@10 against
held-out ratings of 4 stars or more, over up to ``--test-users`` people (a seeded sample), every
movie they did not rate in training a candidate. ``MOVIEREC_SPARK_MASTER`` applies (default
``local[*]``).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import machine, table
from benchmarks.scale import SHAPES, save_synthetic
from plugins.base import Recommender
from plugins.data import Ratings
from plugins.evaluation.metrics import summarize_top_n, user_top_n
from plugins.evaluation.splits import RatingTable, user_holdout

ALGORITHMS = ("als", "spark-als")
COLUMNS = ("user", "movie", "stars")
Results = dict[tuple[str, int], dict[str, float]]

HEADERS = (
    "algorithm",
    "ratings",
    "users x movies",
    "start s",
    "fit s",
    "fit MB",
    "process MB",
    "ndcg@10",
    "hit@10",
)


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0  # a kernel thread or a process that just ended


def _family(root: int) -> list[int]:
    """``root`` and every process descended from it (Spark's JVM is a child of the driver)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    family, pending = [], [root]
    while pending:
        pid = pending.pop()
        family.append(pid)
        pending.extend(children.get(pid, []))
    return family


def _reset_peaks(pids: list[int]) -> None:
    """Reset each process's high-water mark of resident memory to its current size."""
    for pid in pids:
        # A process we may not reset keeps its peak, which then includes what came before.
        with contextlib.suppress(OSError):
            Path(f"/proc/{pid}/clear_refs").write_text("5")


def _ranking_quality(model: Recommender, test: RatingTable, people: int) -> dict[str, float]:
    """NDCG@10 and hit rate@10 over a seeded sample of the test people with a relevant movie."""
    relevant_rows = test.stars >= 4.0
    candidates = np.unique(test.users[relevant_rows])
    chosen = np.random.default_rng(0).choice(candidates, min(people, len(candidates)), False)
    order = np.argsort(test.users, kind="stable")
    starts = np.searchsorted(test.users[order], chosen)
    ends = np.searchsorted(test.users[order], chosen, side="right")
    per_user = []
    for user, start, end in zip(chosen.tolist(), starts, ends, strict=True):
        rows = order[start:end]
        relevant = set(test.movies[rows][test.stars[rows] >= 4.0].tolist())
        ranked = model.recommend(user, 10)
        per_user.append(user_top_n(ranked.movies.tolist(), relevant, 10))
    summary = summarize_top_n(per_user, set(), 1)
    return {"ndcg": summary.ndcg, "hit_rate": summary.hit_rate, "people": summary.users}


def child(algorithm: str, directory: Path, people: int) -> None:
    """Fit one algorithm on the saved training part and score it; print one JSON line."""
    from plugins.registry import discover
    from plugins.testing import structured_ratings

    train = Ratings(*(np.load(directory / f"train_{c}.npy") for c in COLUMNS))
    model_class = discover({algorithm}).get(algorithm)
    started = time.perf_counter()
    model_class().fit(structured_ratings(30, 40, 10)[0])  # compile, start Spark: not timed
    start_seconds = time.perf_counter() - started
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    family = _family(os.getpid())
    before = {pid: _status_kb(pid, "VmRSS") for pid in family}
    _reset_peaks(family)
    started = time.perf_counter()
    model = model_class().fit(train)
    seconds = time.perf_counter() - started
    peaks = {pid: _status_kb(pid, "VmHWM") for pid in family}
    test = _table(*(np.load(directory / f"test_{c}.npy") for c in COLUMNS))
    result = {
        "start_seconds": start_seconds,
        "seconds": seconds,
        "fit_mb": sum(peaks[pid] - before[pid] for pid in family) / 1024,
        "process_mb": sum(peaks.values()) / 1024,
        "processes": len(family),
        **_ranking_quality(model, test, people),
    }
    print(json.dumps(result))


def _table(users: np.ndarray, movies: np.ndarray, stars: np.ndarray) -> RatingTable:
    """Ratings as a table (no timestamps: the split is by person, not by time)."""
    return RatingTable(users, movies, stars, np.zeros(len(users), np.int64))


def measure(algorithm: str, directory: Path, people: int) -> dict[str, float]:
    """Run ``child`` in a fresh interpreter."""
    command = [sys.executable, "-m", "benchmarks.spark_als", "--child", algorithm, str(directory)]
    output = subprocess.run(  # noqa: S603 (our own interpreter and module)
        [*command, "--test-users", str(people)], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])  # type: ignore[no-any-return]


def prepare(size: int, directory: Path) -> None:
    """Synthetic ratings of ``size`` split into the saved training and test parts."""
    save_synthetic(size, directory)
    fold = next(user_holdout(_table(*(np.load(directory / f"{c}.npy") for c in COLUMNS)), 0.1, 0))
    for part, rows in (("train", fold.train), ("test", fold.test)):
        np.save(directory / f"{part}_user.npy", rows.users)
        np.save(directory / f"{part}_movie.npy", rows.movies)
        np.save(directory / f"{part}_stars.npy", rows.stars)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--test-users", type=int, default=5000)
    parser.add_argument("--child", nargs=2, metavar=("ALGORITHM", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), args.test_users)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    print(machine(), "| Spark master:", os.environ.get("MOVIEREC_SPARK_MASTER") or "local[*]")
    results: Results = {}
    for size in sizes:
        with tempfile.TemporaryDirectory() as directory:
            prepare(size, Path(directory))
            for algorithm in ALGORITHMS:
                results[algorithm, size] = measure(algorithm, Path(directory), args.test_users)
                print(f"  {algorithm} @ {size:,}: {results[algorithm, size]}", flush=True)
    print(table(HEADERS, [_row(results, a, s) for s in sizes for a in ALGORITHMS]))
    for size in sizes:
        print(_ratios(results["spark-als", size], results["als", size], size))


def _row(
    results: dict[tuple[str, int], dict[str, float]], algorithm: str, size: int
) -> list[object]:
    r = results[algorithm, size]
    users, movies = SHAPES.get(size, ("?", "?"))
    return [
        algorithm,
        f"{size:,}",
        f"{users}x{movies}",
        r["start_seconds"],
        r["seconds"],
        r["fit_mb"],
        r["process_mb"],
        r["ndcg"],
        r["hit_rate"],
    ]


def _ratios(spark: dict[str, float], als: dict[str, float], size: int) -> str:
    return (
        f"spark-als / als at {size:,}: fit time {spark['seconds'] / als['seconds']:.1f}x, "
        f"fit MB {spark['fit_mb'] / als['fit_mb']:.1f}x, "
        f"process MB {spark['process_mb'] / als['process_mb']:.1f}x, "
        f"ndcg@10 {spark['ndcg'] / als['ndcg']:.3f}x, "
        f"hit@10 {spark['hit_rate'] / als['hit_rate']:.3f}x"
    )


if __name__ == "__main__":
    main()
