"""What every reader yields, the problem log for malformed rows, and shared parsing helpers."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

_TITLE_YEAR = re.compile(r"^(?P<title>.*?)\s*\((?P<year>\d{4})(?:[-\u2013]\d{0,4})?\)\s*$")
_EXTERNAL_ID = re.compile(r"^[A-Za-z0-9._:@-]{1,64}$")


@dataclass(frozen=True, slots=True)
class MovieRecord:
    """A movie as a dataset describes it; only ``external_id`` is always known."""

    external_id: str
    title: str | None = None
    year: int | None = None
    genres: tuple[str, ...] = ()
    overview: str | None = None
    imdb_id: str | None = None
    tmdb_id: int | None = None


class RatingRecord(NamedTuple):
    """One rating: user and movie ids, 1-10 half stars, UTC Unix seconds."""

    user_id: str
    movie_id: str
    half_stars: int
    timestamp: int


class TagRecord(NamedTuple):
    """One application of a free-text tag to a movie."""

    movie_id: str
    tag: str


class RowError(ValueError):
    """A row that cannot be read; the reader reports it with its file and line and skips it."""


@dataclass
class Problems:
    """Collects malformed rows (file, line, message); ``on_problem`` sees each as it comes."""

    on_problem: Callable[[str], None] | None = None
    messages: list[str] = field(default_factory=list)
    count: int = 0
    keep: int = 1000

    def add(self, path: Path | str, line: int | None, message: str) -> None:
        """Record one problem; ``line`` is None for a whole-file remark."""
        where = f"{path}:{line}" if line is not None else str(path)
        text = f"{where}: {message}"
        self.count += 1
        if len(self.messages) < self.keep:
            self.messages.append(text)
        if self.on_problem is not None:
            self.on_problem(text)


class DatasetReader:
    """Base of every format's reader. Each method streams its records; malformed rows go to
    ``problems``. ``ratings_files`` lets callers show progress."""

    format_name = "unknown"

    def __init__(self, path: Path, problems: Problems) -> None:
        self.path = path
        self.problems = problems

    def movies(self) -> Iterator[MovieRecord]:
        """Every movie of the catalogue (formats without one yield nothing)."""
        return iter(())

    def tags(self) -> Iterator[TagRecord]:
        """Every tag application (formats without tags yield nothing)."""
        return iter(())

    def ratings(self) -> Iterator[RatingRecord]:
        """Every rating."""
        raise NotImplementedError

    def ratings_files(self) -> list[Path]:
        """The files ``ratings`` reads, in order."""
        raise NotImplementedError

    def _rows(
        self,
        path: Path,
        parse: Callable[[list[str]], object],
        split: Callable[[str], list[str]],
        encoding: str = "utf-8",
    ) -> Iterator[object]:
        """Parse every line of ``path`` split by ``split``; report and skip the bad ones."""
        for number, line in enumerate(open_text(path, encoding), start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            try:
                yield parse(split(line))
            except RowError as error:
                self.problems.add(path, number, str(error))

    def _csv_rows(
        self, path: Path, parse: Callable[[dict[str, str]], object], required: tuple[str, ...]
    ) -> Iterator[object]:
        """Parse every row of a CSV file with a header; report and skip the bad ones."""
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [name for name in required if name not in (reader.fieldnames or ())]
            if missing:
                self.problems.add(path, 1, f"missing column(s) {', '.join(missing)}; file skipped")
                return
            for row in reader:
                try:
                    yield parse(row)
                except RowError as error:
                    self.problems.add(path, reader.line_num, str(error))


def open_text(path: Path, encoding: str = "utf-8") -> Iterator[str]:
    """The lines of a text file (newline characters kept)."""
    with path.open(encoding=encoding, newline="") as handle:
        yield from handle


def detect_encoding(path: Path) -> str:
    """``utf-8`` when the whole file decodes as such, else ``latin-1`` (older MovieLens files)."""
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return "latin-1"
    return "utf-8"


def external_id(value: str | None, what: str) -> str:
    """A user or movie id as text; ``RowError`` unless it is 1-64 safe characters."""
    text = (value or "").strip()
    if not _EXTERNAL_ID.match(text):
        raise RowError(f"{what} {value!r} is not a valid id")
    return text


def integer(value: str | None, what: str) -> int:
    """A whole number; ``RowError`` otherwise."""
    try:
        return int((value or "").strip())
    except ValueError:
        raise RowError(f"{what} {value!r} is not a whole number") from None


def half_stars(value: str | None) -> int:
    """A 0.5-5.0 star rating in half steps as 1-10; ``RowError`` otherwise."""
    try:
        doubled = float((value or "").strip()) * 2
    except ValueError:
        raise RowError(f"rating {value!r} is not a number") from None
    if not (1 <= doubled <= 10 and doubled == int(doubled)):
        raise RowError(f"rating {value!r} is not 0.5-5.0 in half steps")
    return int(doubled)


def rating_record(user: str, movie: str, rating: str, timestamp: str) -> RatingRecord:
    """Validate the four fields every rating layout has."""
    return RatingRecord(
        external_id(user, "user id"),
        external_id(movie, "movie id"),
        half_stars(rating),
        integer(timestamp, "timestamp"),
    )


def fields(count: int, separator: str) -> Callable[[str], list[str]]:
    """A splitter that demands exactly ``count`` fields."""

    def split(line: str) -> list[str]:
        parts = line.split(separator)
        if len(parts) != count:
            raise RowError(
                f"expected {count} fields separated by {separator!r}, found {len(parts)}"
            )
        return parts

    return split


def split_title_year(raw: str) -> tuple[str, int | None]:
    """ "Heat (1995)" -> ("Heat", 1995); a title without a year is kept whole."""
    text = raw.strip()
    match = _TITLE_YEAR.match(text)
    if match and match.group("title"):
        year = int(match.group("year"))
        if 1800 <= year <= 2200:
            return match.group("title"), year
    return text, None


def genre_list(raw: str, separator: str = "|") -> tuple[str, ...]:
    """Genre names from a separated list; MovieLens's "(no genres listed)" means none."""
    names = (name.strip() for name in raw.split(separator))
    return tuple(n for n in names if n and n != "(no genres listed)")
