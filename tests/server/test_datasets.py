"""Every importer format, read from tiny hand-written fixtures; malformed rows reported by line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from server.datasets import DatasetError, Problems, open_dataset
from server.datasets.records import split_title_year
from server.datasets.table import load_table
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
    assert [m.poster_path for m in movies] == ["/x.jpg", "/y.jpg", None]
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


def test_single_ratings_file_for_predefined_splits_reads_the_catalogue_beside_it() -> None:
    fmt, movies, ratings, _tags, problems = read("ml-100k/u1.base")
    assert fmt == "ratings-file" and len(ratings) == 2 and problems == []
    assert [(m.title, m.genres) for m in movies][:2] == [
        ("Toy Story", ("Animation", "Children's", "Comedy")),
        ("GoldenEye", ("Action", "Adventure", "Thriller")),
    ]


def test_evaluation_tables_of_split_files_carry_the_movies_metadata() -> None:
    """``movierec evaluate --train u1.base --test u1.test`` gives content-based algorithms the
    genres of ``u.item`` (they scored 0.0 without them)."""
    table = load_table(FIXTURES / "ml-100k" / "u1.base")
    assert table.movie_info[1].genres == ("Animation", "Children's", "Comedy")


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


# A dataset directory per ratings-file name, with a catalogue file that reads well: the one
# the import writes first.
LAYOUTS = {
    "ratings.csv": ("movies.csv", "movieId,title,genres\n1,Heat (1995),Crime\n", "ratings.csv"),
    "ratings.dat": ("movies.dat", "1::Heat (1995)::Crime\n", "ratings.dat"),
    "u.data": ("u.item", "1|Heat (1995)|01-Jan-1995||x" + "|0" * 19 + "\n", "u.data"),
    "combined_data_1.txt": ("movie_titles.csv", "1,1995,Heat\n", "combined_data_1.txt"),
    "ratings_small.csv": ("links_small.csv", "movieId,imdbId,tmdbId\n1,0113277,949\n", "x"),
}
GOOD_RATINGS = {
    "ratings.csv": "userId,movieId,rating,timestamp\n1,1,4.0,100\n",
    "ratings.dat": "1::1::4::100\n",
    "u.data": "1\t1\t4\t100\n",
    "combined_data_1.txt": "1:\n7,4,2005-09-07\n",
    "ratings_small.csv": "userId,movieId,rating,timestamp\n1,1,4.0,100\n",
}


def dataset_with(directory: Path, ratings_name: str, ratings: bytes) -> Path:
    """A directory of the layout of ``ratings_name``, holding ``ratings`` as that file."""
    catalogue, content, _ = LAYOUTS[ratings_name]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / catalogue).write_text(content)
    (directory / ratings_name).write_bytes(ratings)
    return directory


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_a_latin1_ratings_file_is_an_error_naming_its_line_and_encoding(
    tmp_path: Path, name: str
) -> None:
    good = GOOD_RATINGS[name].encode()
    path = dataset_with(tmp_path, name, good + "2,Amélie\n".encode("latin-1"))
    reader = open_dataset(path)
    with pytest.raises(DatasetError) as raised:
        list(reader.ratings())
    lines = good.count(b"\n") + 1
    message = str(raised.value)
    assert message.startswith(f"{path / name}:{lines}: byte 0xe9 (offset {len(good) + 4})")
    assert "Latin-1" in message and "iconv" in message


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_garbage_in_a_ratings_file_is_an_error_not_a_traceback(tmp_path: Path, name: str) -> None:
    garbage = bytes(range(256)) * 40
    path = dataset_with(tmp_path, name, GOOD_RATINGS[name].encode() + garbage)
    with pytest.raises(DatasetError, match="binary data"):
        list(open_dataset(path).ratings())


def test_an_undecodable_byte_far_into_a_file_is_located_exactly(tmp_path: Path) -> None:
    rows = "".join(f"{n},1,4.0,100\n" for n in range(1, 300_000))  # several read blocks
    content = ("userId,movieId,rating,timestamp\n" + rows).encode() + b"9,1,4.0,1\xff\n"
    (tmp_path / "ratings.csv").write_bytes(content)
    with pytest.raises(DatasetError, match=rf":300001: byte 0xff \(offset {len(content) - 2}\)"):
        list(open_dataset(tmp_path / "ratings.csv").ratings())


def test_a_utf8_byte_order_mark_is_read_as_nothing(tmp_path: Path) -> None:
    header = b"\xef\xbb\xbfuserId,movieId,rating,timestamp\n"
    (tmp_path / "ratings.csv").write_bytes(header + b"1,1,4,9\n")
    problems = Problems()
    assert len(list(open_dataset(tmp_path, problems).ratings())) == 1 and not problems.messages


def test_a_ratings_file_without_its_columns_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "ratings.csv").write_text("user,movie,stars,when\n1,1,4,9\n")
    with pytest.raises(DatasetError, match=r"ratings.csv:1: missing column\(s\) userId, movieId"):
        list(open_dataset(tmp_path).ratings())


def test_a_timestamp_beyond_any_date_is_a_malformed_row(tmp_path: Path) -> None:
    (tmp_path / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,1,4.0,99999999999999999999999\n1,2,3.0,-5\n1,3,3,7\n"
    )
    problems = Problems()
    ratings = list(open_dataset(tmp_path, problems).ratings())
    assert [r.movie_id for r in ratings] == ["3"]
    assert [m.split(": ", 1)[1] for m in problems.messages] == [
        "timestamp '99999999999999999999999' is out of range (0 to 253402300799)",
        "timestamp '-5' is out of range (0 to 253402300799)",
    ]


MOVIES_HEAD = "movieId,title,genres\n1,Toy Story (1995),Animation\n"
SWALLOWED = "".join(f"{n},Movie {n} (1990),Drama\n" for n in range(3, 34))  # 31 movies


@pytest.mark.parametrize(
    ("broken", "ends"),
    [
        # The quote closes 32 lines later before a comma: one title of 33 lines.
        (f'2,"Heat (1995),Crime\n{SWALLOWED}34,Alien",Horror\n', 35),
        # It closes before other text: not CSV at all.
        (f'2,"Heat (1995),Crime\n{SWALLOWED}34,"Alien (1979)",Horror\n', 35),
        # It never closes.
        (f'2,"Heat (1995),Crime\n{SWALLOWED}', 34),
    ],
)
def test_an_unmatched_quote_in_movies_csv_is_reported_with_its_line(
    tmp_path: Path, broken: str, ends: int
) -> None:
    (tmp_path / "movies.csv").write_text(MOVIES_HEAD + broken)
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.0,100\n")
    with pytest.raises(DatasetError) as raised:
        list(open_dataset(tmp_path).movies())
    message = str(raised.value)
    assert message.startswith(f"{tmp_path / 'movies.csv'}:3: ")
    assert f"line {ends}" in message and "unmatched '\"'" in message


def test_kaggle_poster_paths_are_kept_only_when_they_are_paths_or_urls(tmp_path: Path) -> None:
    posters = ["/a.jpg", "", "javascript:alert(1)", "https://img.example/b.png", "/" + "c" * 300]
    (tmp_path / "links_small.csv").write_text(
        "movieId,imdbId,tmdbId\n" + "".join(f"{n},,{100 + n}\n" for n in range(len(posters)))
    )
    (tmp_path / "movies_metadata.csv").write_text(
        "id,title,genres,poster_path\n"
        + "".join(f"{100 + n},Movie {n},[],{poster}\n" for n, poster in enumerate(posters))
    )
    (tmp_path / "ratings_small.csv").write_text("userId,movieId,rating,timestamp\n1,0,4.0,100\n")
    movies = list(open_dataset(tmp_path).movies())
    assert [m.poster_path for m in movies] == [
        "/a.jpg",
        None,
        None,
        "https://img.example/b.png",
        None,  # longer than the column
    ]


def test_overviews_of_kaggle_metadata_may_span_lines() -> None:
    _fmt, movies, _ratings, _tags, _problems = read("kaggle")
    assert "\n" in (movies[0].overview or "")


def make_several(directory: Path) -> Path:
    """``u.data`` beside ``ratings.csv`` and ``ratings.dat``."""
    directory.mkdir(exist_ok=True)
    (directory / "u.data").write_text("1\t1\t5\t0\n")
    (directory / "ratings.dat").write_text("1::1::5::0\n2::1::3::0\n")
    (directory / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.0,100\n")
    return directory


def test_a_directory_with_several_formats_names_them_and_asks_for_one(tmp_path: Path) -> None:
    path = make_several(tmp_path)
    with pytest.raises(DatasetError) as raised:
        open_dataset(path)
    message = str(raised.value)
    for candidate in (
        "movielens-100k (u.data)",
        "movielens-dat (ratings.dat)",
        "movielens-csv (ratings.csv)",
    ):
        assert candidate in message
    assert "--format" in message
    chosen = open_dataset(path, format_name="movielens-dat")
    assert chosen.format_name == "movielens-dat" and len(list(chosen.ratings())) == 2


def test_a_chosen_format_must_fit_the_path(tmp_path: Path) -> None:
    path = make_several(tmp_path)
    with pytest.raises(DatasetError, match="netflix"):
        open_dataset(path, format_name="netflix")
    with pytest.raises(DatasetError, match="reads a single file"):
        open_dataset(path, format_name="ratings-file")
    with pytest.raises(DatasetError, match="unknown format 'nope'"):
        open_dataset(path, format_name="nope")
    assert open_dataset(path / "u.data", format_name="ratings-file").format_name == "ratings-file"


def test_kaggle_full_ratings_csv_is_not_a_second_format(tmp_path: Path) -> None:
    (tmp_path / "movies_metadata.csv").write_text("id,title,genres\n")
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.0,100\n")
    assert open_dataset(tmp_path).format_name == "kaggle-movies"
