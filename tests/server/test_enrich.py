"""``movierec enrich``: posters and overviews from a local stand-in for TMDb's API, written to the
real test database; paced, resumable, and never showing the API key."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
from sqlalchemy import select

from server.db import Database
from server.models import Movie
from server.services.enrich import TmdbClient, enrich_movies
from server.tasks import ENRICH_MOVIES, TRAINING_QUEUE
from tests.server.test_cli import movierec

API_KEY = "0123456789abcdef0123456789abcdef"
# An API read access token is a JWT: sent as a bearer token, not in the URL.
READ_TOKEN = "eyJhbGciOiJIUzI1NiJ9." + "e" * 80 + ".signature"
NOT_FOUND = {"success": False, "status_code": 34, "status_message": "not found"}

# TMDb id -> the movie's JSON, or None for a 404.
STAND_IN: dict[int, dict[str, Any] | None] = {
    101: {"id": 101, "title": "One", "poster_path": "/p101.jpg", "overview": "The first one."},
    102: {"id": 102, "title": "Two", "poster_path": None, "overview": "TMDb's two."},
    103: None,
    104: {"id": 104, "title": "Four", "poster_path": "/p104.jpg", "overview": ""},
    105: {"id": 105, "title": "Five", "poster_path": "javascript:alert(1)", "overview": "Five."},
}


class StandIn:
    """TMDb's ``GET /3/movie/{id}`` on a local port: counts requests per TMDb id, answers 429
    (``Retry-After: 0``) once for each id in ``limited``, 401 to any other key."""

    def __init__(self) -> None:
        self.requests: Counter[int] = Counter()
        self.limited = {102}
        self.failing: set[int] = set()  # answered 500 once each
        self.keys_seen: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                key = parse_qs(url.query).get("api_key", [""])[0]
                bearer = self.headers.get("Authorization", "").removeprefix("Bearer ")
                owner.keys_seen.append(key or bearer)
                tmdb_id = int(url.path.rsplit("/", 1)[-1])
                owner.requests[tmdb_id] += 1
                if (key or bearer) not in (API_KEY, READ_TOKEN):
                    return self._answer(401, {"status_code": 7, "status_message": "no"})
                if tmdb_id in owner.failing:
                    owner.failing.discard(tmdb_id)
                    return self._answer(500, {"status_code": 11})
                if tmdb_id in owner.limited:
                    owner.limited.discard(tmdb_id)
                    return self._answer(429, {"status_code": 25}, {"Retry-After": "0"})
                found = STAND_IN.get(tmdb_id)
                self._answer(404, NOT_FOUND) if found is None else self._answer(200, found)

            def _answer(
                self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
            ) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def tmdb() -> Iterator[StandIn]:
    stand_in = StandIn()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def catalogue(database: Database) -> Database:
    """Movies with and without TMDb ids, posters and overviews."""
    rows = [
        ("m1", 101, None, None),  # both filled
        ("m2", 102, None, "Ours."),  # no poster on TMDb; our overview kept
        ("m3", 103, None, None),  # 404: remembered as asked
        ("m4", 104, None, "Kept."),  # poster filled; TMDb's empty overview changes nothing
        ("m5", 105, None, None),  # a poster path that is not one is dropped
        ("m6", None, None, None),  # no TMDb id: never asked
        ("m7", 107, "/mine.jpg", "Mine."),  # nothing missing: never asked
    ]
    with database.transaction() as session:
        for external_id, tmdb_id, poster, overview in rows:
            session.add(
                Movie(
                    external_id=external_id,
                    title=external_id.upper(),
                    tmdb_id=tmdb_id,
                    poster_path=poster,
                    overview=overview,
                    created_at=0,
                )
            )
    return database


@pytest.fixture
def env(catalogue: Database, database_url: str, tmp_path: Path, tmdb: StandIn) -> dict[str, str]:
    return os.environ | {
        "MOVIEREC_DATABASE_URL": database_url,
        "MOVIEREC_DATA_DIR": str(tmp_path),
        "MOVIEREC_TMDB_API_URL": tmdb.url,
        "MOVIEREC_TMDB_API_KEY": API_KEY,
        "MOVIEREC_TMDB_REQUESTS_PER_SECOND": "200",
    }


def details(database: Database) -> dict[str, tuple[str | None, str | None, bool]]:
    """Each movie's poster path, overview and whether TMDb was asked about it."""
    with database.transaction() as session:
        rows = session.execute(
            select(Movie.external_id, Movie.poster_path, Movie.overview, Movie.details_checked_at)
        ).all()
    return {movie: (poster, overview, asked is not None) for movie, poster, overview, asked in rows}


