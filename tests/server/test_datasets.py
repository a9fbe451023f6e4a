"""Every importer format, read from tiny hand-written fixtures; malformed rows reported by line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from server.datasets import DatasetError, Problems, open_dataset
from server.datasets.records import split_title_year
from tests.conftest import FIXTURES


def read(name: str) -> tuple[str, list, list, list, list[str]]:
    problems = Problems()
    reader = open_dataset(FIXTURES / name, problems)
    movies, ratings, tags = list(reader.movies()), list(reader.ratings()), list(reader.tags())
    return reader.format_name, movies, ratings, tags, problems.messages


def test_movielens_100k() -> None:
    fmt, movies, ratings, _tags, problems = read("ml-100k")
    assert fmt == "movielens-100k"
    assert [(m.external_id, m.title, m.year) for m in movies] == [
        ("1", "Toy Story", 1995),
        ("2", "GoldenEye", 1995),
        ("3", "Cinéma Paradiso", 1988),
    ]
    assert movies[0].genres == ("Animation", "Children's", "Comedy")
    assert [(r.user_id, r.movie_id, r.half_stars) for r in ratings][:2] == [
        ("1", "1", 10),
        ("1", "2", 6),
    ]
    assert len(ratings) == 5
    assert problems == [
        f"{FIXTURES}/ml-100k/u.data:5: expected 4 fields separated by '\\t', found 1",
        f"{FIXTURES}/ml-100k/u.data:6: rating '7' is not 0.5-5.0 in half steps",
    ]


def test_movielens_1m_latin1_titles() -> None:
    fmt, movies, ratings, _tags, problems = read("ml-1m")
    assert fmt == "movielens-dat"
    assert movies[2].title == "Amélie" and movies[2].genres == ("Comedy", "Romance")
    assert len(ratings) == 4
    assert [p.split(":")[1] for p in problems] == ["4", "5"]


def test_movielens_10m_half_stars_and_tags() -> None:
    _fmt, movies, ratings, tags, problems = read("ml-10m")
    assert movies[1].title == "Net, The"
    assert [r.half_stars for r in ratings] == [10, 9, 1]
    assert [(t.movie_id, t.tag) for t in tags] == [("185", "computer"), ("185", "hacking")]
    assert problems == [f"{FIXTURES}/ml-10m/tags.dat:3: empty tag"]


def test_movielens_csv_with_links_and_tags() -> None:
    fmt, movies, ratings, tags, problems = read("ml-latest")
    assert fmt == "movielens-csv"
    assert movies[1].title == "American President, The" and movies[1].year == 1995
    assert (movies[0].imdb_id, movies[0].tmdb_id) == ("tt0114709", 862)
    assert movies[2].genres == () and movies[2].tmdb_id is None
    assert len(ratings) == 5 and len(tags) == 3
    assert problems == [
        f"{FIXTURES}/ml-latest/ratings.csv:5: rating '6.0' is not 0.5-5.0 in half steps"
    ]


def test_kaggle_metadata_joined_through_links() -> None:
    fmt, movies, ratings, tags, problems = read("kaggle")
    assert fmt == "kaggle-movies"
    dangerous = movies[0]
    assert (dangerous.external_id, dangerous.title, dangerous.year) == (
        "31",
        "Dangerous Minds",
        1995,
    )
    assert dangerous.genres == ("Drama",) and "second line" in (dangerous.overview or "")
    assert movies[2].title is None  # a link without metadata: known by id
    assert len(ratings) == 3 and [t.tag for t in tags] == ["teacher"]
    assert problems == [
        f"{FIXTURES}/kaggle/movies_metadata.csv:5: TMDb id '1997-08-20' is not a whole number"
    ]


def test_netflix_prize() -> None:
    fmt, movies, ratings, _tags, problems = read("netflix")
    assert fmt == "netflix"
    assert movies[2].title == "Character, The Movie" and movies[2].year is None
    assert [(r.user_id, r.movie_id, r.half_stars) for r in ratings] == [
        ("100001", "1", 6),
        ("100002", "1", 10),
        ("100001", "2", 8),
        ("100002", "3", 4),
    ]
    assert ratings[0].timestamp == 1126051200  # 2005-09-07T00:00:00Z
    assert [p.split(":")[1] for p in problems] == ["6", "7"]


def test_single_ratings_file_for_predefined_splits() -> None:
    fmt, movies, ratings, _tags, problems = read("ml-100k/u1.base")
    assert fmt == "ratings-file" and movies == [] and len(ratings) == 2 and problems == []


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such file"):
        open_dataset(tmp_path / "nope")


def test_unknown_format_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello\n")
    with pytest.raises(DatasetError, match="unknown format"):
        open_dataset(tmp_path)
    with pytest.raises(DatasetError, match="unknown format"):
        open_dataset(tmp_path / "notes.txt")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_unreadable_path_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "u.data").write_text("1\t1\t5\t0\n")
    (tmp_path / "u.data").chmod(0)
    with pytest.raises(DatasetError, match="permission denied"):
        open_dataset(tmp_path)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Heat (1995)", ("Heat", 1995)),
        ("Babylon 5", ("Babylon 5", None)),
        ("Fawlty Towers (1975-1979)", ("Fawlty Towers", 1975)),
        ("Dune (2021) ", ("Dune", 2021)),
    ],
)
def test_title_and_year(raw: str, expected: tuple[str, int | None]) -> None:
    assert split_title_year(raw) == expected
