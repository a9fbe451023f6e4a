"""The catalogue at MovieLens 25M's size, end to end on PostgreSQL, against a small catalogue in
the same run: generate, import, retrain + precompute each default algorithm (what the workers
train), Redis memory per person, and list reads under 16 connections.

    python -m benchmarks.at_scale [--sizes 100000,25000000] [--algorithms als,svd,...]
        [--seconds 15] [--rounds 3]

Each size gets a fresh database (``movierec_bench_scale`` on ``--server``, dropped after) and an
emptied Redis db (``--redis``). Everything runs as a user runs it: ``movierec import``, then a
forced retrain of each algorithm through the bulk lane, as the workers run it: ``--bulk-processes``
``movierec worker --lane bulk --concurrency 1`` processes (separate Celery nodes; the retrain
runs on one, its precompute shards on all), timed from the request until the lane is idle again
(nothing queued, nothing running), with each process's peak resident memory (the kernel's
``VmHWM``, reset before each algorithm). ``--bulk-processes 0`` runs ``movierec train ALGO`` in a
process of its own instead (precompute in that one process). Then the app under gunicorn as
``benchmarks.serving`` runs it, read by wrk with 16 connections as fast as they go: a bare
endpoint of the same app (the reference of the same run), a random person's recommendations
(the service key reads anyone's), and the popular lists (everyone, two genres, a recent
window). The first size is the reference too: each read's p99 at a bigger size is printed over
the reference's. ``--access-log PATH`` writes every read's time to ``PATH.<people>`` (gunicorn's
access log: the second, the process, the seconds taken, the status, the path) and prints when
each timed run began and ended, so that a slow run can be broken down.

Redis is measured with ``MEMORY USAGE`` of every key (SCAN), by kind of key, and divided by the
people of the catalogue. Freshness under load is ``benchmarks.freshness_under_load``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, cast

import numpy as np
import redis as redis_lib
from sqlalchemy import select

from benchmarks.common import drop_database, fresh_database, machine, table
from benchmarks.import_speed import SHAPES as IMPORT_SHAPES
from benchmarks.serving import API_KEY, run_wrk, start_web, stop, wait_up, write_lines
from server.config import Settings
from server.datasets.synthetic import SyntheticSpec, write_dataset
from server.db import Database
from server.models import ModelVersion
from server.tasks import KEEP_POPULAR, RETRAIN, TRAINING_QUEUE, TaskQueue

SHAPES = {100_000: (1_000, 1_700), **IMPORT_SHAPES}
NAME = "movierec_bench_scale"
CONNECTIONS = 16
READ_PEOPLE = 5_000  # people whose lists the recommendation reads draw from
POPULAR = (
    "/api/v1/movies/popular?n=10",
    "/api/v1/movies/popular?n=10&genre=Drama",
    "/api/v1/movies/popular?n=10&genre=Comedy",
    "/api/v1/movies/popular?n=10&window=30d",
)
TARGETS = (
    "import >= 75k ratings/s; train <= 300 s and <= 8 GB; Redis <= 1.5 KB a person; "
    "p99 <= 20 ms and <= 1.5x the smallest size's"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100000,25000000")
    parser.add_argument("--algorithms", default=",".join(Settings().retrain_intervals))
    parser.add_argument("--seconds", type=float, default=15.0, help="one wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="wrk runs per read kind")
    parser.add_argument("--web-workers", type=int, default=4, help="gunicorn processes")
    parser.add_argument("--server", default="host=127.0.0.1 port=5432 user=root")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/11", help="flushed")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--access-log",
        type=Path,
        help="write every read's time here (gunicorn's access log; the size is added to the name)",
    )
    parser.add_argument(
        "--bulk-processes", type=int, default=2, help="bulk lane processes (0: movierec train)"
    )
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    algorithms = args.algorithms.split(",")
    reads: dict[int, dict[str, dict[str, float]]] = {}
    for size in sizes:
        print(f"\n== {size:,} ratings, {SHAPES[size][0]:,} people, {SHAPES[size][1]:,} movies")
        reads[size] = one_size(size, algorithms, args)
    report_reads(reads)
    print(f"\ntargets: {TARGETS}")
    print(machine())


def one_size(size: int, algorithms: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """Generate, import, train, measure Redis, read; the read figures."""
    people, movies = SHAPES[size]
    with tempfile.TemporaryDirectory(prefix="movierec-scale-") as scratch_name:
        scratch = Path(scratch_name)
        redis_lib.Redis.from_url(args.redis).flushdb()
        env = dict(
            os.environ,
            MOVIEREC_DATABASE_URL=fresh_database(args.server, NAME),
            MOVIEREC_REDIS_URL=args.redis,
            MOVIEREC_BROKER_URL=args.redis,
            MOVIEREC_DATA_DIR=str(scratch / "data"),
            MOVIEREC_API_KEYS=API_KEY,
            MOVIEREC_LOG_LEVEL="WARNING",
            MOVIEREC_TRAIN_SCHEDULE=",".join(f"{name}=86400" for name in algorithms),
        )
        database = Database(env["MOVIEREC_DATABASE_URL"])
        try:
            started = time.perf_counter()
            write_dataset(SyntheticSpec(people, movies, size, seed=args.seed), scratch / "set")
            print(f"generated in {time.perf_counter() - started:.1f} s")
            seconds, _ = movierec(["import", "--quiet", str(scratch / "set")], env)
            print(f"import: {seconds:.1f} s, {size / seconds:,.0f} ratings/s (whole process)")
            report_training(algorithms, env, database, args.bulk_processes)
            report_redis(args.redis, people)
            return measure_reads(env, people, args)
        finally:
            database.dispose()
            drop_database(args.server, NAME)
            redis_lib.Redis.from_url(args.redis).flushdb()


def movierec(argv: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Run one CLI command to its end; its wall seconds and peak resident memory (MB), the
    kernel's figure for that process."""
    started = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
        [sys.executable, "-m", "workers", *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    output = process.stdout.read().decode() if process.stdout else ""
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"movierec {' '.join(argv)} failed:\n{output}")
    return seconds, usage.ru_maxrss // 1024


