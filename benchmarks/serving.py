"""Serving benchmarks on ml-latest-small: read latency and throughput of cached recommendations,
unfiltered and with request-time rules, against a bare endpoint of the same app under the same
load (gunicorn, 32 concurrent clients in a separate process), freshness after a rating, sustained
writes, retrain + precompute time, and Redis memory per cached user.

Runs on the embedded default (SQLite + embedded Redis) unless MOVIEREC_DATABASE_URL /
MOVIEREC_REDIS_URL / MOVIEREC_BROKER_URL name servers. Reads are driven by wrk (Debian/Ubuntu:
``apt-get install wrk``).

    python -m benchmarks.serving [DATA] [--seconds 10] [--rounds 5] [--read-rate 1000]
        [--write-seconds 60] [--parts reads,freshness,writes] [--web-workers 4]
"""

from __future__ import annotations

import http.client
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

import numpy as np
import redis as redis_lib
from sqlalchemy import func, select

from benchmarks.common import arguments, machine, table
from server.config import Settings
from server.db import Database
from server.http_server import THREADS_PER_WORKER
from server.models import Rating, RatingEvent

CLIENTS = 32
API_KEY = "bench-key"
PORT = 8765
HERE = Path(__file__).resolve().parent
WRITER_USERS = 500
# Long enough for every gunicorn worker to read each of the 610 lists at least once.
WARM_UP_SECONDS = 6.0
# The rules of the filtered read: two genres, a year, enough ratings, and five much-listed movies
# left out (Shawshank, Forrest Gump, Pulp Fiction, The Matrix, The Silence of the Lambs).
FILTERS = "genres=Drama,Comedy&year_min=1990&min_rating_count=10&exclude=318,356,296,2571,593"


def main() -> None:
    parser = arguments(__doc__ or "")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--write-seconds", type=float, default=60.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--read-rate", type=float, default=1000.0)
    parser.add_argument("--web-workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument(
        "--parts",
        type=lambda text: set(text.split(",")),
        default={"reads", "freshness", "writes"},
        help="comma-separated: reads,freshness,writes (all by default)",
    )
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="movierec-serving-"))
    env = dict(os.environ, MOVIEREC_DATA_DIR=str(data_dir), MOVIEREC_RELAY_AFTER_SECONDS="1")
    env["MOVIEREC_TRAIN_SCHEDULE"] = "als=86400,content=86400"
    env["MOVIEREC_RETRAIN_AFTER_EVENTS"] = "100000000"
    env["MOVIEREC_LOG_LEVEL"] = "WARNING"
    movierec = [sys.executable, "-m", "workers"]
    run([*movierec, "import", "--quiet", str(args.data)], env)
    started = time.perf_counter()
    run([*movierec, "train", "content"], env)
    print(
        f"retrain + precompute, content: {time.perf_counter() - started:.1f} s (process included)"
    )
    started = time.perf_counter()
    run([*movierec, "train", "als"], env)
    print(f"retrain + precompute, als: {time.perf_counter() - started:.1f} s (process included)")
    run([*movierec, "models", "list"], env)
    env["MOVIEREC_REDIS_URL"] = env.get("MOVIEREC_REDIS_URL") or embedded_redis(data_dir)
    env["MOVIEREC_API_KEYS"] = API_KEY
    web = start_web(env, args.web_workers)
    worker = quiet([*movierec, "worker", "--concurrency", "2"], env)
    beat = quiet([*movierec, "beat"], env)
    database = Database(Settings.load(environ=env).resolved_database_url)
    try:
        wait_up()
        # The import's events go through the worker first, so that reads run on a quiet system.
        print(f"import's events processed in {wait_until_processed(database):.1f} s")
        users = [str(u) for u in range(1, 611)]
        for user in users:  # every list cached (the precompute did it; this checks)
            assert get_json(f"/api/v1/users/{user}/recommendations?n=10")["cached"]
        if "reads" in args.parts:
            reads(users, args.seconds, args.rounds, args.read_rate, args.web_workers)
            memory(env["MOVIEREC_REDIS_URL"], users)
        if "freshness" in args.parts:
            freshness(users)
        if "writes" in args.parts:
            writes(args.write_seconds, database)
    finally:
        stop((web, worker, beat))
    print(machine())


# A request a line: when (to the second), which process, how long (seconds), status and path.
ACCESS_LOG_FORMAT = "%(t)s %(p)s %(L)s %(s)s %(U)s"


