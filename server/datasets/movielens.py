"""MovieLens layouts: 100K (``u.data``/``u.item``/``u.genre``), 1M/10M (``*.dat``) and
latest/20M/25M (CSV with header), plus a lone ratings file of any of them (``u1.base``...)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import cast

from server.datasets.columns import CSV, DOUBLE_COLON, TAB, Layout
from server.datasets.records import (
    DatasetReader,
    FeedbackRecord,
    MovieRecord,
    RatingRecord,
    RowError,
    TagRecord,
    detect_encoding,
    external_id,
    feedback_record,
    fields,
    first_line,
    genre_list,
    integer,
    open_text,
    rating_record,
    split_title_year,
)

DAT_SEPARATOR = "::"
IMDB_ID_LENGTH = 16  # the column's width


def _movie_from_title(movie_id: str, raw_title: str, genres: tuple[str, ...]) -> MovieRecord:
    title, year = split_title_year(raw_title)
    return MovieRecord(external_id(movie_id, "movie id"), title or None, year, genres)


def _tag(movie_id: str, tag: str) -> TagRecord:
    text = tag.strip()[:255]
    if not text:
        raise RowError("empty tag")
    return TagRecord(external_id(movie_id, "movie id"), text)


class MovieLens100K(DatasetReader):
    """MovieLens 100K: tab-separated ``u.data``, ``|``-separated latin-1 ``u.item``."""

    format_name = "movielens-100k"
    ratings_name = "u.data"

    def ratings_files(self) -> list[Path]:
        """``u.data``."""
        return [self.path / self.ratings_name]

    def ratings(self) -> Iterator[RatingRecord]:
        """Every rating of ``u.data``."""
        rows = self._rows(self.ratings_files()[0], lambda p: rating_record(*p), fields(4, "\t"))
        return cast(Iterator[RatingRecord], rows)

    def ratings_layout(self) -> tuple[Path, Layout]:
        """``u.data``, tab-separated."""
        return self.ratings_files()[0], TAB

    def movies(self) -> Iterator[MovieRecord]:
        """Every movie of ``u.item`` with the genre names of ``u.genre``."""
        genre_names = self._genre_names()
        path = self.path / "u.item"
        if not path.exists():
            self.problems.add(path, None, "not found: movies get ids only")
            return iter(())
        split = fields(5 + len(genre_names), "|")

        def parse(parts: list[str]) -> MovieRecord:
            flags = parts[5:]
            genres = tuple(
                name
                for name, flag in zip(genre_names, flags, strict=True)
                if flag.strip() == "1" and name != "unknown"
            )
            movie = _movie_from_title(parts[0], parts[1], genres)
            if movie.year is None and parts[2].strip():
                movie = MovieRecord(movie.external_id, movie.title, _release_year(parts[2]), genres)
            return movie

        return cast(Iterator[MovieRecord], self._rows(path, parse, split, "latin-1"))

    def _genre_names(self) -> list[str]:
        """Genre names by index from ``u.genre`` (``name|index``); the standard 19 if absent."""
        path = self.path / "u.genre"
        if not path.exists():
            return list(STANDARD_100K_GENRES)
        by_index: dict[int, str] = {}
        for line in open_text(path, "latin-1"):
            name, _, index = line.strip().rpartition("|")
            if name and index.isdigit():
                by_index[int(index)] = name
        return [by_index[i] for i in sorted(by_index)]


STANDARD_100K_GENRES = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)


def _release_year(text: str) -> int | None:
    """The year of a 100K release date such as ``01-Jan-1995``."""
    try:
        return datetime.strptime(text.strip(), "%d-%b-%Y").year
    except ValueError:
        return None


class MovieLensDat(DatasetReader):
    """The MovieLens 1M/10M directory: ``::``-separated ``ratings.dat``, ``movies.dat`` and
    (10M) ``tags.dat``; 1M's movie titles are latin-1."""

    format_name = "movielens-dat"

    def ratings_files(self) -> list[Path]:
        """``ratings.dat``."""
        return [self.path / "ratings.dat"]

    def ratings(self) -> Iterator[RatingRecord]:
        """Every rating of ``ratings.dat``."""
        split = fields(4, DAT_SEPARATOR)
        return cast(
            Iterator[RatingRecord],
            self._rows(self.ratings_files()[0], lambda p: rating_record(*p), split),
        )

    def ratings_layout(self) -> tuple[Path, Layout]:
        """``ratings.dat``, ``::``-separated."""
        return self.ratings_files()[0], DOUBLE_COLON

    def movies(self) -> Iterator[MovieRecord]:
        """Every movie of ``movies.dat``."""
        path = self.path / "movies.dat"
        if not path.exists():
            self.problems.add(path, None, "not found: movies get ids only")
            return iter(())
        encoding = detect_encoding(path)

        def parse(parts: list[str]) -> MovieRecord:
            return _movie_from_title(parts[0], parts[1], genre_list(parts[2]))

        split = fields(3, DAT_SEPARATOR)
        return cast(Iterator[MovieRecord], self._rows(path, parse, split, encoding))

    def tags(self) -> Iterator[TagRecord]:
        """Every tag of ``tags.dat`` (10M only)."""
        path = self.path / "tags.dat"
        if not path.exists():
            return iter(())
        return cast(
            Iterator[TagRecord],
            self._rows(path, lambda p: _tag(p[1], p[2]), fields(4, DAT_SEPARATOR)),
        )


