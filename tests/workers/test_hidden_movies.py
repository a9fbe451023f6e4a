"""Hidden, unavailable and deleted movies in lists (issue 17, part 2): absent from every list
type from the next read on, in every web process (a person's list by an algorithm and ``auto``,
its later pages, similar lists, popular lists, the fallback, onboarding's questions), back when
shown again or when their window opens, and left out by the next precompute."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from server import create_app
from server.context import get_db, get_serving
from server.db import Database
from server.models import Movie, Rating, User
from server.services.model_versions import active_version
from server.services.onboarding import next_questions
from server.services.users import get_user
from tests.conftest import SERVICE_AUTH, get_ok
from tests.workers.conftest import wait_for
from workers.context import WorkerContext
from workers.precompute import precompute_users

# Short cached lists, so that later pages read deeper than the cache holds.
LIST_LENGTH = 20


@pytest.fixture
def pipeline_settings(pipeline_settings: dict[str, Any]) -> dict[str, Any]:
    """The pipeline's settings with lists of ``LIST_LENGTH`` cached."""
    return pipeline_settings | {"cache_list_length": LIST_LENGTH, "default_algorithm": "als"}


@pytest.fixture
def trained(seeded: Database, train: Callable[..., Any]) -> Database:
    """The synthetic catalogue with als, knn-item and content trained and precomputed."""
    assert [o.status for o in train("als", "knn-item", "content")] == ["promoted"] * 3
    return seeded


def ids(body: dict[str, Any]) -> list[str]:
    return [item["movie_id"] for item in body["items"]]


def first_user(database: Database) -> str:
    with database.transaction() as session:
        user = session.scalar(select(User.external_id).order_by(User.id).limit(1))
        assert user is not None
        return user


class Lists:
    """Every list type one movie may be in, read through one web process."""

    def __init__(self, api: FlaskClient, user: str, similar_to: str, newcomer: str) -> None:
        self.api, self.user, self.similar_to, self.newcomer = api, user, similar_to, newcomer

    def recs(self, **query: Any) -> dict[str, Any]:
        return get_ok(self.api, f"/api/v1/users/{self.user}/recommendations", **query)

    def every(self) -> dict[str, list[str]]:
        """Each list by name: movie ids, in order."""
        first = self.recs(algorithm="als", n=10)
        lists = {
            "als": ids(first),
            "als page 2": ids(self.recs(algorithm="als", n=10, offset=10)),
            "als by cursor": ids(self.recs(algorithm="als", n=10, cursor=first["next_cursor"])),
            "als deeper": ids(self.recs(algorithm="als", n=10, offset=LIST_LENGTH)),
            "auto": ids(self.recs(n=LIST_LENGTH)),
            "computed": ids(self.recs(algorithm="als", n=10, exclude_rated="false")),
            "similar": ids(get_ok(self.api, f"/api/v1/movies/{self.similar_to}/similar", n=20)),
            "popular": ids(get_ok(self.api, "/api/v1/movies/popular", n=500)),
            "fallback": ids(
                get_ok(self.api, f"/api/v1/users/{self.newcomer}/recommendations", n=100)
            ),
            "onboarding": self.questions(),
        }
        for name in ("als", "als page 2", "als by cursor", "als deeper"):
            assert len(lists[name]) == 10, name  # pages stay full
        return lists

    def questions(self) -> list[str]:
        """Onboarding's questions for the newcomer (every candidate)."""
        with self.api.application.app_context():
            serving = get_serving()
            with get_db().transaction() as session:
                user = get_user(session, self.newcomer)
                asked = next_questions(serving, session, user, set(), 300)
            return [serving.movies.rows([movie])[movie].external_id for movie in asked]


def patch(api: FlaskClient, movie: str, **body: Any) -> None:
    answer = api.patch(f"/api/v1/movies/{movie}", json=body, headers=SERVICE_AUTH)
    assert answer.status_code == 200, answer.get_json()


def setup_lists(api: FlaskClient, database: Database) -> tuple[Lists, str]:
    """The lists of the first person, and a movie of their top ten that is in a similar list,
    the popular list and onboarding's questions too (the top one that is)."""
    user = first_user(database)
    top = ids(get_ok(api, f"/api/v1/users/{user}/recommendations", algorithm="als", n=10))
    with database.transaction() as session:
        movies = list(session.scalars(select(Movie.external_id).order_by(Movie.id)))
    for movie in top:
        genres = get_ok(api, f"/api/v1/movies/{movie}")["genres"]
        newcomer = f"new-{movie}"
        created = api.post(
            "/api/v1/users",
            json={"id": newcomer, "favorite_genres": genres[:1]},
            headers=SERVICE_AUTH,
        )
        assert created.status_code == 201
        similar_to = next(
            (
                other
                for other in movies
                if movie in ids(get_ok(api, f"/api/v1/movies/{other}/similar", n=20))
            ),
            None,
        )
        if similar_to is None:
            continue
        lists = Lists(api, user, similar_to, newcomer)
        every = lists.every()
        if all(movie in every[name] for name in ("popular", "fallback", "onboarding")):
            return lists, movie
    raise AssertionError("no movie of the top ten is in every list")