def test_enrich_fills_posters_and_overviews_and_asks_each_movie_once(
    env: dict[str, str], catalogue: Database, tmdb: StandIn
) -> None:
    result = movierec("enrich", env=env)
    assert result.returncode == 0, result.stderr
    assert details(catalogue) == {
        "m1": ("/p101.jpg", "The first one.", True),
        "m2": (None, "Ours.", True),
        "m3": (None, None, True),
        "m4": ("/p104.jpg", "Kept.", True),
        "m5": (None, "Five.", True),
        "m6": (None, None, False),
        "m7": ("/mine.jpg", "Mine.", False),
    }
    # 102 twice: its 429 (Retry-After: 0) was waited out and asked again.
    assert tmdb.requests == {101: 1, 102: 2, 103: 1, 104: 1, 105: 1}
    assert (
        "asked TMDb about 5 movies: 2 posters and 2 overviews filled, 1 not on TMDb, 0 failed"
        in result.stdout
    )
    assert API_KEY not in result.stdout + result.stderr
    again = movierec("enrich", env=env)
    assert again.returncode == 0, again.stderr
    assert "asked TMDb about 0 movies" in again.stdout and "0 movies still to ask" in again.stdout
    assert sum(tmdb.requests.values()) == 6  # nothing asked again, the 404 included


def test_limit_asks_that_many_and_the_next_run_goes_on(
    env: dict[str, str], catalogue: Database, tmdb: StandIn
) -> None:
    first = movierec("enrich", "--limit", "2", env=env)
    assert first.returncode == 0, first.stderr
    assert "asked TMDb about 2 movies" in first.stdout and "3 movies still to ask" in first.stdout
    assert set(tmdb.requests) == {101, 102}
    rest = movierec("enrich", env=env)
    assert "asked TMDb about 3 movies" in rest.stdout
    assert set(tmdb.requests) == {101, 102, 103, 104, 105} and tmdb.requests[101] == 1


def test_without_a_key_it_says_which_setting_and_exits_1(
    env: dict[str, str], tmdb: StandIn
) -> None:
    result = movierec("enrich", env=env | {"MOVIEREC_TMDB_API_KEY": ""})
    assert result.returncode == 1
    assert "MOVIEREC_TMDB_API_KEY" in result.stderr and "Traceback" not in result.stderr
    assert not tmdb.requests


def test_an_unreachable_api_is_one_line_and_exit_1(
    env: dict[str, str], catalogue: Database, tmdb: StandIn
) -> None:
    tmdb.stop()  # the port is closed: connection refused
    result = movierec("enrich", env=env)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: cannot reach TMDb at {tmdb.url} (Connection refused)"
    ]
    assert API_KEY not in result.stdout + result.stderr
    assert not any(asked for _, _, asked in details(catalogue).values())