def start_web(
    env: dict[str, str], web_workers: int, access_log: Path | None = None
) -> subprocess.Popen[bytes]:
    """gunicorn serving movierec's app and the bare endpoint on ``PORT``, as production runs it:
    ``web_workers`` processes of ``THREADS_PER_WORKER`` threads; every request's time written
    to ``access_log`` when given."""
    logging = ["--access-logfile", str(access_log), "--access-logformat", ACCESS_LOG_FORMAT]
    return subprocess.Popen(  # noqa: S603 (our own command line)
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{PORT}",
            "--workers",
            str(web_workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(THREADS_PER_WORKER),
            "--log-level",
            "warning",
            *(logging if access_log is not None else []),
            "benchmarks.serving_app:app",
        ],
        env=env,
    )


def stop(processes: tuple[subprocess.Popen[bytes], ...]) -> None:
    """Terminate, then kill what is still running after 30 s: a process left behind would
    load the machine (and keep the embedded Redis alive) through the next benchmark."""
    for process in processes:
        process.terminate()
    deadline = time.monotonic() + 30
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def quiet(argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """A background process of ours with its output discarded."""
    return subprocess.Popen(  # noqa: S603 (our own command line)
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def run(argv: list[str], env: dict[str, str]) -> None:
    subprocess.run(argv, env=env, check=True)  # noqa: S603


def embedded_redis(data_dir: Path) -> str:
    from server.cache.connection import start_embedded_redis

    return start_embedded_redis(data_dir)


def wait_up() -> None:
    for _ in range(300):
        try:
            get_json("/healthz")
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the server did not start")


READ_HEADERS = {"Authorization": f"Bearer {API_KEY}"}  # a person's data needs credentials


def get_json(path: str, connection: http.client.HTTPConnection | None = None) -> Any:
    own = connection or http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
    own.request("GET", path, headers=READ_HEADERS)
    response = own.getresponse()
    body = response.read()
    if connection is None:
        own.close()
    return json.loads(body)


def wrk(paths: list[str], seconds: float, delay_ms: float = 0.0) -> dict[str, float]:
    """One read run: CLIENTS keep-alive connections GETting random ``paths``; with ``delay_ms``
    each connection pauses a random 0..2x that long between requests (paced load)."""
    listing = write_lines(paths)
    variables = {"BENCH_PATHS": listing, "BENCH_DELAY_MS": str(delay_ms)}
    figures = run_wrk("wrk_paths.lua", seconds, variables)
    os.unlink(listing)
    if figures["errors"]:
        raise SystemExit(f"wrk saw {figures['errors']:.0f} errors")
    return figures


def run_wrk(
    script: str, seconds: float, variables: dict[str, str], connections: int = CLIENTS
) -> dict[str, float]:
    """Run wrk (a C load generator, so the client's own cost and pauses stay out of the
    figures) with one of our scripts; its figures, with ``rate`` in requests per second."""
    env = dict(os.environ, BENCH_RESULT_LUA=str(HERE / "wrk_result.lua"), **variables)
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s"]
    # Every request carries the key, the bare endpoint's too, so both pay for the same bytes.
    argv += ["-H", f"Authorization: Bearer {API_KEY}", "-s", str(HERE / script)]
    output = subprocess.run(  # noqa: S603 (our own command line)
        [*argv, f"http://127.0.0.1:{PORT}"], env=env, capture_output=True, text=True, check=True
    ).stdout
    line = next(row for row in output.splitlines() if row.startswith("RESULT "))
    fields = {key: float(value) for key, value in (f.split("=") for f in line.split()[1:])}
    return fields | {"rate": fields["requests"] / fields["seconds"]}


def write_lines(lines: list[str]) -> str:
    """A temporary file with one item per line; its path."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as listing:
        listing.write("\n".join(lines) + "\n")
    return listing.name


def reads(users: list[str], seconds: float, rounds: int, rate: float, web_workers: int) -> None:
    """Throughput: both endpoints in alternating runs, 32 connections sending as fast as they
    can. Latency: the same 32 connections paced to ``rate`` requests per second in all, again in
    alternating runs (at saturation, latency is only queueing: 32 in flight / throughput).
    Each figure is the median over the rounds: the machine's noise hits both endpoints alike,
    and one stalled second (another tenant, a page-in) does not decide a p99."""
    ours = [f"/api/v1/users/{user}/recommendations?n=10" for user in users]
    # The same lists with request-time rules (issue 17): filtered from the cached list, read
    # deeper from the model when the cached candidates cannot fill the page.
    filtered = [f"{path}&{FILTERS}" for path in ours]
    bare = ["/bench/constant"]
    # Warm-up, the same for both: the catalogue's rows and connections, and each process's first
    # read of each list (with the rules: the listed movies' rating counts, the deeper lists).
    wrk(ours, WARM_UP_SECONDS)
    wrk(filtered, WARM_UP_SECONDS)
    delay_ms = CLIENTS / rate * 1000  # the mean pause that gives about ``rate`` in all
    endpoints = (("bare", bare), ("ours", ours), ("filtered", filtered))
    saturated: dict[str, list[dict[str, float]]] = {name: [] for name, _ in endpoints}
    paced: dict[str, list[dict[str, float]]] = {name: [] for name, _ in endpoints}
    for _ in range(rounds):
        for name, paths in endpoints:
            saturated[name].append(wrk(paths, seconds))
            paced[name].append(wrk(paths, seconds, delay_ms))
    labels = (
        ("bare constant JSON", "bare"),
        ("cached recommendations", "ours"),
        ("filtered cached recommendations", "filtered"),
    )
    rows = [[label, *_medians(saturated[name]), *_medians(paced[name])] for label, name in labels]
    print(
        f"\nreads: wrk, {CLIENTS} connections, {rounds} alternating rounds of {seconds:.0f} s "
        f"as fast as possible and paced to {rate:.0f} req/s, gunicorn {web_workers} workers "
        f"x {THREADS_PER_WORKER} threads; medians over the rounds"
    )
    headers = ["endpoint", "max req/s", "p50 ms", "p99 ms", "paced req/s", "p50 ms", "p99 ms"]
    print(table(headers, rows))
    ratios = _per_round(saturated["ours"], saturated["bare"], "rate")
    print(f"throughput ours / bare: {_spread(ratios)}")
    for label, name in (("ours", "ours"), ("filtered", "filtered"), ("bare", "bare")):
        p99s = " ".join(f"{run['p99_ms']:.1f}" for run in paced[name])
        print(f"{label} p99 paced, per round (ms): {p99s}")
    # Each round's filtered p99 over the unfiltered one of the same round (the target: <= 1.5).
    p99_ratios = _per_round(paced["filtered"], paced["ours"], "p99_ms")
    print(f"p99 paced filtered / unfiltered: {_spread(p99_ratios)}; filters: {FILTERS}")


def _per_round(
    top: list[dict[str, float]], bottom: list[dict[str, float]], field: str
) -> list[float]:
    """``top[field] / bottom[field]`` of each round."""
    return [t[field] / b[field] for t, b in zip(top, bottom, strict=True)]


def _spread(ratios: list[float]) -> str:
    """The median of per-round ratios, their range and every round."""
    rounds = " ".join(f"{r:.2f}" for r in ratios)
    low, high = min(ratios), max(ratios)
    return f"median {median(ratios):.2f} (min {low:.2f}, max {high:.2f}; rounds: {rounds})"


def _medians(runs: list[dict[str, float]]) -> list[float]:
    """Median rate, p50 and p99 of wrk runs."""
    return [median(run[field] for run in runs) for field in ("rate", "p50_ms", "p99_ms")]


def memory(url: str, users: list[str]) -> None:
    client = redis_lib.Redis.from_url(url)
    sizes = [client.memory_usage(f"movierec:recs:als:{user}") or 0 for user in users]
    listed = get_json("/api/v1/users/1/recommendations?n=100")
    print(
        f"\nRedis memory per cached user (als, top-{len(listed['items'])}): "
        f"mean {np.mean(sizes):.0f} bytes, max {max(sizes)} (MEMORY USAGE over {len(users)} users)"
    )


def freshness(users: list[str], samples: int = 40) -> list[float]:
    """PUT a rating of the user's current top movie; time until the cached list no longer
    holds it (the rating was folded in and the list rewritten). Returns the delays (s)."""
    delays = []
    connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
    for user in random.Random(0).sample(users, samples):
        delay = fresh_delay(connection, user)
        if delay is None:
            raise SystemExit(f"user {user}: not fresh after 10 s")
        delays.append(delay)
    print(
        f"\nfreshness (PUT rating -> cached list reflects it), {samples} ratings: "
        f"p50 {np.percentile(delays, 50) * 1000:.0f} ms, "
        f"p95 {np.percentile(delays, 95) * 1000:.0f} ms"
    )
    return delays


def fresh_delay(
    connection: http.client.HTTPConnection, user: str, timeout: float = 10.0
) -> float | None:
    """Seconds from a PUT rating of ``user``'s current top movie until their cached list no
    longer holds it; None when it still does after ``timeout`` seconds."""
    top = get_json(f"/api/v1/users/{user}/recommendations?n=10", connection)["items"][0]["movie_id"]
    began = time.perf_counter()
    put_rating(connection, user, top, 5.0)
    while True:
        body = get_json(f"/api/v1/users/{user}/recommendations?n=10", connection)
        if body["cached"] and top not in [item["movie_id"] for item in body["items"]]:
            return time.perf_counter() - began
        if time.perf_counter() - began > timeout:
            return None
        time.sleep(0.005)


def put_rating(connection: http.client.HTTPConnection, user: str, movie: str, stars: float) -> int:
    connection.request(
        "PUT",
        f"/api/v1/users/{user}/ratings/{movie}",
        body=json.dumps({"rating": stars}),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"},
    )
    response = connection.getresponse()
    response.read()
    return response.status


def writes(seconds: float, database: Database) -> None:
    """CLIENTS connections PUT ratings as fast as the server takes them, each a new (user, movie)
    pair; then wait until every event is processed and compare the database with what was
    accepted. Then the same load on the bare write (``benchmarks/serving_app.py``), on pairs of
    its own, for the ratio."""
    connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
    for user in range(WRITER_USERS):
        create_user(connection, f"w{user}")
    ratings_before, events_before = rating_and_event_counts(database)
    movies = [item["id"] for item in get_json("/api/v1/movies?limit=1000")["items"]]
    figures = write_load(movies, "/api/v1", seconds)
    accepted = int(figures["requests"] - figures["errors"])
    drain_seconds = wait_until_processed(database)
    ratings_after, events_after = rating_and_event_counts(database)
    new_ratings, new_events = ratings_after - ratings_before, events_after - events_before
    # wrk stops counting at the deadline: up to CLIENTS requests were still in flight, and the
    # server may have committed them; so may it have a request the client gave up on.
    failed = int(figures["errors"])
    unknown = CLIENTS + failed
    consistent = new_events == new_ratings and accepted <= new_ratings <= accepted + unknown
    print(
        f"\nwrites: {accepted / figures['seconds']:.0f} accepted ratings/s over "
        f"{figures['seconds']:.0f} s ({figures['errors']:.0f} failures; "
        f"p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms); every event processed "
        f"{drain_seconds:.1f} s after the last write\n"
        f"  accepted {accepted} (+ at most {CLIENTS} in flight at the stop and {failed} the "
        f"client gave up on), new ratings "
        f"{new_ratings}, new events {new_events}: {'consistent' if consistent else 'MISMATCH'}"
    )
    bare = write_load(movies[::-1], "/bench", seconds)  # other movies: pairs of its own
    bare_rate = (bare["requests"] - bare["errors"]) / bare["seconds"]
    ratio = accepted / figures["seconds"] / bare_rate if bare_rate else float("nan")
    wait_until_processed(database)
    print(
        f"bare write (the rating and its event in one transaction, nothing else): "
        f"{bare_rate:.0f} ratings/s ({bare['errors']:.0f} failures; p50 {bare['p50_ms']:.1f} ms, "
        f"p99 {bare['p99_ms']:.1f} ms); ours / bare: {ratio:.2f}"
    )


def write_load(movies: list[str], prefix: str, seconds: float) -> dict[str, float]:
    """wrk's figures for CLIENTS connections PUTting ratings under ``prefix`` for ``seconds``."""
    listing = write_lines(movies)
    variables = {
        "BENCH_MOVIES": listing,
        "BENCH_USERS": str(WRITER_USERS),
        "BENCH_KEY": API_KEY,
        "BENCH_PREFIX": prefix,
    }
    try:
        return run_wrk("wrk_writes.lua", seconds, variables)
    finally:
        os.unlink(listing)


def rating_and_event_counts(database: Database) -> tuple[int, int]:
    with database.transaction() as session:
        ratings = session.scalar(select(func.count()).select_from(Rating)) or 0
        events = session.scalar(select(func.count()).select_from(RatingEvent)) or 0
    return ratings, events


def wait_until_processed(database: Database) -> float:
    """Seconds until no event is left unprocessed."""
    began = time.monotonic()
    while True:
        with database.transaction() as session:
            waiting = session.scalar(select(func.count()).where(RatingEvent.processed_at.is_(None)))
        if not waiting:
            return time.monotonic() - began
        time.sleep(0.2)


def create_user(connection: http.client.HTTPConnection, user: str) -> None:
    connection.request(
        "POST",
        "/api/v1/users",
        body=json.dumps({"id": user}),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"},
    )
    connection.getresponse().read()


if __name__ == "__main__":
    main()