def test_a_hidden_movie_is_in_no_list_until_shown_again(
    api: FlaskClient, trained: Database, pipeline_settings: dict[str, Any]
) -> None:
    lists, movie = setup_lists(api, trained)
    before = lists.every()
    assert movie in before["als"] and movie in before["similar"]
    # A second web process that read everything before the change.
    other = Lists(
        create_app(pipeline_settings).test_client(),
        lists.user,
        lists.similar_to,
        lists.newcomer,
    )
    assert other.every() == before
    assert lists.recs(algorithm="als", n=10)["cached"] is True

    patch(api, movie, hidden=True)
    for reader in (lists, other):
        after = reader.every()
        for name, movies in after.items():
            assert movie not in movies, name
        assert after["als"] == [m for m in before["als"] if m != movie] + after["als"][9:]
        assert not set(after["als"]) & set(after["als page 2"])
        assert after["als page 2"] == after["als by cursor"]
    assert other.recs(algorithm="als", n=10)["cached"] is True  # filtered, still from the cache

    patch(api, movie, hidden=False)
    for reader in (lists, other):
        again = reader.every()
        assert again["als"] == before["als"] and movie in again["similar"]
        assert movie in again["popular"] and movie in again["onboarding"]


def test_a_movie_waits_for_its_window(api: FlaskClient, trained: Database) -> None:
    lists, movie = setup_lists(api, trained)
    opens = int(time.time()) + 3
    patch(api, movie, available_from=opens)
    hidden = lists.every()
    assert all(movie not in movies for movies in hidden.values())
    # No write opens it: the clock does.
    wait_for(lambda: movie in ids(lists.recs(algorithm="als", n=10)), timeout=30)
    assert time.time() >= opens
    assert movie in lists.every()["popular"]
    patch(api, movie, available_from=None, available_until=int(time.time()) - 1)
    assert all(movie not in movies for movies in lists.every().values())


def test_the_next_precompute_leaves_a_hidden_movie_out(
    api: FlaskClient, trained: Database, context: WorkerContext
) -> None:
    user = first_user(trained)
    top = ids(get_ok(api, f"/api/v1/users/{user}/recommendations", algorithm="als", n=10))
    hidden, coming = top[0], top[1]
    patch(api, hidden, hidden=True)
    patch(api, coming, available_from=int(time.time()) + 3600)
    with trained.transaction() as session:
        version = active_version(session, "als")
        assert version is not None
        key = {ext: m for ext, m in session.execute(select(Movie.external_id, Movie.id))}
        user_id = session.scalar(select(User.id).where(User.external_id == user))
    assert user_id is not None
    assert precompute_users(context, "als", version.number, [user_id]) == 1
    _, cached = context.serving.cache.user_list("als", user)
    assert cached is not None and len(cached) == LIST_LENGTH  # read deeper: still full
    assert key[hidden] not in cached.movies.tolist()
    assert key[coming] in cached.movies.tolist()  # in it the moment its window opens


def test_a_deleted_movie_is_gone_from_every_list_and_its_ratings_with_it(
    api: FlaskClient, trained: Database, train: Callable[..., Any]
) -> None:
    lists, movie = setup_lists(api, trained)
    with trained.transaction() as session:
        key = session.scalar(select(Movie.id).where(Movie.external_id == movie))
    assert api.delete(f"/api/v1/movies/{movie}", headers=SERVICE_AUTH).status_code == 204
    with trained.transaction() as session:
        left = select(func.count()).select_from(Rating).where(Rating.movie_id == key)
        assert session.scalar(left) == 0
    # The trained models still know its id: every read leaves it out.
    assert all(movie not in movies for movies in lists.every().values())
    assert api.get(f"/api/v1/movies/{movie}/similar").status_code == 404
    assert api.get(f"/api/v1/movies/{movie}").status_code == 404
    # Retrained without it: still nowhere.
    train("als", "knn-item", force=True)
    assert all(movie not in movies for movies in lists.every().values())
