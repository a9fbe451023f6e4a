"""Live stays live: freshness of a person's rating (PUT -> their cached list reflects it) while
bulk work and other people's ratings load the server, with the workers in two lanes (``movierec
worker``: the live lane takes people's events, the bulk lane retrains, precompute shards and
imports) and, as the reference of the same run, in one lane (one Celery worker on both queues,
two processes, niced as a whole: what ``movierec worker`` was before the lanes).

On PostgreSQL, a Redis server and RabbitMQ (a database, a Redis db number and a RabbitMQ vhost of
its own, made afresh for each topology and removed after): a synthetic dataset is imported, ``als``
trained once and made the default algorithm (every person's list precomputed), then the web
(``movierec serve --no-worker``), beat and the workers of one topology run while freshness is
sampled (people drawn at random among the dataset's users, the same people for both
topologies) in four conditions:

- idle;
- writes: other people's ratings arrive at ``--write-rate`` a second (wrk, paced);
- retrain: ``POST /api/v1/algorithms/als/retrain``, sampled while the retrain or its precompute
  shards are queued or running (again, up to ``--rounds`` retrains, until ``--samples``);
- import: a lone ``ratings.csv`` of ``--extra-ratings`` new ratings of existing people and
  movies is imported; sampled while the retrain beat's relay asks for and its precompute shards
  are queued or running (again with another file, up to ``--rounds``).

The target: freshness p95 <= 300 ms in every condition.

    python -m benchmarks.freshness_under_load [--ratings 1000000 --users 6000 --movies 3700]
        [--samples 40] [--write-rate 500] [--extra-ratings 200000] [--rounds 3]
        [--topologies lanes,one-lane] [--conditions idle,writes,retrain,import]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import redis as redis_lib
from sqlalchemy import select

from benchmarks.common import drop_database, fresh_database, machine, table
from benchmarks.serving import (
    API_KEY,
    CLIENTS,
    HERE,
    PORT,
    create_user,
    fresh_delay,
    get_json,
    run_wrk,
    stop,
    wait_until_processed,
    wait_up,
    write_lines,
)
from server.config import Settings
from server.datasets.synthetic import SyntheticSpec, generate, write_dataset
from server.db import Database
from server.models import ModelVersion
from server.tasks import (
    EVENTS_QUEUE,
    IMPORT_DATASET,
    PRECOMPUTE,
    RETRAIN,
    TRAINING_QUEUE,
    TaskQueue,
)

TARGET_P95_MS = 300.0
GIVE_UP_AFTER = 3  # timeouts in a row end a condition's sampling
NAME = "movierec_bench_fresh"  # the database and the RabbitMQ vhost
WRITER_USERS = 500
BULK_TASKS = {RETRAIN, PRECOMPUTE, IMPORT_DATASET}
CONDITIONS = ("idle", "writes", "retrain", "import")
TOPOLOGIES = ("lanes", "one-lane")
# wrk_writes.lua's requests, each connection pausing between them: about --write-rate in all.
PACED_WRITES_LUA = """
dofile(os.getenv("BENCH_WRITES_LUA"))
local mean_delay = tonumber(os.getenv("BENCH_DELAY_MS"))
function delay()
  return mean_delay * (0.5 + math.random())
