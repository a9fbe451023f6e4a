"""A database that does not answer: every request that needs it is a 503 with ``Retry-After`` in
the one JSON error shape (never a 500), readiness says so, and once it answers again the app
recovers by itself with nothing it acknowledged lost."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, insert, select
from sqlalchemy.engine import make_url

from server import create_app
from server.db import Database, now
from server.models import Movie, Rating, RatingEvent, User
from tests.server.test_errors import assert_error
from tests.workers.conftest import wait_for


def assert_unavailable(response: Any) -> None:
    """A 503 in the one shape that says when to retry."""
    assert_error(response, 503, "database_unavailable")
    assert int(response.headers["Retry-After"]) > 0


def test_an_unreadable_database_file_is_a_503_and_not_ready(
    settings: dict[str, Any], auth: dict[str, str], tmp_path: Path
) -> None:
    unreadable = tmp_path / "movierec.db"
    unreadable.mkdir()  # SQLite cannot open a directory as its database
    client = create_app(settings | {"database_url": f"sqlite:///{unreadable}"}).test_client()
    assert_unavailable(client.get("/api/v1/movies"))
    assert_unavailable(client.get("/api/v1/users/u1", headers=auth))
    assert_unavailable(client.put("/api/v1/users/u1/ratings/m1", json={"rating": 4}, headers=auth))
    page = client.get("/movies")
    assert page.status_code == 503 and page.mimetype == "text/html"
    ready = client.get("/readyz")
    assert ready.status_code == 503 and int(ready.headers["Retry-After"]) > 0
    assert ready.get_json()["checks"]["database"].startswith("error")


def assert_ready(app: Flask, ready: bool) -> None:
    response = app.test_client().get("/readyz")
    assert response.status_code == (200 if ready else 503), response.get_json()
    if not ready:
        assert int(response.headers["Retry-After"]) > 0
        assert response.get_json()["checks"]["database"].startswith("error")


class FlakyProxy:
    """A TCP proxy in front of the database that can be cut: while cut, it closes every
    connection it carries and every new one as soon as it is accepted."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.cut = threading.Event()
        self.open: set[socket.socket] = set()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def drop(self) -> None:
        """Cut: close what is open, refuse what comes."""
        self.cut.set()
        with self.lock:
            doomed, self.open = self.open, set()
        for sock in doomed:
            _close(sock)

    def restore(self) -> None:
        self.cut.clear()

    def close(self) -> None:
        self.drop()
        _close(self.listener)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            if self.cut.is_set():
                _close(client)
                continue
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.open |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    _close(source)
    _close(sink)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@pytest.fixture
def proxy(database_url: str) -> Iterator[FlakyProxy]:
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        pytest.skip("a database server to cut off: PostgreSQL only (SQLite is a file)")
    flaky = FlakyProxy((url.host or "127.0.0.1", url.port or 5432))
    yield flaky
    flaky.close()


class RatingStream:
    """PUTs one new rating after another (each of a movie of its own) from a thread, recording
    every answer."""

    def __init__(self, client: FlaskClient, auth: dict[str, str], movies: int) -> None:
        self.client, self.auth, self.movies = client, auth, movies
        self.answers: list[tuple[str, Any]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        for number in range(self.movies):
            if self.stop.is_set():
                return
            movie = f"w{number}"
            response = self.client.put(
                f"/api/v1/users/writer/ratings/{movie}", json={"rating": 4.5}, headers=self.auth
            )
            self.answers.append((movie, response))

    def acknowledged(self) -> int:
        return sum(1 for _, response in list(self.answers) if response.status_code == 201)

    def refused(self) -> int:
        return sum(1 for _, response in list(self.answers) if response.status_code != 201)


def test_a_database_outage_under_writes_is_503s_then_recovery_with_nothing_lost(
    settings: dict[str, Any], database: Database, auth: dict[str, str], proxy: FlakyProxy
) -> None:
    movies = 3000
    with database.transaction() as session:
        session.add(User(external_id="writer", created_at=now()))
        rows = [
            {"external_id": f"w{n}", "title": f"W {n}", "created_at": now()} for n in range(movies)
        ]
        session.execute(insert(Movie), rows)
    proxied = make_url(settings["database_url"]).set(host="127.0.0.1", port=proxy.port)
    app: Flask = create_app(settings | {"database_url": proxied.render_as_string(False)})
    stream = RatingStream(app.test_client(), auth, movies)
    stream.thread.start()
    try:
        wait_for(lambda: stream.acknowledged() >= 20)
        proxy.drop()
        wait_for(lambda: stream.refused() >= 20)
        assert_ready(app, False)
        proxy.restore()
        acknowledged_before = stream.acknowledged()
        wait_for(lambda: stream.acknowledged() >= acknowledged_before + 20)
        assert_ready(app, True)
    finally:
        stream.stop.set()
        stream.thread.join(timeout=60)
    statuses = {response.status_code for _, response in stream.answers}
    assert statuses <= {201, 503}, statuses  # nothing else, a 500 least of all
    for _, response in stream.answers:
        if response.status_code == 503:
            assert_unavailable(response)
    acknowledged = {movie for movie, response in stream.answers if response.status_code == 201}
    with database.transaction() as session:
        stored = set(session.scalars(select(Movie.external_id).join(Rating)))
        counted = session.execute(
            select(Movie.external_id, func.count(RatingEvent.id))
            .join(RatingEvent, RatingEvent.movie_id == Movie.id)
            .group_by(Movie.external_id)
        )
        events = {movie: count for movie, count in counted}
    assert acknowledged <= stored
    assert {movie: events.get(movie) for movie in acknowledged} == dict.fromkeys(acknowledged, 1)
    assert all(count == 1 for count in events.values())
