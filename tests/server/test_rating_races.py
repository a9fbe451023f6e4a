"""Concurrent writes of one rating: every acknowledged change is stored with exactly one event,
and no event records a change that did not happen. Two writers race deterministically (one holds
its transaction open while the other starts), then many threads race over HTTP."""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import select, text
from werkzeug.serving import make_server

from server.db import Database
from server.models import Movie, Rating, RatingEvent, User
from server.services.ratings import RatingChange, delete_rating, put_rating
from tests.conftest import API_KEY
from tests.workers.conftest import wait_for

USERS, MOVIES = ("ada", "bob"), ("m1", "m2")


@pytest.fixture
def pairs(database: Database) -> Database:
    """Two users and two movies, nobody's rating yet."""
    with database.transaction() as session:
        session.add_all(User(external_id=user, created_at=0) for user in USERS)
        session.add_all(Movie(external_id=movie, title=movie, created_at=0) for movie in MOVIES)
    return database


def stored(database: Database, user: str = "ada", movie: str = "m1") -> int | None:
    """The pair's stored half stars (None: no rating)."""
    with database.transaction() as session:
        return session.scalar(
            select(Rating.half_stars)
            .join(User, User.id == Rating.user_id)
            .join(Movie, Movie.id == Rating.movie_id)
            .where(User.external_id == user, Movie.external_id == movie)
        )


def events(database: Database) -> list[tuple[str, str, str, int | None]]:
    """Every event in commit order: (user, movie, kind, half stars)."""
    with database.transaction() as session:
        rows = session.execute(
            select(User.external_id, Movie.external_id, RatingEvent.kind, RatingEvent.half_stars)
            .join(User, User.id == RatingEvent.user_id)
            .join(Movie, Movie.id == RatingEvent.movie_id)
            .order_by(RatingEvent.id)
        ).all()
    return [(user, movie, kind, half) for user, movie, kind, half in rows]


def race(database: Database, first: Callable[[Any], object], second: Callable[[Any], Any]) -> Any:
    """Run ``first`` in a write transaction held open until ``second``, started in another
    thread, is waiting for it; commit, and return what ``second`` returned."""
    with ThreadPoolExecutor(1) as pool:
        with database.transaction(writes=True) as session:
            first(session)
            outcome = pool.submit(in_transaction, database, second)
            wait_until_blocked(database, outcome)
        return outcome.result(timeout=60)


def in_transaction(database: Database, write: Callable[[Any], Any]) -> Any:
    with database.transaction(writes=True) as session:
        return write(session)


def wait_until_blocked(database: Database, outcome: Any) -> None:
    """PostgreSQL reports a backend waiting on a lock; SQLite shows nothing, so the second
    writer gets a moment to reach the database's write lock (a longer moment changes nothing:
    it waits there until the first commits)."""
    if database.dialect == "postgresql":
        waiting = text(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )

        def blocked() -> bool:
            # A transaction of its own each time: within one, pg_stat_activity is a snapshot
            # taken at its first read, and would never show a writer that blocked after it.
            with database.engine.connect() as connection:
                return bool(connection.execute(waiting).scalar_one() > 0)

        wait_for(blocked, timeout=30)
    else:
        time.sleep(0.5)
    assert not outcome.done(), "the second writer did not wait for the first"


def test_a_put_racing_a_delete_is_stored(pairs: Database) -> None:
    with pairs.transaction(writes=True) as session:
        put_rating(session, "ada", "m1", 6)
    change: RatingChange = race(
        pairs,
        lambda session: delete_rating(session, "ada", "m1"),
        lambda session: put_rating(session, "ada", "m1", 8),
    )
    assert change.created and change.event_id is not None
    assert stored(pairs) == 8
    assert [event[2:] for event in events(pairs)] == [
        ("created", 6),
        ("deleted", None),
        ("created", 8),
    ]


def test_a_put_waiting_for_another_put_compares_with_the_value_it_committed(
    pairs: Database,
) -> None:
    with pairs.transaction(writes=True) as session:
        put_rating(session, "ada", "m1", 6)
    # Same value as the first writer's: nothing changes, so no event.
    same: RatingChange = race(
        pairs,
        lambda session: put_rating(session, "ada", "m1", 10),
        lambda session: put_rating(session, "ada", "m1", 10),
    )
    assert same.event_id is None and stored(pairs) == 10
    # The old value again: a change, stored, with its event.
    back: RatingChange = race(
        pairs,
        lambda session: put_rating(session, "ada", "m1", 4),
        lambda session: put_rating(session, "ada", "m1", 10),
    )
    assert back.event_id is not None and stored(pairs) == 10
    assert [event[2:] for event in events(pairs)] == [
        ("created", 6),
        ("updated", 10),
        ("updated", 4),
        ("updated", 10),
    ]


@dataclass(frozen=True)
class Acknowledged:
    """One answered request: what it asked and what the server said."""

    user: str
    movie: str
    half_stars: int | None  # None: a DELETE
    status: int


@pytest.fixture
def live_app(app: Flask, pairs: Database) -> Iterator[str]:
    """The app over HTTP, each request in its own thread."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/api/v1"
    server.shutdown()
    thread.join(timeout=10)


def test_many_threads_mixing_puts_and_deletes_over_http_lose_nothing(
    live_app: str, pairs: Database
) -> None:
    def client(seed: int) -> list[Acknowledged]:
        chooser = random.Random(seed)
        answers: list[Acknowledged] = []
        with requests.Session() as http:
            http.headers["Authorization"] = f"Bearer {API_KEY}"
            for _ in range(25):
                user, movie = chooser.choice(USERS), chooser.choice(MOVIES)
                url = f"{live_app}/users/{user}/ratings/{movie}"
                half = chooser.choice([None, 2, 5, 8, 10])
                if half is None:
                    status = http.delete(url, timeout=60).status_code
                else:
                    status = http.put(url, json={"rating": half / 2}, timeout=60).status_code
                answers.append(Acknowledged(user, movie, half, status))
        return answers

    with ThreadPoolExecutor(12) as pool:
        answers = [answer for batch in pool.map(client, range(12)) for answer in batch]

    assert {answer.status for answer in answers} <= {200, 201, 204, 404}
    replayed = replay(events(pairs))
    for user in USERS:
        for movie in MOVIES:
            assert stored(pairs, user, movie) == replayed.get((user, movie)), (user, movie)
    kinds: defaultdict[str, int] = defaultdict(int)
    for _user, _movie, kind, _half in events(pairs):
        kinds[kind] += 1
    puts = [answer for answer in answers if answer.half_stars is not None]
    assert kinds["created"] == sum(answer.status == 201 for answer in puts)
    assert kinds["updated"] <= sum(answer.status == 200 for answer in puts)
    deletes = [answer for answer in answers if answer.half_stars is None]
    assert kinds["deleted"] == sum(answer.status == 204 for answer in deletes)
    assert sum(answer.status == 404 for answer in puts) == 0


def replay(
    history: list[tuple[str, str, str, int | None]],
) -> dict[tuple[str, str], int]:
    """Each pair's rating after its events, checking that every event is a real change: created
    from nothing, updated to another value, deleted from something."""
    state: dict[tuple[str, str], int] = {}
    for user, movie, kind, half in history:
        pair = (user, movie)
        before = state.get(pair)
        if kind == "created":
            assert before is None, (pair, kind, before)
        elif kind == "updated":
            assert before is not None and before != half, (pair, kind, before, half)
        else:
            assert before is not None, (pair, kind)
        if half is None:
            state.pop(pair, None)
        else:
            state[pair] = half
    return state