end
"""


@dataclass
class Samples:
    """Freshness delays of one condition and topology (a timeout counts as its length)."""

    delays: list[float] = field(default_factory=list)
    timeouts: int = 0
    gave_up: bool = False  # GIVE_UP_AFTER timeouts in a row: the lane does not keep up
    notes: list[str] = field(default_factory=list)

    def add(self, delay: float | None, timeout: float) -> None:
        self.delays.append(timeout if delay is None else delay)
        self.timeouts += delay is None

    def ms(self, q: float) -> float:
        return float(np.percentile(self.delays, q)) * 1000 if self.delays else float("nan")


@dataclass
class Run:
    """What one topology's processes and measurements need."""

    args: argparse.Namespace
    env: dict[str, str]
    database: Database
    lanes: Lanes
    extra_file: Callable[[int], Path]

    def sample(self, people: Iterator[str], into: Samples) -> None:
        """One freshness sample (a connection of its own: the server closes idle ones)."""
        connection = self.connect()
        into.add(fresh_delay(connection, next(people), self.args.timeout), self.args.timeout)
        connection.close()
        last = into.delays[-GIVE_UP_AFTER:]
        if len(last) == GIVE_UP_AFTER and min(last) >= self.args.timeout:
            into.gave_up = True
            into.notes.append(f"sampling stopped after {GIVE_UP_AFTER} timeouts in a row")

    def more(self, samples: Samples) -> bool:
        """Whether ``samples`` wants another sample."""
        return len(samples.delays) < self.args.samples and not samples.gave_up

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)

    def settle(self) -> None:
        """Until every event is processed, no task waits on the events queue and no bulk work
        is pending: each condition starts from a quiet system."""
        wait_until_processed(self.database)
        deadline = time.monotonic() + 600
        while self.lanes.waiting(EVENTS_QUEUE) and time.monotonic() < deadline:
            time.sleep(0.25)
        self.lanes.wait_bulk(busy=False, seconds=600)


class Lanes:
    """What waits on the workers' queues, and whether bulk work (a retrain, precompute shards,
    an import task) is queued or running. A connection of its own each time: a pooled one can
    outlive its vhost."""

    def __init__(self, env: dict[str, str], workers: int) -> None:
        self.app = TaskQueue(Settings.load(environ=env)).celery
        self.workers = workers  # Celery workers that answer an inspection
        self.most_events_waiting = 0  # seen by bulk_pending since the last reset

    def waiting(self, queue: str) -> int:
        """Tasks waiting on ``queue`` (not those a worker holds)."""
        with self.app.connection_for_write() as connection:
            _, waiting, _ = connection.default_channel.queue_declare(queue, passive=True)
        return int(waiting)

    def bulk_pending(self) -> int:
        with self.app.connection_for_write() as connection:
            _, waiting, _ = connection.default_channel.queue_declare(TRAINING_QUEUE, passive=True)
            _, events, _ = connection.default_channel.queue_declare(EVENTS_QUEUE, passive=True)
            inspect = self.app.control.inspect(
                timeout=2.0, limit=self.workers, connection=connection
            )
            taken = [inspect.active() or {}, inspect.reserved() or {}]
        self.most_events_waiting = max(self.most_events_waiting, int(events))
        held = sum(t["name"] in BULK_TASKS for tasks in taken for ts in tasks.values() for t in ts)
        return int(waiting) + held

    def wait_bulk(self, busy: bool, seconds: float) -> bool:
        """Wait until bulk work is (``busy``) or is not pending; False after ``seconds``."""
        deadline = time.monotonic() + seconds
        while (self.bulk_pending() > 0) != busy:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.25)
        return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ratings", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=6_000)
    parser.add_argument("--movies", type=int, default=3_700)
    parser.add_argument("--extra-ratings", type=int, default=200_000)
    parser.add_argument("--samples", type=int, default=40, help="per condition and topology")
    parser.add_argument("--write-rate", type=float, default=500.0, help="ratings/s, writes")
    parser.add_argument("--rounds", type=int, default=3, help="most retrains / imports")
    parser.add_argument("--timeout", type=float, default=30.0, help="s, one freshness sample")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--topologies", default=",".join(TOPOLOGIES))
    parser.add_argument("--conditions", default=",".join(CONDITIONS))
    parser.add_argument("--server", default="host=127.0.0.1 port=5432 user=root")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/12", help="flushed")
    parser.add_argument("--broker", default=f"amqp://guest:guest@127.0.0.1:5672/{NAME}")
    parser.add_argument("--logs", type=Path, help="keep the processes' output here")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"load average before: {load_average()}")
    results: dict[tuple[str, str], Samples] = {}
    with tempfile.TemporaryDirectory(prefix="movierec-fresh-") as name:
        scratch = Path(name)
        spec = SyntheticSpec(args.users, args.movies, args.ratings, seed=args.seed)
        write_dataset(spec, scratch / "dataset")
        extras: dict[int, Path] = {}

        def extra(round_: int) -> Path:
            if round_ not in extras:
                extras[round_] = extra_ratings(args, scratch, round_)
            return extras[round_]

        for topology in args.topologies.split(","):
            for condition, samples in measure(topology, args, scratch, extra).items():
                results[condition, topology] = samples
    report(args, results)
    print(f"load average after: {load_average()}")
    print(machine())


