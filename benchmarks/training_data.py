"""How fast a retrain reads the ratings from PostgreSQL into numpy: packed by the database into
one bytea a query and read by numpy whole (``workers.training.rating_columns``), against fetching
the rows of one query and flattening them with ``np.fromiter`` (what it did before; the
reference, in the same run).

    MOVIEREC_DATABASE_URL=postgresql+psycopg://root@127.0.0.1:5432/bench \\
        python -m benchmarks.training_data [--ratings 1000000] [--repeats 3]

The database named is the benchmark's own: it is migrated, and when it does not hold exactly
``--ratings`` ratings its catalogue is replaced by synthetic data of that size (the generator's
MovieLens-like shapes), so a second run at the same size reads the same rows again.
"""

from __future__ import annotations

import argparse
import itertools
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from benchmarks.common import machine, table
from benchmarks.scale import SHAPES
from server.datasets.detect import open_dataset
from server.datasets.importer import clear_catalogue, import_dataset
from server.datasets.synthetic import SyntheticSpec, write_dataset
from server.db import Database
from server.migrate import upgrade
from server.models import Rating
from workers.training import rating_columns


def fetched_rows(session: Session) -> list[npt.NDArray[np.int64]]:
    """The reference: the rows of one query, flattened (the loader before COPY)."""
    rows = session.execute(
        select(Rating.user_id, Rating.movie_id, Rating.half_stars, Rating.updated_at)
    ).all()
    flat = itertools.chain.from_iterable(rows)
    table = np.fromiter(flat, np.int64, count=4 * len(rows)).reshape(-1, 4)
    return [table[:, column] for column in range(4)]


def ensure_ratings(database: Database, size: int) -> None:
    """Synthetic ratings of ``size`` in the database, imported unless already there."""
    with database.transaction() as session:
        held = session.scalar(select(func.count()).select_from(Rating)) or 0
    if held == size:
        return
    users, movies = SHAPES.get(size, (max(size // 100, 10), max(size // 300, 10)))
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "synthetic"
        write_dataset(SyntheticSpec(users=users, movies=movies, ratings=size, seed=1), path)
        with database.transaction() as session:
            clear_catalogue(session)
        started = time.perf_counter()
        import_dataset(database, open_dataset(path), replace=lambda: None)
        print(f"imported {size:,} ratings in {time.perf_counter() - started:.0f} s")


def timed(database: Database, read: Callable[[Session], list[npt.NDArray[np.int64]]]) -> float:
    """Ratings read a second by ``read`` in one transaction."""
    with database.transaction() as session:
        started = time.perf_counter()
        columns = read(session)
        return len(columns[0]) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratings", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    url = os.environ.get("MOVIEREC_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        raise SystemExit("set MOVIEREC_DATABASE_URL to a PostgreSQL database of its own")
    upgrade(url)
    database = Database(url)
    ensure_ratings(database, args.ratings)
    print(f"{args.ratings:,} ratings on PostgreSQL; {machine()}")
    packed, rows = [], []
    for _ in range(args.repeats):  # alternated, so both see the same state of the machine
        packed.append(timed(database, rating_columns))
        rows.append(timed(database, fetched_rows))
    ratios = [p / r for p, r in zip(packed, rows, strict=True)]
    print(
        table(
            ["reader", "median ratings/s", "min", "max"],
            [
                ["packed by the database", np.median(packed), min(packed), max(packed)],
                ["rows of one query (before)", np.median(rows), min(rows), max(rows)],
            ],
        )
    )
    spread = ", ".join(f"{ratio:.1f}" for ratio in ratios)
    print(f"packed / rows: median {np.median(ratios):.1f}x (rounds: {spread})")


if __name__ == "__main__":
    main()
