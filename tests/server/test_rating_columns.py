"""Ratings read as columns: the fast read of delimited files gives exactly what the records
give, and hands over to the records (their problems, their lines) at the first unclean chunk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from server.datasets import Problems, open_dataset
from server.datasets.columns import RatingColumns, rating_columns, record_columns
from server.datasets.records import DatasetReader
from tests.conftest import FIXTURES

DELIMITED = ["ml-100k", "ml-1m", "ml-10m", "ml-latest", "kaggle", "ml-100k/u1.base"]


def as_rows(chunks: list[RatingColumns]) -> list[tuple[str, str, int, int]]:
    return [
        (str(u), str(m), int(h), int(t))
        for chunk in chunks
        for u, m, h, t in zip(
            chunk.users, chunk.movies, chunk.half_stars, chunk.timestamps, strict=True
        )
    ]


def read_both(reader: DatasetReader, size: int) -> tuple[list[RatingColumns], DatasetReader]:
    """The columns of ``reader`` (fast where it can) and a fresh reader for the records."""
    return list(rating_columns(reader, size)), reader.reopened()


@pytest.mark.parametrize("name", DELIMITED)
def test_every_delimited_layout_gives_what_its_records_give(name: str) -> None:
    expected_problems, problems = Problems(), Problems()
    expected = list(record_columns(open_dataset(FIXTURES / name, expected_problems).ratings(), 2))
    reader = open_dataset(FIXTURES / name, problems)
    assert reader.ratings_layout() is not None
    got = list(rating_columns(reader, 2))
    assert as_rows(got) == as_rows(expected) and as_rows(got)
    assert problems.messages == expected_problems.messages  # the fixtures hold bad rows
    assert all(chunk.half_stars.dtype == np.int16 for chunk in got)


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


CLEAN_FILES = {
    "ratings.csv": ["userId,movieId,rating,timestamp", "1,10,4.0,100", "2,10,0.5,200"],
    "u1.base": ["1\t10\t4\t100", "2\t10\t1\t200"],
    "ratings.dat": ["1::10::4::100", "2::10::1::200"],
}


@pytest.mark.parametrize("name", sorted(CLEAN_FILES))
def test_a_clean_file_is_read_without_its_records(
    tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader = open_dataset(write(tmp_path / name, CLEAN_FILES[name]), Problems())

    def no_records() -> None:
        raise AssertionError("a clean file is read without its records")

    monkeypatch.setattr(reader, "ratings", no_records)
    rows = as_rows(list(rating_columns(reader, 1)))
    assert [(user, movie) for user, movie, _, _ in rows] == [("1", "10"), ("2", "10")]
    assert [stamp for *_, stamp in rows] == [100, 200]


CSV_HEADER = "userId,movieId,rating,timestamp"
CLEAN = [f"{user},{movie},4.0,{100 + movie}" for user in (1, 2) for movie in (1, 2, 3)]


@pytest.mark.parametrize(
    "bad",
    [
        "3,1,6.0,100",  # stars out of range
        "3,1,4.0,",  # a missing timestamp
        "3,1,four,100",  # not a number
        "3, ,4.0,100",  # an empty id
        "3,1,4.0,99999999999999999999",  # beyond any integer
        "3,1,4.0,100,extra",  # a field too many
    ],
)
def test_an_unclean_chunk_hands_over_to_the_records_with_their_problems(
    tmp_path: Path, bad: str
) -> None:
    lines = [CSV_HEADER, *CLEAN, bad, "4,2,3.5,400"]
    path = write(tmp_path / "ratings.csv", lines)
    expected_problems = Problems()
    expected = list(record_columns(open_dataset(path, expected_problems).ratings(), 4))
    problems = Problems()
    got = list(rating_columns(open_dataset(path, problems), 4))
    assert as_rows(got) == as_rows(expected)
    assert problems.messages == expected_problems.messages
    assert [len(chunk) for chunk in got][:1] == [4]  # the first clean chunk came fast


def test_an_id_with_the_separator_in_a_dat_file_is_read_by_the_records(tmp_path: Path) -> None:
    path = write(tmp_path / "ratings.dat", ["1::10::4::100", "2::a:b::3::200", "3::10::5::300"])
    got = as_rows(list(rating_columns(open_dataset(path, Problems()), 10)))
    assert got == [("1", "10", 8, 100), ("2", "a:b", 6, 200), ("3", "10", 10, 300)]


def test_ids_are_stripped_as_the_records_strip_them(tmp_path: Path) -> None:
    path = write(tmp_path / "ratings.csv", [CSV_HEADER, " 7 ,x1,0.5,5"])
    assert as_rows(list(rating_columns(open_dataset(path, Problems()), 10))) == [("7", "x1", 1, 5)]
