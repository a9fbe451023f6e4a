"""Loading every format into the database: counts, idempotent re-runs, updates, and the one
event an import writes."""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from server.cache.coordination import Coordination
from server.datasets import DatasetError, Problems, importer, open_dataset
from server.datasets.importer import (
    RATINGS_CHUNK,
    CatalogueConflict,
    clear_catalogue,
    import_dataset,
    normalised_title,
)
from server.datasets.synthetic import SyntheticSpec, write_dataset
from server.db import Database
from server.errors import Conflict
from server.models import (
    ChampionSet,
    Genre,
    ModelStatus,
    ModelVersion,
    Movie,
    MovieTag,
    Rating,
    RatingEvent,
    User,
)
from server.services.accounts import create_account
from server.services.imports import replace_catalogue
from server.services.stats import database_counts
from tests.conftest import FIXTURES
from tests.server.test_datasets import GOOD_RATINGS, LAYOUTS, dataset_with

EXPECTED = {  # users, movies, ratings after importing each fixture
    "ml-100k": (3, 3, 5),
    "ml-1m": (3, 3, 4),
    "ml-10m": (2, 2, 3),
    "ml-latest": (3, 4, 5),
    "kaggle": (2, 3, 3),
    "netflix": (2, 3, 4),
    "ml-100k/u1.base": (2, 3, 2),  # the catalogue of u.item beside it
}


def counts(database: Database) -> dict[str, int]:
    with database.transaction() as session:
        return database_counts(session)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_import_loads_everything_and_a_rerun_adds_nothing(database: Database, name: str) -> None:
    summary = import_dataset(database, open_dataset(FIXTURES / name, Problems()))
    users, movies, ratings = EXPECTED[name]
    first = counts(database)
    assert (first["users"], first["movies"], first["ratings"]) == (users, movies, ratings)
    assert first["events"] == 1  # the import's one event, not one per rating
    assert summary.added["ratings"] == ratings
    again = import_dataset(database, open_dataset(FIXTURES / name, Problems()))
    assert counts(database) == first
    assert again.added == {"users": 0, "movies": 0, "ratings": 0, "feedback": 0, "events": 0}


def test_import_keeps_metadata_genres_and_tags(database: Database) -> None:
    import_dataset(database, open_dataset(FIXTURES / "ml-latest", Problems()))
    with database.transaction() as session:
        toy = session.scalars(select(Movie).where(Movie.external_id == "1")).one()
        assert (toy.title, toy.year, toy.imdb_id, toy.tmdb_id) == (
            "Toy Story",
            1995,
            "tt0114709",
            862,
        )
        assert [g.name for g in toy.genres] == [
            "Adventure",
            "Animation",
            "Children",
            "Comedy",
            "Fantasy",
        ]
        assert [(t.tag, t.count) for t in toy.tags] == [("pixar", 2)]


def test_kaggle_import_keeps_poster_paths(database: Database) -> None:
    import_dataset(database, open_dataset(FIXTURES / "kaggle", Problems()))
    with database.transaction() as session:
        rows = session.execute(select(Movie.external_id, Movie.poster_path))
        posters = {movie: poster for movie, poster in rows}
    assert posters == {"31": "/x.jpg", "1029": "/y.jpg", "1030": None}


def test_a_changed_rating_is_updated_and_each_import_marks_the_data_changed(
    database: Database, tmp_path: Path
) -> None:
    source = tmp_path / "ratings.csv"
    source.write_text("userId,movieId,rating,timestamp\n1,1,4.0,100\n1,2,3.0,100\n")
    import_dataset(database, open_dataset(source, Problems()))
    source.write_text("userId,movieId,rating,timestamp\n1,1,2.5,200\n1,2,3.0,200\n")
    summary = import_dataset(database, open_dataset(source, Problems()))
    assert summary.ratings_updated == 1
    with database.transaction() as session:
        values = sorted(session.execute(select(Rating.half_stars, Rating.updated_at)).all())
        kinds = session.scalars(select(RatingEvent.kind).order_by(RatingEvent.id)).all()
    assert [tuple(v) for v in values] == [(5, 200), (6, 100)]
    assert kinds == ["imported", "imported"]
    import_dataset(database, open_dataset(source, Problems()))  # the same again: no change
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(RatingEvent)) == 2


