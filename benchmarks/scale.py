"""How fit time and memory grow with the data: svd, als, knn-item and ease on synthetic ratings of
100K, 1M and 10M ratings (catalogues shaped like MovieLens 100K, 1M and 10M).

    python -m benchmarks.scale [--sizes 100000,1000000,10000000]
                               [--algorithms svd,als,knn-item,ease]

Each fit runs in its own process on arrays saved to disk, so one measurement cannot inflate the
next. "fit MB" is the peak resident memory during the fit minus the resident memory just before it
(freed heap is returned to the system with malloc_trim and the kernel's high-water mark is
reset first, through /proc/self/clear_refs); "process MB" is the
whole process's peak, data included. The growth exponent b in time ~ ratings^b is printed between
consecutive sizes.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import machine, table
from server.datasets.synthetic import SyntheticSpec, generate

SHAPES = {100_000: (1_000, 1_700), 1_000_000: (6_000, 3_700), 10_000_000: (70_000, 10_700)}


def _memory_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def child(algorithm: str, directory: Path) -> None:
    """Fit one algorithm on the saved arrays; print a JSON line with time and memory."""
    from plugins.data import Ratings
    from plugins.registry import discover

    arrays = {name: np.load(directory / f"{name}.npy") for name in ("user", "movie", "stars")}
    ratings = Ratings(arrays["user"], arrays["movie"], arrays["stars"])
    model_class = discover({algorithm}).get(algorithm)
    from plugins.testing import structured_ratings

    model_class().fit(structured_ratings(30, 40, 10)[0])  # compile outside the measurement
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # hand freed heap back, so RSS counts live data only
    before = _memory_kb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    started = time.perf_counter()
    model_class().fit(ratings)
    seconds = time.perf_counter() - started
    peak = _memory_kb("VmHWM")
    print(
        json.dumps(
            {"seconds": seconds, "fit_mb": (peak - before) / 1024, "process_mb": peak / 1024}
        )
    )


def measure(algorithm: str, directory: Path) -> dict[str, float]:
    """Run ``child`` in a fresh interpreter."""
    output = subprocess.run(  # noqa: S603 (our own interpreter and module)
        [sys.executable, "-m", "benchmarks.scale", "--child", algorithm, str(directory)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])  # type: ignore[no-any-return]


def save_synthetic(size: int, directory: Path) -> None:
    users, movies = SHAPES.get(size, (max(size // 100, 10), max(size // 300, 10)))
    data = generate(SyntheticSpec(users=users, movies=movies, ratings=size, seed=1))
    np.save(directory / "user.npy", data.user.astype(np.int64))
    np.save(directory / "movie.npy", data.movie.astype(np.int64))
    np.save(directory / "stars.npy", data.half_stars.astype(np.float32) / 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000,10000000")
    parser.add_argument("--algorithms", default="svd,als,knn-item,ease")
    parser.add_argument("--child", nargs=2, metavar=("ALGORITHM", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    algorithms = args.algorithms.split(",")
    print(machine())
    results: dict[tuple[str, int], dict[str, float]] = {}
    for size in sizes:
        with tempfile.TemporaryDirectory() as directory:
            save_synthetic(size, Path(directory))
            for algorithm in algorithms:
                results[algorithm, size] = measure(algorithm, Path(directory))
                print(f"  {algorithm} @ {size:,}: {results[algorithm, size]}", flush=True)
    rows = []
    for algorithm in algorithms:
        for previous, size in zip([None, *sizes], sizes, strict=False):
            r = results[algorithm, size]
            growth = (
                "" if previous is None else f"{_exponent(results, algorithm, previous, size):.2f}"
            )
            users, movies = SHAPES.get(size, ("?", "?"))
            rows.append(
                [
                    algorithm,
                    f"{size:,}",
                    f"{users}x{movies}",
                    r["seconds"],
                    growth,
                    r["fit_mb"],
                    r["process_mb"],
                ]
            )
    print(
        table(
            [
                "algorithm",
                "ratings",
                "users x movies",
                "fit s",
                "time exponent",
                "fit MB",
                "process MB",
            ],
            rows,
        )
    )


def _exponent(
    results: dict[tuple[str, int], dict[str, float]], algorithm: str, a: int, b: int
) -> float:
    ratio = results[algorithm, b]["seconds"] / results[algorithm, a]["seconds"]
    return math.log(ratio) / math.log(b / a)


if __name__ == "__main__":
    main()
