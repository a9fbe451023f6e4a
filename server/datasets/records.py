"""What every reader yields, the problem log for malformed rows, and shared parsing helpers.

Two kinds of trouble: a malformed row (a ``RowError``) is reported with its file and line and
skipped; a file that cannot be read as its layout says (bytes that are not its encoding, broken
CSV quoting, missing columns) is a ``DatasetError`` naming the file and line: guessing where its
rows end would import garbage.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, TextIO

from server.models import EXTERNAL_ID_PATTERN, FEEDBACK_TYPES, MAX_TIMESTAMP

if TYPE_CHECKING:
    from server.datasets.columns import Layout

BLOCK = 1 << 20
UTF8 = "utf-8-sig"  # UTF-8 that tolerates the byte-order mark spreadsheet programs write

_TITLE_YEAR = re.compile(r"^(?P<title>.*?)\s*\((?P<year>\d{4})(?:[-\u2013]\d{0,4})?\)\s*$")
_EXTERNAL_ID = re.compile(EXTERNAL_ID_PATTERN)


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
    # TMDb's poster path ("/abc.jpg"; Kaggle's ``poster_path``), or a full image URL.
    poster_path: str | None = None


class RatingRecord(NamedTuple):
    """One rating: user and movie ids, 1-10 half stars, UTC Unix seconds."""

    user_id: str
    movie_id: str
    half_stars: int
    timestamp: int


class FeedbackRecord(NamedTuple):
    """One piece of feedback besides stars (a type of ``FEEDBACK_TYPES``): user and movie ids,
    the type, UTC Unix seconds. Only movierec's own export writes them (``feedback.csv``)."""

    user_id: str
    movie_id: str
    type: str
    timestamp: int


class TagRecord(NamedTuple):
    """One application of a free-text tag to a movie."""

    movie_id: str
    tag: str


class RowError(ValueError):
    """A row that cannot be read; the reader reports it with its file and line and skips it."""


class DatasetError(Exception):
    """The path is missing, unreadable or ambiguous, holds no known dataset layout, or holds a
    file that cannot be read as its layout says; the message names the file (and line)."""


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

    def reopened(self) -> DatasetReader:
        """The same dataset with a fresh problem log: a second pass that reports nothing again."""
        return type(self)(self.path, Problems())

    def movies(self) -> Iterator[MovieRecord]:
        """Every movie of the catalogue (formats without one yield nothing)."""
        return iter(())

    def tags(self) -> Iterator[TagRecord]:
        """Every tag application (formats without tags yield nothing)."""
        return iter(())

    def ratings(self) -> Iterator[RatingRecord]:
        """Every rating."""
        raise NotImplementedError

    def feedback(self) -> Iterator[FeedbackRecord]:
        """Every piece of feedback besides stars (formats without any yield nothing)."""
        return iter(())

    def ratings_files(self) -> list[Path]:
        """The files ``ratings`` reads, in order."""
        raise NotImplementedError

    def ratings_layout(self) -> tuple[Path, Layout] | None:
        """The ratings file and its layout when the ratings are one delimited file, which the
        importer reads faster as columns (``server.datasets.columns``); None otherwise."""
        return None

    def _rows(
        self,
        path: Path,
        parse: Callable[[list[str]], object],
        split: Callable[[str], list[str]],
        encoding: str = UTF8,
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
        self,
        path: Path,
        parse: Callable[[dict[str, str]], object],
        required: tuple[str, ...],
        multiline: bool = False,
    ) -> Iterator[object]:
        """Parse every row of a CSV file with a header; report and skip the bad ones.

        Only a ``multiline`` file may hold line breaks inside quoted fields: elsewhere one is
        the sign of an unmatched quote, which would swallow the rows up to the next quote.
        """
        with text_file(path, UTF8) as handle:
            rows = csv.reader(handle, strict=True)
            last = 0  # the line the previous row ended on
            try:
                header = next(rows, None)
                if header is None:
                    self.problems.add(path, None, "empty file; skipped")
                    return
                _check_columns(path, header, required)
                last = rows.line_num
                for fields in rows:
                    end = rows.line_num
                    if end - last > 1 and not multiline:
                        raise _runs_on(path, last + 1, end)
                    last = end
                    if not fields:  # a blank line
                        continue
                    try:
                        yield parse(_named(header, fields))
                    except RowError as error:
                        self.problems.add(path, end, str(error))
            except csv.Error as error:
                raise DatasetError(
                    f"{path}:{last + 1}: broken CSV ({error}) in the row starting on line "
                    f"{last + 1}, read up to line {rows.line_num} (an unmatched '\"'?); fix the "
                    "file and import again"
                ) from None


def _check_columns(path: Path, header: list[str], required: tuple[str, ...]) -> None:
    """``DatasetError`` unless the header holds every required column."""
    missing = [name for name in required if name not in header]
    if missing:
        raise DatasetError(
            f"{path}:1: missing column(s) {', '.join(missing)} in the header "
            f"(found: {', '.join(header) or 'none'})"
        )


