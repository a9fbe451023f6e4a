"""Retrain + precompute for all users, as the workers run it, at growing sizes: the synthetic
generator's data (same shapes as benchmarks/scale.py) imported into a fresh embedded database,
then ``movierec train ALGO`` in a fresh process per algorithm: fit, time-holdout evaluation,
artifact, registry row, similar lists and every user's cached list.

    python -m benchmarks.retrain [--sizes 100000,1000000] [--algorithms als,content]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import machine, table
from benchmarks.scale import SHAPES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--algorithms", default="als,content,popularity")
    args = parser.parse_args()
    rows: list[list[Any]] = []
    for size in [int(s) for s in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory(prefix="movierec-retrain-") as scratch:
            rows += measure_size(size, args.algorithms.split(","), Path(scratch))
    headers = ["ratings", "users", "algorithm", "total s", "fit s", "evaluate s", "precompute s"]
    headers.append("peak MB")
    print(table(headers, rows))
    print(machine())


def measure_size(size: int, algorithms: list[str], scratch: Path) -> list[list[Any]]:
    """Import ``size`` synthetic ratings, then train each algorithm in its own process."""
    users, movies = SHAPES.get(size, (max(size // 100, 10), max(size // 300, 10)))
    env = dict(os.environ, MOVIEREC_DATA_DIR=str(scratch / "data"), MOVIEREC_LOG_LEVEL="WARNING")
    env.pop("MOVIEREC_DATABASE_URL", None)
    movierec = [sys.executable, "-m", "workers"]
    dataset = scratch / "synthetic"
    spec = ["--users", str(users), "--movies", str(movies), "--ratings", str(size)]
    run([*movierec, "generate", *spec, str(dataset)], env)
    run([*movierec, "import", "--quiet", str(dataset)], env)
    rows = []
    for algorithm in algorithms:
        seconds, peak_mb = timed([*movierec, "train", algorithm], env)
        version = json.loads(
            subprocess.run(  # noqa: S603 (our own command line)
                [*movierec, "models", "list", algorithm, "--json"],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.splitlines()[0]
        )
        rows.append(
            [
                size,
                users,
                algorithm,
                seconds,
                version.get("fit_seconds"),
                version.get("evaluate_seconds"),
                version.get("precompute_seconds"),
                peak_mb,
            ]
        )
    return rows


def run(argv: list[str], env: dict[str, str]) -> None:
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)  # noqa: S603


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak resident MB of one command (the process included)."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)  # noqa: S603
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"{' '.join(argv)} failed with {process.returncode}")
    return time.perf_counter() - started, usage.ru_maxrss / 1024


if __name__ == "__main__":
    main()