def test_an_api_that_never_answers_stops_the_run_at_the_first_movie(
    catalogue: Database,
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # listens, never answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        client = TmdbClient(url, API_KEY, 500, timeout=0.2)
        report = enrich_movies(catalogue, client)
    assert report.stopped == f"cannot reach TMDb at {url} (no answer within 0.2 s)"
    assert report.asked == 0 and report.remaining == 5


def test_a_failed_lookup_is_asked_again_next_run(catalogue: Database, tmdb: StandIn) -> None:
    tmdb.failing = {104}
    client = TmdbClient(tmdb.url, API_KEY, 500)
    first = enrich_movies(catalogue, client)
    assert (first.asked, first.failed, first.remaining, first.stopped) == (4, 1, 1, None)
    assert details(catalogue)["m4"] == (None, "Kept.", False)
    second = enrich_movies(catalogue, client)
    assert (second.asked, second.failed, second.remaining) == (1, 0, 0)
    assert details(catalogue)["m4"] == ("/p104.jpg", "Kept.", True)
    assert tmdb.requests[104] == 2


def test_a_refused_key_stops_the_run_and_marks_nothing(
    env: dict[str, str], catalogue: Database, tmdb: StandIn
) -> None:
    result = movierec("enrich", env=env | {"MOVIEREC_TMDB_API_KEY": "wrong-key"})
    assert result.returncode == 1
    assert "TMDb refused the API key (HTTP 401)" in result.stderr
    assert "wrong-key" not in result.stdout + result.stderr
    assert sum(tmdb.requests.values()) == 1
    assert not any(asked for _, _, asked in details(catalogue).values())


def test_a_read_access_token_goes_in_the_header_never_the_url(
    catalogue: Database, tmdb: StandIn
) -> None:
    report = enrich_movies(catalogue, TmdbClient(tmdb.url, READ_TOKEN, 500), limit=1)
    assert report.asked == 1 and report.posters == 1
    assert tmdb.keys_seen == [READ_TOKEN]


def test_an_interrupted_run_keeps_what_it_was_told(catalogue: Database, tmdb: StandIn) -> None:
    def interrupt(report: Any) -> None:
        if report.asked == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        enrich_movies(catalogue, TmdbClient(tmdb.url, API_KEY, 500), progress=interrupt)
    asked = {movie for movie, (_, _, was_asked) in details(catalogue).items() if was_asked}
    assert asked == {"m1", "m2"}
    assert details(catalogue)["m1"][0] == "/p101.jpg"


def test_requests_are_paced() -> None:
    clock = [100.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(round(seconds, 6))
        clock[0] += seconds

    client = TmdbClient("http://unused", API_KEY, 4.0, sleep=sleep, clock=lambda: clock[0])
    for _ in range(3):
        client._pace()
    clock[0] += 1.0  # a slow answer: the next request is due already
    client._pace()
    assert waits == [0.25, 0.25]


def test_the_api_key_is_not_in_the_settings_repr() -> None:
    from server.config import Settings

    settings = Settings.load({"tmdb_api_key": API_KEY}, environ={})
    assert API_KEY not in repr(settings)
    assert API_KEY not in repr(TmdbClient("http://x", API_KEY, 1.0))


def test_queue_sends_the_task_to_the_training_queue(
    env: dict[str, str], settings: dict[str, Any], redis_client: redis.Redis, tmdb: StandIn
) -> None:
    broker = {"MOVIEREC_REDIS_URL": settings["redis_url"], "MOVIEREC_BROKER_URL": ""}
    result = movierec("enrich", "--queue", "--limit", "3", env=env | broker)
    assert result.returncode == 0, result.stderr
    assert "queued" in result.stdout
    message = json.loads(redis_client.lpop(TRAINING_QUEUE) or b"{}")
    assert message["headers"]["task"] == ENRICH_MOVIES
    assert API_KEY not in json.dumps(message)
    assert not tmdb.requests


def test_the_worker_task_runs_the_same_enrich(
    env: dict[str, str],
    catalogue: Database,
    tmdb: StandIn,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from workers.tasks import enrich_task

    for name in ("MOVIEREC_DATABASE_URL", "MOVIEREC_DATA_DIR", "MOVIEREC_TMDB_API_URL"):
        monkeypatch.setenv(name, env[name])
    monkeypatch.setenv("MOVIEREC_TMDB_API_KEY", API_KEY)
    monkeypatch.setenv("MOVIEREC_TMDB_REQUESTS_PER_SECOND", "200")
    with caplog.at_level(logging.DEBUG):
        report = enrich_task.run(None)
    assert report["asked"] == 5 and report["posters"] == 2 and report["stopped"] is None
    assert details(catalogue)["m1"] == ("/p101.jpg", "The first one.", True)
    assert API_KEY not in caplog.text and "enrich: asked TMDb about 5 movies" in caplog.text