def extra_ratings(args: argparse.Namespace, scratch: Path, round_: int) -> Path:
    """A lone ratings.csv of new ratings (pairs not in the dataset) of the dataset's people
    and movies, newer than all of its ratings."""
    spec = SyntheticSpec(args.users, args.movies, args.extra_ratings, seed=args.seed + 1 + round_)
    data = generate(spec)
    base = pd.read_csv(scratch / "dataset" / "ratings.csv", usecols=[0, 1, 3], engine="c")
    known = base["userId"].to_numpy() * (args.movies + 1) + base["movieId"].to_numpy()
    new = ~np.isin((data.user + 1) * (args.movies + 1) + data.movie + 1, known)
    stamps = data.timestamp - data.timestamp.min() + int(base["timestamp"].max()) + 1
    path = scratch / f"extra-{round_}" / "ratings.csv"
    path.parent.mkdir()
    rows = zip(
        data.user[new] + 1, data.movie[new] + 1, data.half_stars[new], stamps[new], strict=True
    )
    with path.open("w") as out:
        out.write("userId,movieId,rating,timestamp\n")
        out.writelines(f"{u},{m},{h / 2:.1f},{t}\n" for u, m, h, t in rows)
    return path


def measure(
    topology: str, args: argparse.Namespace, scratch: Path, extra: Callable[[int], Path]
) -> dict[str, Samples]:
    """Set up a fresh install, start the processes of ``topology``, sample every condition."""
    vhost = args.broker.rsplit("/", 1)[1]
    fresh_services(args, vhost)
    env = dict(
        os.environ,
        MOVIEREC_DATA_DIR=str(scratch / topology),
        MOVIEREC_DATABASE_URL=fresh_database(args.server, NAME),
        MOVIEREC_REDIS_URL=args.redis,
        MOVIEREC_BROKER_URL=args.broker,
        MOVIEREC_TRAIN_SCHEDULE="als=86400",
        # People are served als's lists, which the workers keep: under ``auto`` the champions
        # of this synthetic data can all be popularity, whose lists are no one's own.
        MOVIEREC_DEFAULT_ALGORITHM="als",
        MOVIEREC_RETRAIN_AFTER_EVENTS="100000000",
        MOVIEREC_RELAY_AFTER_SECONDS="1",
        MOVIEREC_API_KEYS=API_KEY,
        MOVIEREC_LOG_LEVEL="WARNING",
    )
    movierec = [sys.executable, "-m", "workers"]
    print(f"\n{topology}:")
    processes: tuple[subprocess.Popen[bytes], ...] = ()
    database = Database(env["MOVIEREC_DATABASE_URL"])
    results: dict[str, Samples] = {}
    try:
        dataset = scratch / "dataset"
        timed(f"import {args.ratings:,} ratings", [*movierec, "import", "--quiet"], env, dataset)
        timed("train als (fit, evaluate, precompute)", [*movierec, "train", "als"], env)
        processes = start(topology, env, args)
        wait_up()
        run = Run(args, env, database, Lanes(env, 2 if topology == "lanes" else 1), extra)
        warm_up = people(args, "warm-up")
        for _ in range(3):  # the workers up, each process's first model load
            run.sample(warm_up, Samples())
        for condition in args.conditions.split(","):
            results[condition] = CONDITION_RUNS[condition](run)
            run.settle()
            print(f"  {condition}: {summary(results[condition])}; load {load_average()}")
            for note in results[condition].notes:
                print(f"    {note}")
    finally:
        # Their children too (the lanes' workers, pool processes): any a stop left behind.
        family = descendants([process.pid for process in processes])
        stop(processes)
        for pid in family:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        database.dispose()
        drop_database(args.server, NAME)
        redis_lib.Redis.from_url(args.redis).flushdb()
        if shutil.which("rabbitmqctl") and vhost:
            rabbitmqctl("delete_vhost", vhost)
    return results