def _runs_on(path: Path, start: int, end: int) -> DatasetError:
    """The error for a row of a one-row-per-line file that spans several lines."""
    return DatasetError(
        f"{path}:{start}: a quoted field runs on to line {end}, swallowing the rows between "
        "(an unmatched '\"'?); fix the quoting and import again"
    )


def _named(header: list[str], fields: list[str]) -> dict[str, str]:
    """A row by column name (missing trailing fields as empty text, extra ones dropped)."""
    if len(fields) < len(header):
        fields = fields + [""] * (len(header) - len(fields))
    return dict(zip(header, fields, strict=False))


@contextmanager
def text_file(path: Path, encoding: str) -> Iterator[TextIO]:
    """``path`` opened as text; a read or decoding failure becomes a ``DatasetError`` naming
    the file, the line and the byte, with a guess at the file's real encoding."""
    try:
        with path.open(encoding=encoding, newline="") as handle:
            yield handle
    except UnicodeDecodeError:
        raise undecodable(path, encoding) from None
    except OSError as error:
        raise DatasetError(f"{path}: cannot be read: {error.strerror or error}") from None


def open_text(path: Path, encoding: str = UTF8) -> Iterator[str]:
    """The lines of a text file (newline characters kept); ``DatasetError`` as ``text_file``."""
    with text_file(path, encoding) as handle:
        yield from handle


def first_line(path: Path) -> str:
    """The first line of a file, decoded leniently: enough to tell a layout (a bad byte further
    on is reported, with its line, when the file is read)."""
    try:
        with path.open("rb") as handle:
            raw = handle.readline(BLOCK)
    except OSError:
        return ""
    return raw.decode("utf-8", errors="replace").removeprefix("\ufeff")


def undecodable(path: Path, encoding: str) -> DatasetError:
    """The error for a file that is not in ``encoding``: where, which byte, and what it may be."""
    label = "UTF-8" if codecs.lookup(encoding).name.startswith("utf-8") else encoding
    found = _first_undecodable(path, encoding)
    where = f"{path}:{found[0]}: byte 0x{found[2]:02x} (offset {found[1]})" if found else str(path)
    return DatasetError(f"{where} is not {label}; {_encoding_hint(path)}")


def _first_undecodable(path: Path, encoding: str) -> tuple[int, int, int] | None:
    """(line, byte offset, byte value) of the first byte ``encoding`` cannot decode."""
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = lines = 0
    with path.open("rb") as handle:
        while True:
            block = handle.read(BLOCK)
            pending = decoder.getstate()[0]  # an incomplete character left by the last block
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as error:
                data = pending + block
                line = lines + data[: error.start].count(b"\n") + 1
                return line, offset - len(pending) + error.start, data[error.start]
            if not block:
                return None
            lines += block.count(b"\n")
            offset += len(block)


def _encoding_hint(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(BLOCK)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "it looks like UTF-16: save it as UTF-8 and import again"
    controls = sum(head.count(bytes([c])) for c in range(32) if c not in (9, 10, 13))
    if controls > len(head) // 100:
        return "it looks like binary data, not text: is it the right file (not compressed)?"
    return (
        "it looks like Latin-1 or Windows-1252 text: convert it to UTF-8 "
        f"(iconv -f latin1 -t utf-8 {path.name} > utf8-{path.name}) and import again"
    )


def detect_encoding(path: Path) -> str:
    """``utf-8`` when the whole file decodes as such, else ``latin-1`` (older MovieLens files)."""
    try:
        path.read_bytes().decode("utf-8")
    except OSError as error:
        raise DatasetError(f"{path}: cannot be read: {error.strerror or error}") from None
    except UnicodeDecodeError:
        return "latin-1"
    return "utf-8"


def external_id(value: str | None, what: str) -> str:
    """A user or movie id as text; ``RowError`` unless it is 1-64 safe characters."""
    text = (value or "").strip()
    if not _EXTERNAL_ID.match(text):
        raise RowError(f"{what} {value!r} is not a valid id")
    return text


def integer(value: str | None, what: str, low: int = -(2**63), high: int = 2**63 - 1) -> int:
    """A whole number from ``low`` to ``high`` (by default what a 64-bit column holds);
    ``RowError`` otherwise."""
    try:
        number = int((value or "").strip())
    except ValueError:
        raise RowError(f"{what} {value!r} is not a whole number") from None
    if not low <= number <= high:
        raise RowError(f"{what} {value!r} is out of range ({low} to {high})")
    return number


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
        integer(timestamp, "timestamp", 0, MAX_TIMESTAMP),
    )


def feedback_record(user: str, movie: str, kind: str, timestamp: str) -> FeedbackRecord:
    """Validate the four fields of a row of ``feedback.csv``."""
    if kind not in FEEDBACK_TYPES:
        raise RowError(f"type must be one of {', '.join(FEEDBACK_TYPES)}, not {kind!r}")
    return FeedbackRecord(
        external_id(user, "user id"),
        external_id(movie, "movie id"),
        kind,
        integer(timestamp, "timestamp", 0, MAX_TIMESTAMP),
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
