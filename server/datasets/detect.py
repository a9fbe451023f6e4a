"""Tell which dataset layout a path holds and open the matching reader."""

from __future__ import annotations

import os
from pathlib import Path

from server.datasets.kaggle import KaggleMovies
from server.datasets.movielens import (
    MovieLens100K,
    MovieLensCsv,
    MovieLensDat,
    RatingsFile,
    sniff_ratings_file,
)
from server.datasets.netflix import NetflixPrize
from server.datasets.records import DatasetReader, Problems

SUPPORTED = (
    "a MovieLens 100K directory (u.data), a MovieLens 1M/10M directory (ratings.dat), "
    "a MovieLens latest/20M/25M directory (ratings.csv + movies.csv), a Kaggle "
    "'The Movies Dataset' directory (movies_metadata.csv or ratings_small.csv), a Netflix Prize "
    "directory (combined_data_*.txt), or a single ratings file in one of the MovieLens layouts"
)


class DatasetError(Exception):
    """The path is missing, unreadable, or holds no known dataset layout."""


def open_dataset(path: Path, problems: Problems | None = None) -> DatasetReader:
    """The reader for the dataset at ``path``; ``DatasetError`` when there is none."""
    problems = problems or Problems()
    if not path.exists():
        raise DatasetError(f"{path}: no such file or directory")
    if not os.access(path, os.R_OK) or (path.is_dir() and not os.access(path, os.X_OK)):
        raise DatasetError(f"{path}: permission denied")
    reader_class = _reader_class(path)
    if reader_class is None:
        raise DatasetError(f"{path}: unknown format; expected {SUPPORTED}")
    reader = reader_class(path, problems)
    for ratings_file in reader.ratings_files():
        if not os.access(ratings_file, os.R_OK):
            raise DatasetError(f"{ratings_file}: permission denied")
    return reader


def _reader_class(path: Path) -> type[DatasetReader] | None:
    if path.is_file():
        return RatingsFile if sniff_ratings_file(path) else None

    def has(name: str) -> bool:
        return (path / name).is_file()

    if has("movies_metadata.csv") or has("ratings_small.csv"):
        return KaggleMovies
    if has("u.data"):
        return MovieLens100K
    if has("ratings.dat"):
        return MovieLensDat
    if any(path.glob("combined_data_*.txt")):
        return NetflixPrize
    if has("ratings.csv"):
        return MovieLensCsv
    return None