def people(args: argparse.Namespace, condition: str) -> Iterator[str]:
    """The dataset's people in a random order of the condition's own (the same for each
    topology)."""
    everyone = [str(user) for user in range(1, args.users + 1)]
    random.Random(f"{args.seed}-{condition}").shuffle(everyone)
    return iter(everyone)


def idle(run: Run) -> Samples:
    samples, chosen = Samples(), people(run.args, "idle")
    while run.more(samples):
        run.sample(chosen, samples)
    return samples


def writes(run: Run) -> Samples:
    """Freshness while other people's ratings arrive at about ``--write-rate`` a second."""
    samples, chosen = Samples(), people(run.args, "writes")
    connection = run.connect()
    for user in range(WRITER_USERS):
        create_user(connection, f"w{user}")
    movies = [item["id"] for item in get_json("/api/v1/movies?limit=1000", connection)["items"]]
    connection.close()
    with tempfile.TemporaryDirectory() as scratch:
        script = Path(scratch) / "paced_writes.lua"
        script.write_text(PACED_WRITES_LUA)
        variables = {
            "BENCH_WRITES_LUA": str(HERE / "wrk_writes.lua"),
            "BENCH_MOVIES": write_lines(movies),
            "BENCH_USERS": str(WRITER_USERS),
            "BENCH_KEY": API_KEY,
        }
        # Each connection's cycle is its pause and a response: the pause that gives the rate,
        # less the response time a short run shows.
        pause = CLIENTS / run.args.write_rate
        trial = run_wrk(str(script), 3, variables | {"BENCH_DELAY_MS": str(pause * 1000)})
        pause = max(0.0, pause - (CLIENTS / max(1.0, accepted_rate(trial)) - pause))
        writer = paced_wrk(script, pause, variables)
        try:
            time.sleep(2)  # the load settles
            while run.more(samples):
                run.sample(chosen, samples)
            backlog = run.lanes.waiting(EVENTS_QUEUE)
        finally:
            writer.send_signal(signal.SIGINT)  # wrk stops and prints its figures
            output, _ = writer.communicate(timeout=30)
        os.unlink(variables["BENCH_MOVIES"])
    figures = wrk_figures(output)
    rate = accepted_rate(figures)
    pacing = f"paced, {pause * 1000:.0f} ms pauses" if pause else "unpaced: the server took no more"
    samples.notes.append(
        f"writer: {rate:.0f} accepted ratings/s over {figures['seconds']:.0f} s, asked "
        f"{run.args.write_rate:.0f} ({pacing}); {figures['errors']:.0f} errors, PUT p50 "
        f"{figures['p50_ms']:.0f} ms, p99 {figures['p99_ms']:.0f} ms; {backlog} tasks waiting on "
        "the events queue when sampling ended"
    )
    return samples


def paced_wrk(script: Path, pause: float, variables: dict[str, str]) -> subprocess.Popen[str]:
    """wrk running ``script`` until interrupted (SIGINT)."""
    env = dict(os.environ, BENCH_RESULT_LUA=str(HERE / "wrk_result.lua"), **variables)
    env["BENCH_DELAY_MS"] = str(pause * 1000)
    argv = ["wrk", "-t1", f"-c{CLIENTS}", "-d3600s", "--timeout", "10s", "-s", str(script)]
    return subprocess.Popen(  # noqa: S603 (our own command line)
        [*argv, f"http://127.0.0.1:{PORT}"], env=env, stdout=subprocess.PIPE, text=True
    )


