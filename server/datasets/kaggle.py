"""Kaggle "The Movies Dataset": ``movies_metadata.csv`` (TMDb metadata, genres as a Python-literal
list), joined to MovieLens ids through ``links_small.csv``/``links.csv``, with
``ratings_small.csv``/``ratings.csv`` and, when present, ``keywords.csv`` as tags.

When both the small and the full files are present, the small pair is read: it is the one the
Kaggle notebooks use, and the full one (26M ratings) is rarely what a first import wants.
"""

from __future__ import annotations

import ast
import csv
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any, cast

from server.datasets.columns import CSV, Layout
from server.datasets.movielens import csv_ratings, read_links
from server.datasets.records import (
    DatasetReader,
    MovieRecord,
    RatingRecord,
    RowError,
    TagRecord,
    integer,
)
from server.presentation import clean_poster_path

# Overviews can be long and a few rows of the real file are broken across many lines.
csv.field_size_limit(10 * 1024 * 1024)

Keywords = tuple[str | None, tuple[str, ...]]


def _names(literal: str, column: str) -> tuple[str, ...]:
    """Names from a Python-literal list of ``{'id': .., 'name': ..}`` (parsed safely)."""
    if not literal.strip():
        return ()
    try:
        value: Any = ast.literal_eval(literal)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise RowError(f"{column} is not a list literal") from None
    if not isinstance(value, list):
        raise RowError(f"{column} is not a list")
    names = (
        str(item["name"]).strip() for item in value if isinstance(item, dict) and "name" in item
    )
    return tuple(name for name in names if name)


def _year(release_date: str) -> int | None:
    try:
        year = date.fromisoformat(release_date.strip()).year
    except ValueError:
        return None
    return year if 1800 <= year <= 2200 else None


class KaggleMovies(DatasetReader):
    """The Kaggle "The Movies Dataset" directory."""

    format_name = "kaggle-movies"

    @property
    def _small(self) -> bool:
        return (self.path / "ratings_small.csv").exists()

    def ratings_files(self) -> list[Path]:
        """``ratings_small.csv`` when present, else ``ratings.csv``."""
        return [self.path / ("ratings_small.csv" if self._small else "ratings.csv")]

    def ratings(self) -> Iterator[RatingRecord]:
        """Every rating."""
        return csv_ratings(self, self.ratings_files()[0])

    def ratings_layout(self) -> tuple[Path, Layout]:
        """The ratings file, a MovieLens CSV."""
        return self.ratings_files()[0], CSV

    def _links(self) -> dict[str, tuple[str | None, int | None]]:
        names = ["links_small.csv", "links.csv"]
        if not self._small:
            names.reverse()
        present = [self.path / name for name in names if (self.path / name).exists()]
        if not present:
            self.problems.add(
                self.path / names[0], None, "not found: no movie metadata can be joined"
            )
            return {}
        return read_links(self, present[0])

    def movies(self) -> Iterator[MovieRecord]:
        """One movie per link row, with its TMDb metadata when ``movies_metadata.csv`` has it."""
        metadata = self._metadata_by_tmdb_id()
        for movie_id, (imdb_id, tmdb_id) in self._links().items():
            meta = metadata.get(tmdb_id) if tmdb_id is not None else None
            if meta is None:
                yield MovieRecord(movie_id, imdb_id=imdb_id, tmdb_id=tmdb_id)
            else:
                yield MovieRecord(
                    movie_id,
                    meta.title,
                    meta.year,
                    meta.genres,
                    meta.overview,
                    imdb_id,
                    tmdb_id,
                    meta.poster_path,
                )

    def _metadata_by_tmdb_id(self) -> dict[int, MovieRecord]:
        path = self.path / "movies_metadata.csv"
        if not path.exists():
            self.problems.add(path, None, "not found: movies get ids and links only")
            return {}
        rows = cast(
            Iterator[MovieRecord],
            self._csv_rows(path, _parse_metadata, ("id", "title", "genres"), multiline=True),
        )
        return {int(movie.external_id): movie for movie in rows}

    def tags(self) -> Iterator[TagRecord]:
        """Keywords from ``keywords.csv`` (TMDb id -> keyword list), as tags of the linked movie."""
        path = self.path / "keywords.csv"
        if not path.exists():
            return
        by_tmdb = {tmdb: movie for movie, (_, tmdb) in self._links().items() if tmdb is not None}

        def parse(row: dict[str, str]) -> Keywords:
            movie = by_tmdb.get(integer(row["id"], "TMDb id"))
            return movie, _names(row["keywords"] or "", "keywords")

        for movie, keywords in cast(
            Iterator[Keywords], self._csv_rows(path, parse, ("id", "keywords"), multiline=True)
        ):
            if movie is not None:
                yield from (TagRecord(movie, keyword[:255]) for keyword in keywords)


def _parse_metadata(row: dict[str, str]) -> MovieRecord:
    """One row of ``movies_metadata.csv``, keyed by its TMDb id (joined to MovieLens ids later)."""
    tmdb_id = integer(row["id"], "TMDb id")
    title = (row.get("title") or "").strip()[:500] or None
    overview = (row.get("overview") or "").strip() or None
    genres = _names(row["genres"] or "", "genres")
    return MovieRecord(
        str(tmdb_id),
        title,
        _year(row.get("release_date") or ""),
        genres,
        overview,
        poster_path=clean_poster_path(row.get("poster_path")),
    )