def report_training(
    algorithms: list[str], env: dict[str, str], database: Database, processes: int
) -> None:
    """A forced retrain + precompute of each algorithm, timed whole, with what its version row
    says: through ``processes`` bulk lane processes, or ``movierec train`` with none."""
    lane = BulkLane(env, processes) if processes else None
    rows = []
    try:
        for algorithm in algorithms:
            if lane is None:
                seconds, peak = movierec(["train", algorithm], env)
                peaks = [peak]
            else:
                seconds, peaks = lane.run(RETRAIN, [algorithm, True])
            figures = [algorithm, f"{seconds:.0f}", _peaks(peaks)]
            rows.append([*figures, *_version(database, algorithm)])
            print(f"  train {algorithm}: {seconds:.0f} s, {_peaks(peaks)} MB")
        if lane is not None:  # as the beat would: the standard popular lists, kept
            seconds, _ = lane.run(KEEP_POPULAR, [])
            print(f"  popular lists kept (everyone's, each genre's) in {seconds:.1f} s")
    finally:
        if lane is not None:
            lane.stop()
    where = f"{processes} bulk lane processes" if processes else "movierec train, one process"
    headers = ["algorithm", "total s", "peak MB", "fit s", "holdout s", "precompute s"]
    print(
        f"retrain + precompute ({where}; peak MB: the biggest process / all of them; "
        "precompute s summed over shards):"
    )
    print(table([*headers, "status", "people scored", "served NDCG@10 (95 % CI)"], rows))


def _peaks(peaks: list[int]) -> str:
    """The biggest process's peak and, with several processes, all of theirs summed."""
    return f"{max(peaks):,}" if len(peaks) == 1 else f"{max(peaks):,} / {sum(peaks):,}"