def wrk_figures(output: str) -> dict[str, float]:
    line = next(row for row in output.splitlines() if row.startswith("RESULT "))
    return {key: float(value) for key, value in (f.split("=") for f in line.split()[1:])}


def accepted_rate(figures: dict[str, float]) -> float:
    return (figures["requests"] - figures["errors"]) / figures["seconds"]


def retrain(run: Run) -> Samples:
    """Freshness while a retrain asked for by the API and its precompute shards are pending."""
    samples, chosen = Samples(), people(run.args, "retrain")
    for round_ in range(run.args.rounds):
        if not run.more(samples):
            break
        began = time.perf_counter()
        post(run.connect(), "/api/v1/algorithms/als/retrain")
        inside = during_bulk_work(run, chosen, samples)
        samples.notes.append(f"retrain {round_ + 1}: {bulk_window(run, began, inside)}")
    return samples


def imported(run: Run) -> Samples:
    """Freshness while the retrain the relay asks for after an import, and its precompute
    shards, are pending."""
    samples, chosen = Samples(), people(run.args, "import")
    movierec = [sys.executable, "-m", "workers"]
    for round_ in range(run.args.rounds):
        if not run.more(samples):
            break
        path = run.extra_file(round_)
        lines = path.read_text().count("\n") - 1
        said = timed(f"import {lines:,} ratings", [*movierec, "import", "--quiet"], run.env, path)
        began = time.perf_counter()
        if not run.lanes.wait_bulk(busy=True, seconds=30):
            samples.notes.append(f"import {round_ + 1}: {said}; no bulk work followed in 30 s")
            continue
        inside = during_bulk_work(run, chosen, samples)
        window = bulk_window(run, began, inside)
        samples.notes.append(f"import {round_ + 1}: {said}; then {window}")
    return samples


def during_bulk_work(run: Run, chosen: Iterator[str], samples: Samples) -> int:
    """Sample while bulk work is pending (up to ``--samples`` in all); how many samples."""
    taken = 0
    run.lanes.most_events_waiting = 0
    while run.more(samples) and run.lanes.bulk_pending():
        run.sample(chosen, samples)
        taken += 1
    return taken


def bulk_window(run: Run, began: float, inside: int) -> str:
    """How long the bulk work took (waiting for it to end) and what the newest version says."""
    run.lanes.wait_bulk(busy=False, seconds=3600)
    seconds = time.perf_counter() - began
    with run.database.transaction() as session:
        version = session.scalars(
            select(ModelVersion)
            .where(ModelVersion.algorithm == "als")
            .order_by(ModelVersion.number.desc())
        ).first()
        assert version is not None
        parts = (version.fit_seconds, version.evaluate_seconds, version.precompute_seconds)
        fit, evaluate, precompute = (f"{p or 0:.1f}" for p in parts)
        status = f"version {version.number} {version.status}"
    return (
        f"bulk work pending {seconds:.1f} s ({status}: fit {fit} s, evaluate {evaluate} s, "
        f"precompute {precompute} s of work), {inside} samples inside; at most "
        f"{run.lanes.most_events_waiting} tasks seen waiting on the events queue"
    )


CONDITION_RUNS: dict[str, Callable[[Run], Samples]] = {
    "idle": idle,
    "writes": writes,
    "retrain": retrain,
    "import": imported,
}


def report(args: argparse.Namespace, results: dict[tuple[str, str], Samples]) -> None:
    topologies = args.topologies.split(",")
    headers = ["condition"]
    for topology in topologies:
        headers += [f"{topology} n", "p50 ms", "p95 ms", "max ms", "p95<=300"]
    if len(topologies) == 2:
        headers.append(f"p95 {topologies[1]}/{topologies[0]}")
    rows = []
    for condition in args.conditions.split(","):
        row: list[object] = [condition]
        for topology in topologies:
            samples = results[condition, topology]
            met = "yes" if samples.ms(95) <= TARGET_P95_MS else "NO"
            count = f"{len(samples.delays)}" + (
                f" ({samples.timeouts} t/o)" * (samples.timeouts > 0)
            )
            row += [
                count,
                f"{samples.ms(50):.0f}",
                f"{samples.ms(95):.0f}",
                f"{samples.ms(100):.0f}",
                met,
            ]
        if len(topologies) == 2:
            first, second = (results[condition, t].ms(95) for t in topologies)
            row.append(f"{second / first:.2f}")
        rows.append(row)
    print(
        f"\nfreshness (PUT rating -> cached list reflects it) under load; {args.ratings:,} "
        f"ratings, {args.users:,} people, {args.movies:,} movies; target p95 <= "
        f"{TARGET_P95_MS:.0f} ms"
    )
    print(table(headers, rows))


