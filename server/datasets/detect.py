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
from server.datasets.records import DatasetError, DatasetReader, Problems

SUPPORTED = (
    "a MovieLens 100K directory (u.data), a MovieLens 1M/10M directory (ratings.dat), "
    "a MovieLens latest/20M/25M directory (ratings.csv + movies.csv), a Kaggle "
    "'The Movies Dataset' directory (movies_metadata.csv or ratings_small.csv), a Netflix Prize "
    "directory (combined_data_*.txt), or a single ratings file in one of the MovieLens layouts"
)

# Every reader by its format name (what ``movierec import --format`` accepts).
FORMATS: dict[str, type[DatasetReader]] = {
    reader.format_name: reader
    for reader in (
        MovieLens100K,
        MovieLensDat,
        MovieLensCsv,
        KaggleMovies,
        NetflixPrize,
        RatingsFile,
    )
}

__all__ = ["FORMATS", "SUPPORTED", "DatasetError", "formats_in", "open_dataset"]


def open_dataset(
    path: Path, problems: Problems | None = None, format_name: str | None = None
) -> DatasetReader:
    """The reader for the dataset at ``path`` (in the layout ``format_name`` when given);
    ``DatasetError`` when there is none, or when a directory holds several layouts."""
    problems = problems or Problems()
    if not path.exists():
        raise DatasetError(f"{path}: no such file or directory")
    if not os.access(path, os.R_OK) or (path.is_dir() and not os.access(path, os.X_OK)):
        raise DatasetError(f"{path}: permission denied")
    reader_class = _chosen(path, format_name) if format_name else _detected(path)
    reader = reader_class(path, problems)
    if not reader.ratings_files():
        raise DatasetError(f"{path}: no ratings file of the {reader.format_name} layout")
    for ratings_file in reader.ratings_files():
        if not ratings_file.is_file():
            raise DatasetError(f"{ratings_file}: no such file ({reader.format_name} needs it)")
        if not os.access(ratings_file, os.R_OK):
            raise DatasetError(f"{ratings_file}: permission denied")
    return reader


def formats_in(directory: Path) -> dict[str, str]:
    """Each layout whose files are in ``directory``, with the file that tells it."""

    def has(name: str) -> bool:
        return (directory / name).is_file()

    found: dict[str, str] = {}
    kaggle = next((n for n in ("movies_metadata.csv", "ratings_small.csv") if has(n)), None)
    if kaggle:
        found[KaggleMovies.format_name] = kaggle
    for reader, name in ((MovieLens100K, "u.data"), (MovieLensDat, "ratings.dat")):
        if has(name):
            found[reader.format_name] = name
    netflix = sorted(directory.glob("combined_data_*.txt"))
    if netflix:
        found[NetflixPrize.format_name] = netflix[0].name
    # Kaggle's full release has a ratings.csv of its own (and no movies.csv).
    if has("ratings.csv") and (has("movies.csv") or not kaggle):
        found[MovieLensCsv.format_name] = "ratings.csv"
    return found


def _detected(path: Path) -> type[DatasetReader]:
    if path.is_file():
        if sniff_ratings_file(path):
            return RatingsFile
        raise DatasetError(f"{path}: unknown format; expected {SUPPORTED}")
    found = formats_in(path)
    if not found:
        raise DatasetError(f"{path}: unknown format; expected {SUPPORTED}")
    if len(found) > 1:
        listed = ", ".join(f"{name} ({marker})" for name, marker in found.items())
        raise DatasetError(
            f"{path} holds several datasets: {listed}; choose one with "
            f"`movierec import --format {next(iter(found))} {path}` (or another of those "
            "formats), or keep one dataset per directory"
        )
    return FORMATS[next(iter(found))]


def _chosen(path: Path, format_name: str) -> type[DatasetReader]:
    reader = FORMATS.get(format_name)
    if reader is None:
        raise DatasetError(f"unknown format {format_name!r}; known: {', '.join(FORMATS)}")
    if path.is_file() != (reader is RatingsFile):
        needs = "a single file" if reader is RatingsFile else "a directory"
        raise DatasetError(f"{path}: the {format_name} format reads {needs}")
    return reader
