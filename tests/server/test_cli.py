"""The ``movierec`` command line, run in a real subprocess against the test database."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from server.datasets.synthetic import SyntheticSpec, write_dataset
from server.db import Database
from tests.conftest import FIXTURES
from tests.server.test_importer import failing_user  # noqa: F401 (a fixture)


def movierec(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "server", *args]
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def env(database: Database, database_url: str, tmp_path: Path) -> dict[str, str]:
    return os.environ | {"MOVIEREC_DATABASE_URL": database_url, "MOVIEREC_DATA_DIR": str(tmp_path)}


def test_import_then_stats_json(env: dict[str, str]) -> None:
    result = movierec("import", str(FIXTURES / "ml-latest"), env=env)
    assert result.returncode == 0, result.stderr
    assert "added 3 users, 4 movies, 5 ratings, 0 feedback;" in result.stdout
    assert "the data changed: a running worker retrains" in result.stdout
    assert "ratings.csv:5: rating '6.0' is not 0.5-5.0" in result.stderr
    stats = json.loads(movierec("stats", "--json", env=env).stdout)
    assert stats | {"users": 3, "movies": 4, "ratings": 5, "events": 1} == stats
    again = movierec("import", "--quiet", str(FIXTURES / "ml-latest"), env=env)
    assert "added 0 users, 0 movies, 0 ratings, 0 feedback;" in again.stdout
    assert "the data changed" not in again.stdout


@pytest.mark.parametrize(
    ("path", "message"), [("does-not-exist", "no such file"), ("ml-100k/u.item", "unknown format")]
)
def test_bad_import_path_fails_with_a_message(env: dict[str, str], path: str, message: str) -> None:
    result = movierec("import", str(FIXTURES / path), env=env)
    assert result.returncode != 0
    assert message in result.stderr and "Traceback" not in result.stderr


def test_generate_writes_a_dataset(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "synthetic"
    args = (
        "generate",
        "--users",
        "50",
        "--movies",
        "100",
        "--ratings",
        "2000",
        "--seed",
        "1",
        str(out),
    )
    result = movierec(*args, env=env)
    assert result.returncode == 0, result.stderr
    assert (out / "ratings.csv").read_text().count("\n") == 2001


def test_generate_rejects_bad_sizes(env: dict[str, str], tmp_path: Path) -> None:
    result = movierec("generate", "--users", "0", str(tmp_path / "x"), env=env)
    assert result.returncode == 2 and "--users" in result.stderr
    result = movierec(
        "generate", "--users", "2", "--movies", "2", "--ratings", "4", str(tmp_path / "x"), env=env
    )
    assert result.returncode == 1 and "more than half" in result.stderr


def test_bad_setting_fails_with_a_message(env: dict[str, str]) -> None:
    result = movierec("stats", env=env | {"MOVIEREC_MAX_BODY_BYTES": "lots"})
    assert result.returncode == 1 and "whole number" in result.stderr


def test_api_key_is_generated_once_and_kept_private(env: dict[str, str], tmp_path: Path) -> None:
    env = {k: v for k, v in env.items() if k != "MOVIEREC_API_KEYS"}
    first = movierec("api-key", env=env).stdout.strip()
    assert len(first) >= 32 and movierec("api-key", env=env).stdout.strip() == first
    assert (tmp_path / "api_key").stat().st_mode & 0o077 == 0


def test_password_makes_an_existing_user_an_admin(env: dict[str, str], database: Database) -> None:
    from server.services.accounts import authenticate

    movierec("import", "--quiet", str(FIXTURES / "ml-latest"), env=env)
    short = movierec("password", "1", "--password", "short", env=env)
    assert short.returncode == 1 and "at least 8 characters" in short.stderr
    unknown = movierec("password", "nobody", "--password", "long enough", env=env)
    assert unknown.returncode == 1 and "no user 'nobody'" in unknown.stderr
    done = movierec("password", "1", "--admin", "--password", "long enough", env=env)
    assert done.returncode == 0 and "role admin" in done.stdout
    with database.transaction() as session:
        account = authenticate(session, "1", "long enough")
        assert account is not None and account.role == "admin"


def stats(env: dict[str, str]) -> dict[str, int]:
    counts: dict[str, int] = json.loads(movierec("stats", "--json", env=env).stdout)
    return counts


def test_import_of_a_latin1_ratings_file_fails_cleanly_and_changes_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    source = tmp_path / "latin1"
    source.mkdir()
    (source / "movies.csv").write_text("movieId,title,genres\n1,Heat (1995),Crime\n")
    (source / "ratings.csv").write_bytes(
        b"userId,movieId,rating,timestamp\n1,1,4.0,100\n2,Am\xe9lie,4.0,100\n"
    )
    result = movierec("import", str(source), env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"{source / 'ratings.csv'}:3: byte 0xe9 (offset 48) is not UTF-8" in result.stderr
    assert "Latin-1" in result.stderr
    assert stats(env) | {"users": 0, "movies": 0, "ratings": 0} == stats(env)


def test_import_refuses_several_formats_until_one_is_chosen(
    env: dict[str, str], tmp_path: Path
) -> None:
    source = tmp_path / "several"
    source.mkdir()
    (source / "u.data").write_text("1\t1\t5\t0\n")
    (source / "ratings.dat").write_text("1::1::5::0\n2::1::3::0\n")
    refused = movierec("import", str(source), env=env)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "movielens-100k (u.data), movielens-dat (ratings.dat)" in refused.stderr
    assert "--format" in refused.stderr
    chosen = movierec("import", "--quiet", "--format", "movielens-dat", str(source), env=env)
    assert chosen.returncode == 0, chosen.stderr
    assert "imported movielens-dat" in chosen.stdout and "2 ratings" in chosen.stdout


def test_import_skips_a_timestamp_out_of_range_with_a_warning(
    env: dict[str, str], tmp_path: Path
) -> None:
    source = tmp_path / "ratings.csv"
    source.write_text("userId,movieId,rating,timestamp\n1,1,4.0,99999999999999999999999\n1,2,3,9\n")
    result = movierec("import", "--quiet", str(source), env=env)
    assert result.returncode == 0, result.stderr
    assert "timestamp '99999999999999999999999' is out of range" in result.stderr
    assert "added 1 users, 1 movies, 1 ratings" in result.stdout


def test_import_stopped_by_the_database_says_so_without_a_traceback(
    env: dict[str, str],
    failing_user: Callable[[str], None],  # noqa: F811 (the fixture)
) -> None:
    failing_user("2")  # a user of the ml-latest fixture
    result = movierec("import", "--quiet", str(FIXTURES / "ml-latest"), env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "Error: the import stopped: " in result.stderr and "disk full" in result.stderr
    assert "run again resumes where it stopped" in result.stderr


def test_import_of_another_catalogue_stops_until_replace_is_asked(
    env: dict[str, str], tmp_path: Path, settings: dict[str, Any]
) -> None:
    env = env | {"MOVIEREC_REDIS_URL": settings["redis_url"]}
    other = tmp_path / "synthetic"
    write_dataset(SyntheticSpec(users=20, movies=40, ratings=300, seed=2), other)
    assert movierec("import", "--quiet", str(other), env=env).returncode == 0
    before = stats(env)
    refused = movierec("import", "--quiet", str(FIXTURES / "ml-latest"), env=env)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.count("\n") == 1, refused.stderr  # one line
    assert "3 of the 3 movie ids it shares with the database belong to other movies" in (
        refused.stderr
    )
    assert "--replace" in refused.stderr and "MOVIEREC_DATA_DIR" in refused.stderr
    assert stats(env) == before
    # serve --demo=PATH into a database holding another catalogue stops before serving
    port = str(free_port())
    demo = movierec("serve", "--port", port, f"--demo={FIXTURES / 'ml-latest'}", env=env)
    assert demo.returncode == 1 and "Traceback" not in demo.stderr
    assert "would merge two catalogues" in demo.stderr and "listening" not in demo.stdout
    replaced = movierec("import", "--quiet", "--replace", str(FIXTURES / "ml-latest"), env=env)
    assert replaced.returncode == 0, replaced.stderr
    assert "replaced the catalogue: deleted 300 ratings" in replaced.stderr
    assert stats(env) | {"users": 3, "movies": 4, "ratings": 5, "events": 1} == stats(env)
    again = movierec("import", "--quiet", str(FIXTURES / "ml-latest"), env=env)
    assert again.returncode == 0 and "added 0 users, 0 movies" in again.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_export_imports_back_to_the_same_catalogue_and_ratings(
    env: dict[str, str], tmp_path: Path
) -> None:
    source = tmp_path / "source"
    write_dataset(SyntheticSpec(users=30, movies=80, ratings=900, seed=4), source)
    # Feedback besides stars, from someone who rated too and from someone who did not.
    (source / "feedback.csv").write_text(
        "userId,movieId,type,timestamp\n1,1,view,1600000000\n1,2,not_interested,1600000001\n"
        "watcher,3,watchlist,1600000002\nwatcher,3,like,1600000003\nwatcher,4,love,1\n"
    )
    imported = movierec("import", str(source), env=env)
    assert imported.returncode == 0 and "love" in imported.stdout + imported.stderr  # reported
    exported = movierec("export", str(tmp_path / "exported"), env=env)
    assert exported.returncode == 0, exported.stderr
    assert "wrote 80 movies, 900 ratings, 4 feedback" in exported.stdout
    assert not list((tmp_path / "exported").glob("*.partial"))
    other = env | {"MOVIEREC_DATABASE_URL": f"sqlite:///{tmp_path / 'other.db'}"}
    again = movierec("import", "--quiet", str(tmp_path / "exported"), env=other)
    assert again.returncode == 0, again.stderr
    first, second = (json.loads(movierec("stats", "--json", env=e).stdout) for e in (env, other))
    counted = ("users", "movies", "ratings", "feedback", "genres")
    assert {k: second[k] for k in counted} == {k: first[k] for k in counted}
    assert (first["ratings"], first["feedback"], first["users"]) == (900, 4, 31)
    twice = movierec("export", str(tmp_path / "twice"), env=other)
    for name in ("movies.csv", "ratings.csv", "links.csv", "feedback.csv"):  # the same rows
        rows = [
            sorted((tmp_path / run / name).read_text().splitlines())
            for run in ("exported", "twice")
        ]
        assert rows[0] == rows[1], name
    assert twice.returncode == 0


def test_export_to_a_file_path_fails_with_a_message(env: dict[str, str], tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = movierec("export", str(blocker / "inside"), env=env)
    assert result.returncode == 1 and "cannot write" in result.stderr
    assert "Traceback" not in result.stderr
