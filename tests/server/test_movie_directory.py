"""The web process's movie rows: kept, read again once older than ``ROW_LIFETIME_SECONDS``; a small
catalogue read whole and held, a big one read per movie."""

from __future__ import annotations

from sqlalchemy import delete, update

from server.db import Database
from server.models import Movie
from server.serving.movie_directory import ROW_LIFETIME_SECONDS, MovieDirectory


def add_movies(database: Database, *external_ids: str) -> dict[str, int]:
    with database.transaction() as session:
        movies = [Movie(external_id=e, title=e.upper(), created_at=0) for e in external_ids]
        session.add_all(movies)
        session.flush()
        return {movie.external_id: movie.id for movie in movies}


def set_poster(database: Database, movie: int, poster: str) -> None:
    with database.transaction() as session:
        session.execute(update(Movie).where(Movie.id == movie).values(poster_path=poster))


def test_rows_are_kept_then_read_again_once_old(database: Database) -> None:
    ids = add_movies(database, "a", "b")
    now = [1000.0]
    directory = MovieDirectory(database, clock=lambda: now[0], hold_all=1)  # per movie
    first = directory.rows([ids["a"], ids["b"]])
    assert first[ids["a"]].poster_path is None
    set_poster(database, ids["a"], "/new.jpg")  # as movierec enrich does
    now[0] += ROW_LIFETIME_SECONDS - 1
    assert directory.rows([ids["a"]])[ids["a"]].poster_path is None  # kept: no database read
    now[0] += 1
    assert directory.rows([ids["a"]])[ids["a"]].poster_path == "/new.jpg"
    # b was read in the same batch: stale too, read again on its next use.
    set_poster(database, ids["b"], "/b.jpg")
    assert directory.rows([ids["b"]])[ids["b"]].poster_path == "/b.jpg"
    # Read again, a row lives a whole lifetime more.
    set_poster(database, ids["a"], "/newer.jpg")
    now[0] += ROW_LIFETIME_SECONDS - 1
    assert directory.rows([ids["a"]])[ids["a"]].poster_path == "/new.jpg"


def test_a_movie_gone_from_the_database_leaves_once_its_row_is_old(database: Database) -> None:
    ids = add_movies(database, "a", "b")
    now = [0.0]
    directory = MovieDirectory(database, clock=lambda: now[0], hold_all=1)  # per movie
    assert set(directory.rows(list(ids.values()))) == set(ids.values())
    with database.transaction() as session:  # as import --replace does
        session.execute(delete(Movie).where(Movie.id == ids["b"]))
    assert set(directory.rows(list(ids.values()))) == set(ids.values())
    now[0] += ROW_LIFETIME_SECONDS
    assert set(directory.rows(list(ids.values()))) == {ids["a"]}


def test_a_small_catalogue_is_read_whole_and_held(database: Database) -> None:
    ids = add_movies(database, "a", "b")
    now = [0.0]
    directory = MovieDirectory(database, clock=lambda: now[0])
    assert directory.rows([ids["a"]])[ids["a"]].title == "A"
    added = add_movies(database, "c")  # a movie added since is read on its first use
    assert directory.rows([added["c"]])[added["c"]].title == "C"
    with database.transaction() as session:  # held since the first read: no reads after it
        session.execute(delete(Movie).where(Movie.id == ids["b"]))
    set_poster(database, ids["a"], "/a.jpg")
    assert directory.rows([ids["b"]])[ids["b"]].title == "B"
    assert directory.rows([ids["a"]])[ids["a"]].poster_path is None
    now[0] += ROW_LIFETIME_SECONDS  # old: read whole again
    assert set(directory.rows([ids["a"], ids["b"], added["c"]])) == {ids["a"], added["c"]}
    assert directory.rows([ids["a"]])[ids["a"]].poster_path == "/a.jpg"


def test_a_held_catalogue_is_read_whole_again_when_its_generation_changes(
    database: Database,
) -> None:
    ids = add_movies(database, "a")
    directory = MovieDirectory(database, clock=lambda: 0.0)
    directory.follow(b"1")
    assert directory.rows([ids["a"]])[ids["a"]].poster_path is None
    set_poster(database, ids["a"], "/a.jpg")
    directory.follow(b"1")
    assert directory.rows([ids["a"]])[ids["a"]].poster_path is None
    directory.follow(b"2")  # a movie edited: server.serving.catalogue raised the generation
    assert directory.rows([ids["a"]])[ids["a"]].poster_path == "/a.jpg"
