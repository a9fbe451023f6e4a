"""How fast ``movierec import`` loads synthetic MovieLens-shaped data into PostgreSQL, against the
floor of the same machine: PostgreSQL's own ``COPY`` of the same ``ratings.csv`` into a table
without keys or indexes (what no import that checks anything can beat).

    python -m benchmarks.import_speed [--sizes 1000000,5000000] [--repeat 2]

Each size gets fresh databases (``movierec_bench_import`` and ``movierec_bench_floor``, dropped
after) on the server of ``--server`` (default: 127.0.0.1:5432, trust auth). The import runs as
the CLI does, in its own process (``movierec import --quiet``), so its time includes reading,
checking, writing, and making the rating keys and index again; "events" is what the outbox got.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from benchmarks.common import drop_database, fresh_database, machine, table
from server.datasets.synthetic import SyntheticSpec, write_dataset

# users, movies for each size: MovieLens 1M-, 10M- and 25M-like catalogues.
SHAPES = {
    1_000_000: (6_000, 3_700),
    5_000_000: (35_000, 10_000),
    10_000_000: (70_000, 20_000),
    25_000_000: (160_000, 60_000),
}
IMPORT_DB = "movierec_bench_import"
FLOOR_DB = "movierec_bench_floor"


def movierec(*args: str, url: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    environ = os.environ | {"MOVIEREC_DATABASE_URL": url, "MOVIEREC_DATA_DIR": str(data_dir)}
    return subprocess.run(  # noqa: S603 (our own interpreter and module)
        [sys.executable, "-m", "server", *args],
        env=environ,
        capture_output=True,
        text=True,
        check=True,
    )


def timed_import(server: str, dataset: Path, scratch: Path) -> tuple[float, str]:
    """Seconds of one import into a fresh, migrated database; and what the CLI said."""
    url = fresh_database(server, IMPORT_DB)
    movierec("db", "upgrade", url=url, data_dir=scratch)
    started = time.perf_counter()
    said = movierec("import", "--quiet", str(dataset), url=url, data_dir=scratch).stdout
    return time.perf_counter() - started, said.strip().splitlines()[-1]


def outbox_rows(server: str) -> int:
    with psycopg.connect(f"{server} dbname={IMPORT_DB}") as connection:
        row = connection.execute("SELECT count(*) FROM rating_events").fetchone()
    return int(row[0]) if row else 0


def timed_floor(server: str, dataset: Path) -> float:
    """Seconds of PostgreSQL's COPY of the ratings file into a bare table."""
    fresh_database(server, FLOOR_DB)
    with psycopg.connect(f"{server} dbname={FLOOR_DB}") as connection:
        connection.execute(
            "CREATE TABLE bare (user_id text, movie_id text, rating real, stamp bigint)"
        )
        started = time.perf_counter()
        statement = "COPY bare FROM STDIN (FORMAT csv, HEADER true)"
        with (
            connection.cursor() as cursor,
            (dataset / "ratings.csv").open("rb") as source,
            cursor.copy(statement) as copy,
        ):
            while block := source.read(1 << 20):
                copy.write(block)
        connection.commit()
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,5000000")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--server", default="host=127.0.0.1 port=5432 user=root")
    options = parser.parse_args()
    print(machine())
    rows = []
    for size in (int(text) for text in options.sizes.split(",")):
        users, movies = SHAPES.get(size, (max(size // 150, 10), max(size // 400, 10)))
        with tempfile.TemporaryDirectory() as scratch:
            dataset = Path(scratch) / "data"
            write_dataset(SyntheticSpec(users=users, movies=movies, ratings=size, seed=1), dataset)
            imports, floors = [], []
            for _ in range(options.repeat):
                seconds, said = timed_import(options.server, dataset, Path(scratch) / "home")
                imports.append(seconds)
                floors.append(timed_floor(options.server, dataset))
            events = outbox_rows(options.server)
        drop_database(options.server, IMPORT_DB)
        drop_database(options.server, FLOOR_DB)
        best, floor = min(imports), min(floors)
        rows.append(
            [
                f"{size:,}",
                f"{users:,} / {movies:,}",
                " ".join(f"{s:.1f}" for s in imports),
                f"{size / best:,.0f}",
                f"{size / statistics.median(imports):,.0f}",
                f"{floor:.1f}",
                f"{best / floor:.2f}",
                str(events),
            ]
        )
        print(said)
    print(
        table(
            [
                "ratings",
                "users / movies",
                "import s (runs)",
                "best ratings/s",
                "median ratings/s",
                "bare COPY s",
                "import / COPY",
                "outbox rows",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