def _version(database: Database, algorithm: str) -> list[str]:
    """What the algorithm's newest version row says of its run."""
    with database.transaction() as session:
        version = session.scalars(
            select(ModelVersion)
            .where(ModelVersion.algorithm == algorithm)
            .order_by(ModelVersion.number.desc())
        ).first()
        assert version is not None
        metrics = cast(dict[str, Any], version.metrics)
        scored = metrics.get("holdout_people", {})
        return [
            f"{version.fit_seconds or 0:.1f}",
            f"{version.evaluate_seconds or 0:.1f}",
            f"{version.precompute_seconds or 0:.1f}",
            str(version.status),
            f"{scored['scored']}/{scored['of']}" if scored else "all",
            _served(metrics.get("served", {}).get("all", {})),
        ]


class BulkLane:
    """``processes`` bulk lane workers, each a Celery node of its own with one pool process."""

    def __init__(self, env: dict[str, str], processes: int) -> None:
        self.queue = TaskQueue(Settings.load(environ=env))
        self.broker = redis_lib.Redis.from_url(env["MOVIEREC_BROKER_URL"])
        argv = [sys.executable, "-m", "workers", "worker", "--lane", "bulk", "--concurrency", "1"]
        self.workers = [
            subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)  # noqa: S603
            for _ in range(processes)
        ]
        deadline = time.monotonic() + 120
        while len(self.queue.celery.control.ping(timeout=1)) < processes:
            if time.monotonic() > deadline:
                raise SystemExit(f"{processes} bulk workers did not start")

    def run(self, task: str, args: list[Any]) -> tuple[float, list[int]]:
        """One task (a forced retrain, say): seconds until the lane is idle again, and each
        process's peak MB meanwhile."""
        for pid in self._processes():
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM
        started = time.perf_counter()
        if not self.queue.send(task, args, TRAINING_QUEUE):
            raise SystemExit(f"the broker did not take {task}")
        while not self._idle():
            time.sleep(0.5)
        seconds = time.perf_counter() - started
        return seconds, sorted((_peak_mb(pid) for pid in self._processes()), reverse=True)

    def _idle(self) -> bool:
        """Nothing waits in the training queue and no node runs a task (asked twice, a second
        apart: a shard is queued the moment the retrain's version becomes active)."""
        for attempt in range(2):
            if self.broker.llen(TRAINING_QUEUE):
                return False
            inspect = self.queue.celery.control.inspect(timeout=5, limit=len(self.workers))
            active = inspect.active() or {}
            if any(active.values()) or len(active) < len(self.workers):
                return False
            if not attempt:
                time.sleep(1)
        return True

    def _processes(self) -> list[int]:
        """The workers' processes and their pool processes."""
        found = []
        pending = [worker.pid for worker in self.workers]
        while pending:
            pid = pending.pop()
            found.append(pid)
            for task in Path(f"/proc/{pid}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        return found

    def stop(self) -> None:
        for worker in self.workers:
            worker.terminate()
        for worker in self.workers:
            worker.wait(timeout=60)


def _peak_mb(pid: int) -> int:
    """A process's peak resident memory since its last reset (``VmHWM``), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    return 0


def _served(figures: dict[str, float]) -> str:
    if "ndcg@10" not in figures:
        return "-"
    return f"{figures['ndcg@10']:.4f} +- {figures.get('ndcg@10_ci95', float('nan')):.4f}"


def report_redis(url: str, people: int) -> None:
    """Every key's MEMORY USAGE, summed by kind (the key up to its third part), per person."""
    client = redis_lib.Redis.from_url(url)
    sizes: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    batch: list[bytes] = []

    def measure() -> None:
        pipeline = client.pipeline(transaction=False)
        for key in batch:
            pipeline.memory_usage(key, samples=0)
        for key, used in zip(batch, pipeline.execute(), strict=True):
            kind = ":".join(key.decode().split(":")[:2])
            sizes[kind] += int(used or 0)
            counts[kind] += 1
        batch.clear()

    for key in client.scan_iter(count=1000):
        batch.append(key)
        if len(batch) == 1000:
            measure()
    measure()
    total = sum(sizes.values())
    rows = [
        [kind, counts[kind], f"{sizes[kind] / 1e6:.1f}", f"{sizes[kind] / people:.0f}"]
        for kind in sorted(sizes, key=lambda kind: -sizes[kind])
    ]
    rows.append(["all", sum(counts.values()), f"{total / 1e6:.1f}", f"{total / people:.0f}"])
    print(f"Redis (MEMORY USAGE of every key), {people:,} people:")
    print(table(["key kind", "keys", "MB", "bytes a person"], rows))


def measure_reads(env: dict[str, str], people: int, args: argparse.Namespace) -> dict[str, Any]:
    """wrk against the served app: recommendations of random people, and popular lists."""
    log = args.access_log
    web = start_web(env, args.web_workers, log and log.with_name(f"{log.name}.{people}"))
    chosen = np.random.default_rng(args.seed).choice(people, min(people, READ_PEOPLE), False)
    kinds = {
        "bare": ["/bench/constant"],
        "recommendations": [f"/api/v1/users/{p + 1}/recommendations?n=10" for p in chosen],
        "popular": list(POPULAR),
    }
    figures: dict[str, Any] = {}
    try:
        wait_up()
        for kind, paths in kinds.items():  # each process's connections, catalogue and lists
            first = wrk(paths, args.seconds)
            print(
                f"  warm-up {kind}: p99 {first['p99_ms']:.1f} ms, max {first['max_ms']:.0f} ms, "
                f"{first['errors']:.0f} errors ({first['timeouts']:.0f} timeouts of 10 s, "
                f"{first['statuses']:.0f} statuses other than 2xx)"
            )
        for kind, paths in kinds.items():
            runs = []
            for _ in range(args.rounds):
                started = time.strftime("%H:%M:%S")
                runs.append(wrk(paths, args.seconds))
                if log:  # where each run's lines are in the access log
                    print(f"  {kind}: a run from {started} to {time.strftime('%H:%M:%S')}")
            figures[kind] = {
                "rate": float(np.median([run["rate"] for run in runs])),
                "p50_ms": float(np.median([run["p50_ms"] for run in runs])),
                "p99_ms": float(np.median([run["p99_ms"] for run in runs])),
                "p99_each": [run["p99_ms"] for run in runs],
                "errors": sum(run["errors"] for run in runs),
                "timeouts": sum(run["timeouts"] for run in runs),
                "statuses": sum(run["statuses"] for run in runs),
            }
    finally:
        stop((web,))
    return figures


def wrk(paths: list[str], seconds: float) -> dict[str, float]:
    listing = write_lines(paths)
    try:
        figures = run_wrk("wrk_paths.lua", seconds, {"BENCH_PATHS": listing}, CONNECTIONS)
    finally:
        os.unlink(listing)
    return figures


def report_reads(reads: dict[int, dict[str, Any]]) -> None:
    reference = min(reads)
    rows = []
    for size, kinds in reads.items():
        for kind, figures in kinds.items():
            ratio = figures["p99_ms"] / reads[reference][kind]["p99_ms"]
            each = " ".join(f"{p99:.1f}" for p99 in figures["p99_each"])
            rows.append(
                [
                    f"{size:,}",
                    kind,
                    f"{figures['rate']:.0f}",
                    f"{figures['p50_ms']:.1f}",
                    f"{figures['p99_ms']:.1f}",
                    each,
                    f"{ratio:.2f}",
                    f"{figures['errors']:.0f} ({figures['timeouts']:.0f} / "
                    f"{figures['statuses']:.0f})",
                ]
            )
    print(f"\nreads: wrk, {CONNECTIONS} connections as fast as they go; medians over the runs")
    headers = ["ratings", "read", "req/s", "p50 ms", "p99 ms", "p99 each run", "p99 / smallest"]
    headers.append("errors (timeouts / not 2xx)")
    print(table(headers, rows))


if __name__ == "__main__":
    main()
