"""What the benchmarks share: locating the dataset, warming up compiled code, printing tables."""

from __future__ import annotations

import argparse
import os
import platform
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import psycopg

from plugins.base import Recommender
from plugins.testing import structured_ratings

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ml-latest-small"


def arguments(description: str) -> argparse.ArgumentParser:
    """An argument parser with the dataset path (default: ../shared/datasets/ml-latest-small)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def warm_up(models: Sequence[type[Recommender]]) -> None:
    """Fit each class once on tiny data so that numba's (disk-cached) compilation is not timed."""
    train, _ = structured_ratings(users=30, movies=40, per_user=10)
    for model in models:
        model().fit(train)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain text table."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float | np.floating):
        number = float(value)
        return f"{number:.4f}" if abs(number) < 100 else f"{number:.0f}"
    return str(value)


def machine() -> str:
    """One line about where the numbers come from."""
    cpu = platform.processor() or platform.machine()
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def fresh_database(server: str, name: str) -> str:
    """An empty database ``name``; its SQLAlchemy URL."""
    drop_database(server, name)
    with psycopg.connect(f"{server} dbname=postgres", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    host = dict(part.split("=") for part in server.split())
    return f"postgresql+psycopg://{host['user']}@{host['host']}:{host.get('port', 5432)}/{name}"


def drop_database(server: str, name: str) -> None:
    """Drop database ``name`` on ``server`` (a libpq connection string), connections and all."""
    with psycopg.connect(f"{server} dbname=postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
