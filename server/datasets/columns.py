"""Ratings as columns, the shape the importer writes: external ids as text, half stars and
timestamps as numpy arrays, a chunk at a time.

Every reader gives its ratings this way. Its records, batched, always work
(``record_columns``); a delimited ratings file is read faster by pandas' C parser
(``delimited_columns``): a few hundred nanoseconds a rating instead of several microseconds,
which is what makes importing MovieLens 25M minutes and not an hour.

The fast read takes only clean chunks: ids that are valid, stars in half steps, timestamps in
range, the right number of fields. At the first chunk that is not, it hands over to the
reader's records from that rating on (``fast_or_records``), which report each bad row with its
file and line exactly as before, so what an import accepts and says never depends on the path
it took.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np
import numpy.typing as npt

from server.datasets.records import UTF8, DatasetReader, RatingRecord
from server.models import EXTERNAL_ID_PATTERN, MAX_TIMESTAMP

_EXTERNAL_ID = re.compile(EXTERNAL_ID_PATTERN)


@dataclass(frozen=True)
class RatingColumns:
    """A chunk of ratings: user and movie external ids, 1-10 half stars, UTC Unix seconds."""

    users: npt.NDArray[np.object_]
    movies: npt.NDArray[np.object_]
    half_stars: npt.NDArray[np.int16]
    timestamps: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.half_stars)

    def distinct_users(self) -> list[str]:
        """The user ids, each once."""
        return _distinct(self.users)

    def distinct_movies(self) -> list[str]:
        """The movie ids, each once."""
        return _distinct(self.movies)

    @classmethod
    def of(cls, records: Sequence[RatingRecord]) -> RatingColumns:
        """The columns of ``records``."""
        users, movies, stars, stamps = zip(*records, strict=True) if records else ((),) * 4
        return cls(
            np.array(users, dtype=object),
            np.array(movies, dtype=object),
            np.array(stars, dtype=np.int16),
            np.array(stamps, dtype=np.int64),
        )


def _distinct(ids: npt.NDArray[np.object_]) -> list[str]:
    import pandas as pd

    return list(pd.unique(ids))


def record_columns(records: Iterator[RatingRecord], size: int) -> Iterator[RatingColumns]:
    """``records`` in chunks of ``size`` as columns."""
    while chunk := list(islice(records, size)):
        yield RatingColumns.of(chunk)


class NotClean(ValueError):
    """A chunk the fast read does not take as it is: the records' reading reports its rows."""


@dataclass(frozen=True)
class Layout:
    """How a delimited ratings file is laid out: its separator, whether its first line names
    the columns, and which fields hold user, movie, rating and timestamp."""

    separator: str
    header: bool
    fields: tuple[int, int, int, int] | tuple[str, str, str, str]
    count: int | None = None  # the fields a line must have (None: the header's)


CSV = Layout(",", True, ("userId", "movieId", "rating", "timestamp"))
TAB = Layout("\t", False, (0, 1, 2, 3), 4)
# "1::1193::5::978300760" split on ":" is seven fields, the even ones the values: pandas' C
# parser takes one-character separators only. An id holding a ":" makes more fields: not clean.
DOUBLE_COLON = Layout(":", False, (0, 2, 4, 6), 7)


def delimited_columns(path: Path, layout: Layout, size: int) -> Iterator[RatingColumns]:
    """The ratings of a delimited file in chunks of ``size``; ``NotClean`` (or the parser's
    own error) at the first chunk that is not clean."""
    import pandas as pd  # a large import, paid only by an import

    names = None if layout.header else list(range(layout.count or 0))
    chunks = pd.read_csv(
        path,
        sep=layout.separator,
        header=0 if layout.header else None,
        names=names,
        usecols=list(layout.fields),
        dtype={
            layout.fields[0]: str,
            layout.fields[1]: str,
            layout.fields[2]: np.float64,
            layout.fields[3]: np.int64,
        },
        keep_default_na=False,
        na_filter=False,
        encoding=UTF8,
        engine="c",
        chunksize=size,
        quoting=3 if not layout.header else 0,  # QUOTE_NONE: only a CSV file quotes
    )
    with chunks as frames:
        for frame in frames:
            user, movie, rating, stamp = (frame[field].to_numpy() for field in layout.fields)
            yield RatingColumns(
                _clean_ids(user), _clean_ids(movie), _half_stars(rating), _timestamps(stamp)
            )


def _clean_ids(values: npt.NDArray[np.object_]) -> npt.NDArray[np.object_]:
    """The ids, stripped as a record's are, when every distinct one is valid."""
    import pandas as pd

    codes, distinct = pd.factorize(values)
    stripped = [str(value).strip() for value in distinct]
    if not all(_EXTERNAL_ID.match(value) for value in stripped):
        raise NotClean("an invalid id")
    ids: npt.NDArray[np.object_] = np.array(stripped, dtype=object)[codes]
    return ids


def _half_stars(rating: npt.NDArray[np.float64]) -> npt.NDArray[np.int16]:
    doubled = rating * 2
    if not (np.all((doubled >= 1) & (doubled <= 10)) and np.all(doubled == np.round(doubled))):
        raise NotClean("a rating outside 0.5-5.0 in half steps")
    return doubled.astype(np.int16)


def _timestamps(stamp: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    if stamp.dtype.kind != "i" or not np.all((stamp >= 0) & (stamp <= MAX_TIMESTAMP)):
        raise NotClean("a timestamp out of range")
    return stamp.astype(np.int64)


def rating_columns(reader: DatasetReader, size: int) -> Iterator[RatingColumns]:
    """Every rating of ``reader`` in chunks of ``size``: read fast from a delimited file while
    it is clean, from the reader's records otherwise."""
    delimited = reader.ratings_layout()
    if delimited is None:
        return record_columns(reader.ratings(), size)
    path, layout = delimited
    return fast_or_records(lambda: delimited_columns(path, layout, size), reader.ratings, size)


# What a file the fast read cannot take raises: the records' reading then says what is wrong.
_FAST_READ_ERRORS = (ValueError, OverflowError, UnicodeDecodeError, OSError)


def fast_or_records(
    fast: Callable[[], Iterator[RatingColumns]],
    records: Callable[[], Iterator[RatingRecord]],
    size: int,
) -> Iterator[RatingColumns]:
    """``fast()``'s chunks while they are clean; from the first that is not, the ratings of
    ``records()`` after those already given (every row before it was valid, so the records
    line up one for one)."""
    given = 0
    try:
        for columns in fast():
            yield columns
            given += len(columns)
    except _FAST_READ_ERRORS:
        yield from record_columns(islice(records(), given, None), size)