class MovieLensCsv(DatasetReader):
    """MovieLens latest/20M/25M: ``ratings.csv``, ``movies.csv``, ``tags.csv``, ``links.csv``."""

    format_name = "movielens-csv"

    def ratings_files(self) -> list[Path]:
        """``ratings.csv``."""
        return [self.path / "ratings.csv"]

    def ratings(self) -> Iterator[RatingRecord]:
        """Every rating of ``ratings.csv``."""
        return csv_ratings(self, self.ratings_files()[0])

    def ratings_layout(self) -> tuple[Path, Layout]:
        """``ratings.csv``."""
        return self.ratings_files()[0], CSV

    def movies(self) -> Iterator[MovieRecord]:
        """Every movie of ``movies.csv`` with its IMDb and TMDb ids from ``links.csv``."""
        links = read_links(self, self.path / "links.csv")
        path = self.path / "movies.csv"
        if not path.exists():
            self.problems.add(path, None, "not found: movies get ids only")
            return iter(())

        def parse(row: dict[str, str]) -> MovieRecord:
            movie = _movie_from_title(
                row["movieId"], row["title"] or "", genre_list(row["genres"] or "")
            )
            imdb_id, tmdb_id = links.get(movie.external_id, (None, None))
            return MovieRecord(
                movie.external_id, movie.title, movie.year, movie.genres, None, imdb_id, tmdb_id
            )

        return cast(
            Iterator[MovieRecord], self._csv_rows(path, parse, ("movieId", "title", "genres"))
        )

    def tags(self) -> Iterator[TagRecord]:
        """Every tag of ``tags.csv``."""
        path = self.path / "tags.csv"
        if not path.exists():
            return iter(())
        rows = self._csv_rows(
            path, lambda row: _tag(row["movieId"], row["tag"] or ""), ("movieId", "tag")
        )
        return cast(Iterator[TagRecord], rows)

    def feedback(self) -> Iterator[FeedbackRecord]:
        """Every row of ``feedback.csv``, which movierec's export writes (MovieLens has none)."""
        path = self.path / "feedback.csv"
        if not path.exists():
            return iter(())

        def parse(row: dict[str, str]) -> FeedbackRecord:
            return feedback_record(row["userId"], row["movieId"], row["type"], row["timestamp"])

        required = ("userId", "movieId", "type", "timestamp")
        return cast(Iterator[FeedbackRecord], self._csv_rows(path, parse, required))


def csv_ratings(reader: DatasetReader, path: Path) -> Iterator[RatingRecord]:
    """The ratings of a ``userId,movieId,rating,timestamp`` CSV file."""

    def parse(row: dict[str, str]) -> RatingRecord:
        return rating_record(row["userId"], row["movieId"], row["rating"], row["timestamp"])

    required = ("userId", "movieId", "rating", "timestamp")
    return cast(Iterator[RatingRecord], reader._csv_rows(path, parse, required))


