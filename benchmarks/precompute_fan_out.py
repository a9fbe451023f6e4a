"""Precompute fans out over the bulk lane: the same retrain (``als``, forced) with one bulk worker
process and with two, on PostgreSQL and a Redis server, timed from the request to the moment
every person's list of the new version is in Redis.

    python -m benchmarks.precompute_fan_out [--ratings 5000000] [--shards 16] [--rounds 2]

A synthetic dataset is imported into a fresh database (``movierec_bench_fan_out``, dropped after)
with ``als`` as the default algorithm, so every person gets a list. Each run starts that many
``movierec worker --lane bulk --concurrency 1`` processes (separate Celery nodes, as separate
machines would be), waits until each answers, sends one forced retrain, and polls Redis: the
moment the new version becomes active (fit and holdout are over; shards are queued) and the
moment the last person's list carries it. "precompute wall" is the time between the two; each
node's count of shards is the nodes' own report (``celery inspect stats``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import redis as redis_lib
from sqlalchemy import select

from benchmarks.at_scale import SHAPES, movierec
from benchmarks.common import drop_database, fresh_database, machine, table
from server.cache import keys
from server.cache.lists import HEADER
from server.config import Settings
from server.datasets.synthetic import SyntheticSpec, write_dataset
from server.db import Database
from server.models import Rating, User
from server.tasks import PRECOMPUTE, RETRAIN, TRAINING_QUEUE, TaskQueue

NAME = "movierec_bench_fan_out"
ALGORITHM = "als"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ratings", type=int, default=5_000_000, choices=sorted(SHAPES))
    parser.add_argument("--shards", type=int, default=16, help="shards of people per retrain")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--server", default="host=127.0.0.1 port=5432 user=root")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/12", help="flushed")
    args = parser.parse_args()
    people, movies = SHAPES[args.ratings]
    print(f"{args.ratings:,} ratings, {people:,} people, {movies:,} movies; {args.shards} shards")
    redis_lib.Redis.from_url(args.redis).flushdb()
    with tempfile.TemporaryDirectory(prefix="movierec-fan-out-") as scratch_name:
        scratch = Path(scratch_name)
        env = dict(
            os.environ,
            MOVIEREC_DATABASE_URL=fresh_database(args.server, NAME),
            MOVIEREC_REDIS_URL=args.redis,
            MOVIEREC_BROKER_URL=args.redis,
            MOVIEREC_DATA_DIR=str(scratch / "data"),
            MOVIEREC_LOG_LEVEL="WARNING",
            MOVIEREC_DEFAULT_ALGORITHM=ALGORITHM,
            MOVIEREC_TRAIN_SCHEDULE=f"{ALGORITHM}=86400",
            MOVIEREC_PRECOMPUTE_SHARD_USERS=str(-(-people // args.shards)),
        )
        database = Database(env["MOVIEREC_DATABASE_URL"])
        try:
            write_dataset(SyntheticSpec(people, movies, args.ratings, seed=1), scratch / "set")
            movierec(["import", "--quiet", str(scratch / "set")], env)
            with database.transaction() as session:  # in the order the retrain shards them
                raters = select(Rating.user_id).distinct()
                query = select(User.external_id).where(User.id.in_(raters)).order_by(User.id)
                everyone = list(session.scalars(query))
            size = int(env["MOVIEREC_PRECOMPUTE_SHARD_USERS"])
            shards = [everyone[start : start + size] for start in range(0, len(everyone), size)]
            runs = [
                one_run(env, processes, shards) for _ in range(args.rounds) for processes in (1, 2)
            ]
        finally:
            database.dispose()
            drop_database(args.server, NAME)
            redis_lib.Redis.from_url(args.redis).flushdb()
    report(runs)
    print(machine())


def one_run(env: dict[str, str], processes: int, shards: list[list[str]]) -> dict[str, Any]:
    """One forced retrain with ``processes`` bulk worker processes listening."""
    queue = TaskQueue(Settings.load(environ=env))
    client = redis_lib.Redis.from_url(env["MOVIEREC_REDIS_URL"])
    before = int(client.get(keys.active(ALGORITHM)) or 0)
    workers = [start_worker(env) for _ in range(processes)]
    try:
        wait_for_nodes(queue, processes)
        started = time.perf_counter()
        if not queue.send(RETRAIN, [ALGORITHM, True], TRAINING_QUEUE):
            raise SystemExit("the broker did not take the retrain")
        active_at = wait(lambda: int(client.get(keys.active(ALGORITHM)) or 0) > before)
        version = int(client.get(keys.active(ALGORITHM)) or 0)
        done_at = wait(lambda: all_lists_of(client, shards, version))
        taken = shards_by_node(queue)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=60)
    figures = {
        "processes": processes,
        "total": done_at - started,
        "precompute": done_at - active_at,
        "shards": sorted(taken.values(), reverse=True),
    }
    print(
        f"  {processes} process(es): {figures['total']:.1f} s in all, precompute wall "
        f"{figures['precompute']:.1f} s, shards by node {figures['shards']}"
    )
    return figures


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "workers", "worker", "--lane", "bulk", "--concurrency", "1"]
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603


def wait_for_nodes(queue: TaskQueue, count: int) -> None:
    """Until ``count`` worker nodes answer a ping (each has started consuming)."""
    deadline = time.monotonic() + 120
    while len(queue.celery.control.ping(timeout=1)) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"{count} bulk workers did not start")


def wait(condition: Any, timeout: float = 3600) -> float:
    """Poll ``condition`` every 50 ms; the moment it held (``perf_counter``)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.05)
    return time.perf_counter()


def all_lists_of(client: redis_lib.Redis, shards: list[list[str]], version: int) -> bool:
    """Whether every person's list is of ``version``. A shard writes its people in order, so
    until each shard's last person has it, no more is asked (polling stays cheap)."""
    if not all(version_of(raw) == version for raw in client.mget(lasts(shards))):
        return False
    everyone = [person for shard in shards for person in shard]
    for start in range(0, len(everyone), 2000):
        wanted = [keys.recs(ALGORITHM, person) for person in everyone[start : start + 2000]]
        if any(version_of(raw) != version for raw in client.mget(wanted)):
            return False
    return True


def lasts(shards: list[list[str]]) -> list[str]:
    return [keys.recs(ALGORITHM, shard[-1]) for shard in shards]


def version_of(raw: Any) -> int | None:
    """The model version in a cached list's header (without unpacking the list)."""
    if not isinstance(raw, bytes) or len(raw) < HEADER.size:
        return None
    return int(HEADER.unpack_from(raw)[0])


def shards_by_node(queue: TaskQueue) -> dict[str, int]:
    stats = queue.celery.control.inspect(timeout=2).stats() or {}
    return {node: report.get("total", {}).get(PRECOMPUTE, 0) for node, report in stats.items()}


def report(runs: list[dict[str, Any]]) -> None:
    rows = []
    for processes in (1, 2):
        mine = [run for run in runs if run["processes"] == processes]
        rows.append(
            [
                processes,
                " ".join(f"{run['total']:.1f}" for run in mine),
                " ".join(f"{run['precompute']:.1f}" for run in mine),
                f"{np.median([run['precompute'] for run in mine]):.1f}",
            ]
        )
    print(table(["bulk processes", "total s", "precompute wall s", "median"], rows))
    one = [run["precompute"] for run in runs if run["processes"] == 1]
    two = [run["precompute"] for run in runs if run["processes"] == 2]
    speedups = [a / b for a, b in zip(one, two, strict=True)]
    print(f"precompute speed-up, two processes over one, per round: {speedups}")


if __name__ == "__main__":
    main()
