"""Netflix Prize: ``combined_data_1.txt`` ... ``_4.txt`` (a ``MovieID:`` line, then
``CustomerID,Rating,Date`` lines) and ``movie_titles.csv`` (``MovieID,YearOfRelease,Title``,
latin-1, titles may contain commas, the year may be ``NULL``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

from server.datasets.records import (
    DatasetReader,
    MovieRecord,
    RatingRecord,
    RowError,
    external_id,
    half_stars,
    open_text,
)


def _timestamp(text: str) -> int:
    """``YYYY-MM-DD`` as UTC Unix seconds at midnight."""
    try:
        day = datetime.strptime(text.strip(), "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise RowError(f"date {text!r} is not YYYY-MM-DD") from None
    return int(day.timestamp())


def _split_title_line(line: str) -> list[str]:
    parts = line.split(",", 2)  # titles may contain commas: only the first two commas split
    if len(parts) != 3:
        raise RowError("expected MovieID,YearOfRelease,Title")
    return parts


def _parse_title(parts: list[str]) -> MovieRecord:
    year_text = parts[1].strip()
    year = int(year_text) if year_text.isdigit() and 1800 <= int(year_text) <= 2200 else None
    return MovieRecord(external_id(parts[0], "movie id"), parts[2].strip() or None, year)


class NetflixPrize(DatasetReader):
    """The Netflix Prize directory."""

    format_name = "netflix"

    def ratings_files(self) -> list[Path]:
        """Every ``combined_data_*.txt``, in order."""
        return sorted(self.path.glob("combined_data_*.txt"))

    def ratings(self) -> Iterator[RatingRecord]:
        """Every rating of every ``combined_data`` file."""
        for path in self.ratings_files():
            yield from self._file_ratings(path)

    def _file_ratings(self, path: Path) -> Iterator[RatingRecord]:
        movie: str | None = None
        for number, raw in enumerate(open_text(path), start=1):
            line = raw.strip()
            if not line:
                continue
            try:
                if line.endswith(":"):
                    movie = external_id(line[:-1], "movie id")
                    continue
                if movie is None:
                    raise RowError("a rating before any 'MovieID:' line")
                parts = line.split(",")
                if len(parts) != 3:
                    raise RowError(f"expected CustomerID,Rating,Date, found {len(parts)} fields")
                user = external_id(parts[0], "customer id")
                yield RatingRecord(user, movie, half_stars(parts[1]), _timestamp(parts[2]))
            except RowError as error:
                self.problems.add(path, number, str(error))

    def movies(self) -> Iterator[MovieRecord]:
        """Every movie of ``movie_titles.csv`` (or ``.txt``)."""
        candidates = [self.path / "movie_titles.csv", self.path / "movie_titles.txt"]
        present = [path for path in candidates if path.exists()]
        if not present:
            self.problems.add(candidates[0], None, "not found: movies get ids only")
            return iter(())
        rows = self._rows(present[0], _parse_title, _split_title_line, "latin-1")
        return cast(Iterator[MovieRecord], rows)