def test_the_newest_duplicate_in_a_file_wins(database: Database, tmp_path: Path) -> None:
    source = tmp_path / "ratings.csv"
    source.write_text("userId,movieId,rating,timestamp\n1,1,5.0,300\n1,1,1.0,100\n")
    import_dataset(database, open_dataset(source, Problems()))
    with database.transaction() as session:
        assert session.scalars(select(Rating.half_stars)).all() == [10]


NOTHING = {"users": 0, "movies": 0, "ratings": 0, "events": 0, "genres": 0}


def nothing_stored(database: Database) -> bool:
    return counts(database) | NOTHING == counts(database)


@pytest.mark.parametrize("name", sorted(LAYOUTS))
@pytest.mark.parametrize("bad", [b"2,Am\xe9lie\n", bytes(range(256)) * 40])
def test_a_file_that_cannot_be_read_changes_nothing(
    database: Database, tmp_path: Path, name: str, bad: bytes
) -> None:
    # Enough good ratings before the bad byte for a whole chunk to be written by a loader
    # that wrote as it read.
    good = GOOD_RATINGS[name].encode() * (RATINGS_CHUNK // 2 + 1)
    path = dataset_with(tmp_path, name, good + bad)
    with pytest.raises(DatasetError, match=f"{name}:"):
        import_dataset(database, open_dataset(path, Problems()))
    assert nothing_stored(database)


def test_an_unmatched_quote_changes_nothing(database: Database, tmp_path: Path) -> None:
    (tmp_path / "movies.csv").write_text(
        'movieId,title,genres\n1,Heat (1995),Crime\n2,"Alien (1979),Horror\n3,Up",Drama\n'
    )
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.0,100\n")
    with pytest.raises(DatasetError, match=r"movies\.csv:3: a quoted field runs on to line 4"):
        import_dataset(database, open_dataset(tmp_path, Problems()))
    assert nothing_stored(database)


def test_a_timestamp_too_large_for_the_database_is_skipped(
    database: Database, tmp_path: Path
) -> None:
    source = tmp_path / "ratings.csv"
    source.write_text(
        "userId,movieId,rating,timestamp\n1,1,4.0,99999999999999999999999\n1,2,3.0,100\n"
    )
    problems = Problems()
    summary = import_dataset(database, open_dataset(source, problems))
    assert summary.added["ratings"] == 1 and summary.problems == 1
    assert problems.messages == [
        f"{source}:2: timestamp '99999999999999999999999' is out of range (0 to 253402300799)"
    ]


def test_problems_are_reported_once_though_the_dataset_is_read_twice(database: Database) -> None:
    problems = Problems()
    summary = import_dataset(database, open_dataset(FIXTURES / "ml-latest", problems))
    assert summary.problems == 1 and len(problems.messages) == 1


def test_text_is_stored_as_every_database_takes_it(database: Database, tmp_path: Path) -> None:
    long_title = "A" * 600
    (tmp_path / "movies.dat").write_text(
        f"1::Nul\x00Title (1995)::Drama|\x00|{'G' * 70}\n2::{long_title}::Drama\n"
    )
    (tmp_path / "ratings.dat").write_text("1::1::4::100\n")
    (tmp_path / "tags.dat").write_text("1::1::a\x00tag::100\n1::1::\x00::100\n")
    import_dataset(database, open_dataset(tmp_path, Problems()))
    with database.transaction() as session:
        titles = session.scalars(select(Movie.title).order_by(Movie.external_id)).all()
        genres = sorted(session.scalars(select(Genre.name)))
        tags = session.scalars(select(MovieTag.tag)).all()
    assert titles == ["NulTitle", "A" * 500]
    assert genres == ["Drama", "G" * 64] and tags == ["atag"]


@pytest.fixture
def failing_user(database: Database) -> Iterator[Callable[[str], None]]:
    """Makes the database refuse one user's ratings, as a full disk would: a real trigger, no
    mock. Call the result with the user's id; the trigger is gone after the test (or at once,
    called with "")."""
    postgres = database.engine.dialect.name == "postgresql"

    def drop() -> None:
        with database.transaction() as session:
            session.execute(text("DROP TRIGGER IF EXISTS stop_import" + (" ON ratings" * postgres)))
            if postgres:
                session.execute(text("DROP FUNCTION IF EXISTS stop_import()"))

    def install(user: str) -> None:
        drop()
        if not user:
            return
        assert user.isdigit()  # inlined in the DDL below
        with database.transaction() as session:
            if postgres:
                session.execute(
                    text(
                        "CREATE FUNCTION stop_import() RETURNS trigger LANGUAGE plpgsql AS $$ "
                        "BEGIN IF NEW.user_id = (SELECT id FROM users WHERE external_id = "
                        f"'{user}') THEN RAISE EXCEPTION 'disk full'; END IF; RETURN NEW; END $$"
                    )
                )
                session.execute(
                    text(
                        "CREATE TRIGGER stop_import BEFORE INSERT ON ratings FOR EACH ROW "
                        "EXECUTE FUNCTION stop_import()"
                    )
                )
            else:
                session.execute(
                    text(
                        "CREATE TRIGGER stop_import BEFORE INSERT ON ratings WHEN NEW.user_id = "
                        f"(SELECT id FROM users WHERE external_id = '{user}') "
                        "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
                    )
                )

    yield install
    drop()


def stored_ratings(database: Database) -> set[tuple[str, str, int, int]]:
    with database.transaction() as session:
        rows = session.execute(
            select(User.external_id, Movie.external_id, Rating.half_stars, Rating.created_at)
            .join(User, User.id == Rating.user_id)
            .join(Movie, Movie.id == Rating.movie_id)
        )
        return {(u, m, h, t) for u, m, h, t in rows}


def test_an_import_stopped_by_the_database_resumes_exactly(
    database: Database,
    tmp_path: Path,
    failing_user: Callable[[str], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "synthetic"
    write_dataset(SyntheticSpec(users=300, movies=600, ratings=70_000, seed=5), path)
    with (path / "ratings.csv").open() as handle:
        rows = list(csv.reader(handle))[1:]
    expected = {(u, m, int(float(r) * 2), int(t)) for u, m, r, t in rows}
    late_user = rows[RATINGS_CHUNK + 10_000][0]  # first seen in the second chunk
    assert late_user not in {row[0] for row in rows[:RATINGS_CHUNK]}
    failing_user(late_user)
    monkeypatch.setattr(importer, "BIG_RATINGS_CHUNK", RATINGS_CHUNK)  # two chunks on any database
    with pytest.raises(SQLAlchemyError, match="disk full"):
        import_dataset(database, open_dataset(path, Problems()))
    assert counts(database)["ratings"] == RATINGS_CHUNK  # whole chunks only
    failing_user("")
    import_dataset(database, open_dataset(path, Problems()))
    done = counts(database)
    assert (done["users"], done["movies"], done["ratings"]) == (300, 600, len(rows))
    assert done["events"] == 1  # the resumed run's: the stopped one ended before its event
    assert stored_ratings(database) == expected


def synthetic(tmp_path: Path, movies: int = 40) -> Path:
    """A small synthetic dataset: its movie ids 1..N name other movies than the fixtures'."""
    path = tmp_path / "synthetic"
    write_dataset(SyntheticSpec(users=20, movies=movies, ratings=300, seed=2), path)
    return path


def test_another_catalogue_on_the_same_ids_is_refused_and_changes_nothing(
    database: Database, tmp_path: Path
) -> None:
    import_dataset(database, open_dataset(synthetic(tmp_path), Problems()))
    before = counts(database)
    with pytest.raises(CatalogueConflict) as refused:
        import_dataset(database, open_dataset(FIXTURES / "ml-latest", Problems()))
    message = str(refused.value)
    assert "3 of the 3 movie ids it shares with the database belong to other movies" in message
    assert "id 1 is 'The " in message and "'Toy Story' here" in message
    assert "--replace" in message and "MOVIEREC_DATA_DIR" in message
    assert "\n" not in message
    assert counts(database) == before


def test_a_reimport_with_a_few_retitled_movies_still_loads(
    database: Database, tmp_path: Path
) -> None:
    path = synthetic(tmp_path)
    import_dataset(database, open_dataset(path, Problems()))
    movies = (path / "movies.csv").read_text().splitlines()
    movies[1] = movies[1].replace("The ", "A corrected title, The ", 1)  # one of 40 retitled
    movies[2] = movies[2].upper()  # case and a trailing year do not count
    (path / "movies.csv").write_text("\n".join(movies) + "\n")
    (path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.0,100\n")
    summary = import_dataset(database, open_dataset(path, Problems()))
    assert summary.added["movies"] == 0


def test_normalised_titles() -> None:
    assert normalised_title("American President, The (1995)") == normalised_title(
        "the american president"
    )
    assert normalised_title("Heat") != normalised_title("Alien")


def test_clearing_the_catalogue_keeps_accounts_and_retires_models(
    database: Database, tmp_path: Path
) -> None:
    import_dataset(database, open_dataset(synthetic(tmp_path), Problems()))
    with database.transaction() as session:
        create_account(session, "ada", "a long enough password")
        session.add(
            ModelVersion(
                algorithm="als",
                number=3,
                plugin_version="1",
                params={},
                data_version=300,
                rating_count=300,
                metrics={},
                status=ModelStatus.ACTIVE,
                artifact=str(tmp_path / "models" / "als" / "3"),
                created_at=1,
            )
        )
        session.add(ChampionSet(choice={}, cause="test", status="active", chosen_at=1))
    with database.transaction() as session:
        deleted = clear_catalogue(session)
    assert deleted["movies"] == 40 and deleted["users"] == 20 and deleted["model versions"] == 1
    after = counts(database)
    assert (after["users"], after["movies"], after["ratings"], after["events"]) == (1, 0, 0, 0)
    with database.transaction() as session:
        version = session.scalars(select(ModelVersion)).one()
        assert (version.status, version.artifact, version.data_version) == ("retired", None, -1)
        assert session.scalars(select(ChampionSet.status)).all() == ["retired"]
        assert session.scalars(select(User.external_id)).all() == ["ada"]
    import_dataset(database, open_dataset(FIXTURES / "ml-latest", Problems()))
    assert counts(database)["movies"] == 4


def test_replacing_drops_cached_lists_and_artifacts_and_waits_for_workers(
    database: Database, tmp_path: Path, redis_client: redis.Redis, settings: dict[str, Any]
) -> None:
    import_dataset(database, open_dataset(synthetic(tmp_path), Problems()))
    artifact = tmp_path / "models" / "als" / "1"
    artifact.mkdir(parents=True)
    (artifact / "model.npz").write_bytes(b"x")
    with database.transaction() as session:
        session.add(
            ModelVersion(
                algorithm="als",
                number=1,
                plugin_version="1",
                params={},
                data_version=1,
                rating_count=1,
                metrics={},
                status=ModelStatus.ACTIVE,
                artifact=str(artifact),
                created_at=1,
            )
        )
    cached = ["movierec:recs:als:1", "movierec:similar:als:1", "movierec:active:als"]
    for key in [*cached, "movierec:popular:0:"]:
        redis_client.set(key, b"old")
    Coordination(redis_client).beat_heartbeat(int(time.time()))
    with pytest.raises(Conflict, match="stop 'movierec serve'"):
        replace_catalogue(database, redis_client)
    assert counts(database)["movies"] == 40  # nothing changed
    redis_client.delete("movierec:heartbeat:worker")  # the worker stopped
    redis_client.set("movierec:lock:train:ease", b"kept")
    deleted = replace_catalogue(database, redis_client)
    assert deleted["cached lists"] == 4 and deleted["movies"] == 40
    assert [key for key in cached if redis_client.exists(key)] == []
    assert redis_client.exists("movierec:lock:train:ease")
    assert not artifact.exists()
    summary = import_dataset(database, open_dataset(FIXTURES / "ml-latest", Problems()))
    assert summary.added["movies"] == 4


def rating_checks(database: Database) -> dict[str, bool]:
    """The foreign keys and secondary index of ``ratings`` present, each with its validity."""
    with database.transaction() as session:
        keys = session.execute(
            text(
                "SELECT conname, convalidated FROM pg_constraint "
                "WHERE conrelid = 'ratings'::regclass AND contype = 'f'"
            )
        )
        indexes = session.execute(
            text(
                "SELECT c.relname, i.indisvalid FROM pg_index i "
                "JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE i.indrelid = 'ratings'::regclass AND NOT i.indisprimary"
            )
        )
        return {str(name): bool(valid) for name, valid in [*keys, *indexes]}


ALL_CHECKS = {
    "fk_ratings_user_id_users": True,
    "fk_ratings_movie_id_movies": True,
    "ix_ratings_movie_id": True,
}


@pytest.fixture
def postgres(database: Database) -> Database:
    if database.dialect != "postgresql":
        pytest.skip("the first load drops and makes keys on PostgreSQL only")
    return database


def test_a_first_load_makes_the_rating_keys_and_index_after_the_ratings(
    postgres: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "FIRST_LOAD_MIN_RATINGS", 0)
    path = tmp_path / "synthetic"
    write_dataset(SyntheticSpec(users=60, movies=150, ratings=3000, seed=4), path)
    seen_while_loading: list[dict[str, bool]] = []
    import_dataset(
        postgres, open_dataset(path), lambda _n: seen_while_loading.append(rating_checks(postgres))
    )
    assert seen_while_loading and seen_while_loading[0] == {}  # loaded without them
    assert rating_checks(postgres) == ALL_CHECKS  # made again, validated
    assert counts(postgres)["ratings"] == 3000
    seen_while_loading.clear()
    (tmp_path / "more.csv").write_text("userId,movieId,rating,timestamp\n1,2,4.0,5\n")
    import_dataset(
        postgres,
        open_dataset(tmp_path / "more.csv"),
        lambda _n: seen_while_loading.append(rating_checks(postgres)),
    )
    assert seen_while_loading == [ALL_CHECKS]  # ratings there already: loaded with the checks


def test_keys_a_dead_first_load_left_dropped_come_back_without_orphans(
    postgres: Database,
    tmp_path: Path,
    failing_user: Callable[[str], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(importer, "FIRST_LOAD_MIN_RATINGS", 0)
    monkeypatch.setattr(importer, "BIG_RATINGS_CHUNK", 1000)
    path = tmp_path / "synthetic"
    write_dataset(SyntheticSpec(users=60, movies=150, ratings=3000, seed=4), path)
    with (path / "ratings.csv").open() as handle:
        late_user = list(csv.reader(handle))[2500][0]
    failing_user(late_user)
    with pytest.raises(SQLAlchemyError, match="disk full"):
        import_dataset(postgres, open_dataset(path))
    assert rating_checks(postgres) == ALL_CHECKS  # restored on the way out
    failing_user("")
    with postgres.transaction() as session:  # a process killed mid-load leaves them dropped...
        session.execute(text("ALTER TABLE ratings DROP CONSTRAINT fk_ratings_user_id_users"))
        session.execute(text("DROP INDEX ix_ratings_movie_id"))
        # ... and meanwhile a person went, their ratings left behind
        gone = session.scalar(select(Rating.user_id).limit(1))
        session.execute(text("DELETE FROM users WHERE id = :id"), {"id": gone})
    importer.restore_rating_checks(postgres)
    assert rating_checks(postgres) == ALL_CHECKS
    with postgres.transaction() as session:
        assert not session.scalar(select(func.count()).where(Rating.user_id == gone))
    import_dataset(postgres, open_dataset(path))  # the same import resumes
    assert counts(postgres)["ratings"] == 3000


def test_an_import_leaves_the_planner_statistics_of_what_it_loaded(
    postgres: Database, tmp_path: Path
) -> None:
    path = tmp_path / "synthetic"
    write_dataset(SyntheticSpec(users=60, movies=150, ratings=3000, seed=4), path)
    import_dataset(postgres, open_dataset(path))
    with postgres.transaction() as session:
        estimated = session.execute(
            text("SELECT reltuples FROM pg_class WHERE relname = 'ratings'")
        ).scalar_one()
    # Analyzed, the planner knows the table's rows (-1 before any ANALYZE, on PostgreSQL 14+).
    assert estimated == 3000