def read_links(reader: DatasetReader, path: Path) -> dict[str, tuple[str | None, int | None]]:
    """``movieId -> (imdbId, tmdbId)`` from a links file; empty when the file is absent."""
    if not path.exists():
        return {}

    def parse(row: dict[str, str]) -> tuple[str, str | None, int | None]:
        movie_id = external_id(row["movieId"], "movie id")
        imdb_digits = (row.get("imdbId") or "").strip()
        # Links keep IMDb ids as bare digits; store them as IMDb writes them (tt0114709).
        imdb = f"tt{imdb_digits.zfill(7)}" if imdb_digits.isdigit() else (imdb_digits or None)
        if imdb is not None and len(imdb) > IMDB_ID_LENGTH:
            raise RowError(f"imdbId {imdb_digits!r} is too long")
        tmdb_text = (row.get("tmdbId") or "").strip()
        tmdb = integer(tmdb_text, "tmdbId", 0, 2**31 - 1) if tmdb_text else None
        return movie_id, imdb, tmdb

    rows = reader._csv_rows(path, parse, ("movieId", "imdbId", "tmdbId"))
    return {
        movie_id: (imdb, tmdb)
        for movie_id, imdb, tmdb in cast(Iterator[tuple[str, str | None, int | None]], rows)
    }


class RatingsFile(DatasetReader):
    """A lone ratings file in any MovieLens layout (``u1.base``, ``ratings.dat``, ``ratings.csv``).
    Its movies come from the catalogue of the same layout beside it (``u.item``, ``movies.dat``,
    ``movies.csv``: a predefined split keeps its titles and genres); without one they are known
    by id only."""

    format_name = "ratings-file"

    def movies(self) -> Iterator[MovieRecord]:
        """The movies of the catalogue beside the file, if any."""
        beside = self._layout_beside()
        return iter(()) if beside is None else beside.movies()

    def tags(self) -> Iterator[TagRecord]:
        """The tags of the dataset beside the file, if any."""
        beside = self._layout_beside()
        return iter(()) if beside is None else beside.tags()

    def _layout_beside(self) -> DatasetReader | None:
        first = first_line(self.path)
        layout: type[DatasetReader]
        if DAT_SEPARATOR in first:
            layout, catalogue = MovieLensDat, "movies.dat"
        elif "\t" in first:
            layout, catalogue = MovieLens100K, "u.item"
        else:
            layout, catalogue = MovieLensCsv, "movies.csv"
        if not (self.path.parent / catalogue).is_file():
            return None
        return layout(self.path.parent, self.problems)

    def ratings_files(self) -> list[Path]:
        """The file itself."""
        return [self.path]

    def ratings_layout(self) -> tuple[Path, Layout]:
        """The file, its layout told by the first line."""
        first = first_line(self.path)
        if DAT_SEPARATOR in first:
            return self.path, DOUBLE_COLON
        return self.path, TAB if "\t" in first else CSV

    def ratings(self) -> Iterator[RatingRecord]:
        """Every rating, the layout told by the first line."""
        first = first_line(self.path)
        if DAT_SEPARATOR in first:
            split = fields(4, DAT_SEPARATOR)
        elif "\t" in first:
            split = fields(4, "\t")
        else:
            return csv_ratings(self, self.path)
        return cast(
            Iterator[RatingRecord], self._rows(self.path, lambda p: rating_record(*p), split)
        )


def sniff_ratings_file(path: Path) -> bool:
    """True when the file's first line looks like one of the ratings layouts."""
    first = first_line(path).strip()
    if first.replace(" ", "").lower().startswith("userid,movieid,rating"):
        return True
    for separator in (DAT_SEPARATOR, "\t"):
        parts = first.split(separator)
        if len(parts) == 4 and all(p.strip().isdigit() for p in (parts[0], parts[1], parts[3])):
            return True
    return False