def summary(samples: Samples) -> str:
    return (
        f"{len(samples.delays)} samples, p50 {samples.ms(50):.0f} ms, p95 {samples.ms(95):.0f} ms, "
        f"max {samples.ms(100):.0f} ms"
        + (f", {samples.timeouts} timeouts" * (samples.timeouts > 0))
    )


def start(
    topology: str, env: dict[str, str], args: argparse.Namespace
) -> tuple[subprocess.Popen[bytes], ...]:
    """The web, beat and the workers of ``topology``."""
    movierec = [sys.executable, "-m", "workers"]
    web = ["serve", "--no-worker", "--port", str(PORT), "--workers", str(args.web_workers)]
    if topology == "lanes":
        worker = [*movierec, "worker"]
    else:  # the reference: one worker on both queues, niced as a whole (the old `worker`)
        worker = [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker"]
        worker += ["-Q", "events,training", "--concurrency", "2", "--loglevel", "WARNING"]
    return (
        background([*movierec, *web], env, args.logs, f"{topology}-web"),
        background([*movierec, "beat"], env, args.logs, f"{topology}-beat"),
        background(worker, env, args.logs, f"{topology}-worker", nice=topology != "lanes"),
    )


def background(
    argv: list[str], env: dict[str, str], logs: Path | None, name: str, nice: bool = False
) -> subprocess.Popen[bytes]:
    """A process of ours; its output in ``logs`` or discarded."""
    output = subprocess.DEVNULL if logs is None else (logs / f"{name}.log").open("wb")
    return subprocess.Popen(  # noqa: S603 (our own command line)
        argv,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
        preexec_fn=(lambda: os.nice(5)) if nice else None,
    )


def timed(what: str, argv: list[str], env: dict[str, str], *paths: Path) -> str:
    """Run a command; print and return how long it took and its last line."""
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 (our own command line)
        [*argv, *map(str, paths)], env=env, capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stdout}{done.stderr}")
    said = f"{what}: {time.perf_counter() - started:.1f} s"
    print(f"  {said}")
    return said


def post(connection: http.client.HTTPConnection, path: str) -> None:
    connection.request("POST", path, headers={"Authorization": f"Bearer {API_KEY}"})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    if response.status >= 300:
        raise SystemExit(f"POST {path}: {response.status} {body[:200]!r}")


def fresh_services(args: argparse.Namespace, vhost: str) -> None:
    """An empty Redis db and, where rabbitmqctl is at hand, an empty vhost of ours."""
    redis_lib.Redis.from_url(args.redis).flushdb()
    if shutil.which("rabbitmqctl") and vhost:
        rabbitmqctl("delete_vhost", vhost, check=False)
        rabbitmqctl("add_vhost", vhost)
        user = args.broker.split("//", 1)[1].split(":", 1)[0]
        rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")


def rabbitmqctl(*argv: str, check: bool = True) -> None:
    subprocess.run(["rabbitmqctl", "-q", *argv], check=check, capture_output=True)  # noqa: S603,S607


def descendants(pids: list[int]) -> list[int]:
    """Every process below ``pids``, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(stat.parent.name))
    found, todo = [], list(pids)
    while todo:
        below = children.get(todo.pop(), [])
        found += below
        todo += below
    return found


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


if __name__ == "__main__":
    main()
