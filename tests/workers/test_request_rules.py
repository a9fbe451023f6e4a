"""Rules at request time (issue 17, part 3): recommendations and similar lists filtered by
``exclude``, ``genres``, ``year_min``/``year_max`` and ``min_rating_count``, paged by ``offset``
or a ``cursor`` without repeating a movie, read deeper than the cached list when a page needs it,
and a cursor refused (409 ``list_changed``) once its list changed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from server.cache.lists import CachedList
from server.db import Database
from server.models import Movie, Rating, User
from tests.conftest import SERVICE_AUTH, get_ok
from tests.workers.conftest import wait_for
from workers.context import WorkerContext

# Short cached lists, so that filtered pages must read deeper than the cache holds.
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


def catalogue(database: Database) -> dict[str, dict[str, Any]]:
    """Every movie's year, genres and number of ratings, by external id."""
    with database.transaction() as session:
        counts = {
            movie: int(count)
            for movie, count in session.execute(
                select(Movie.external_id, func.count(Rating.movie_id))
                .outerjoin(Rating, Rating.movie_id == Movie.id)
                .group_by(Movie.external_id)
            )
        }
        return {
            movie.external_id: {
                "year": movie.year,
                "genres": {genre.name for genre in movie.genres},
                "ratings": counts[movie.external_id],
            }
            for movie in session.scalars(select(Movie))
        }


def rated_by(database: Database, user: str) -> set[str]:
    """The external ids of the movies ``user`` rated."""
    with database.transaction() as session:
        return set(
            session.scalars(
                select(Movie.external_id)
                .join(Rating, Rating.movie_id == Movie.id)
                .join(User, User.id == Rating.user_id)
                .where(User.external_id == user)
            )
        )


def every_page(api: FlaskClient, path: str, **query: Any) -> list[dict[str, Any]]:
    """Every page of a list, each asked for with the previous page's cursor."""
    pages = [get_ok(api, path, **query)]
    while pages[-1]["next_cursor"] is not None:
        assert len(pages) < 100, "the cursor never ends"
        pages.append(get_ok(api, path, **query, cursor=pages[-1]["next_cursor"]))
    return pages


def ids(pages: list[dict[str, Any]]) -> list[str]:
    return [item["movie_id"] for page in pages for item in page["items"]]


def test_filters_keep_to_every_rule_on_both_lists(trained: Database, api: FlaskClient) -> None:
    movies = catalogue(trained)
    unfiltered = get_ok(api, "/api/v1/users/5/recommendations", n=10)
    assert unfiltered["cached"] and unfiltered["offset"] == 0 and unfiltered["next_cursor"]
    left_out = [item["movie_id"] for item in unfiltered["items"][:3]]
    rules = {
        "genres": "drama, COMEDY",  # any case, spaces around commas ignored
        "year_min": 1990,
        "year_max": 2010,
        "min_rating_count": 20,
        "exclude": ",".join(left_out),
    }

    def keeps(movie: str) -> bool:
        row = movies[movie]
        return (
            movie not in left_out
            and bool(row["genres"] & {"Drama", "Comedy"})
            and row["year"] is not None
            and 1990 <= row["year"] <= 2010
            and row["ratings"] >= 20
        )

    for path in ("/api/v1/users/5/recommendations", "/api/v1/movies/10/similar"):
        filtered = get_ok(api, path, n=8, **rules)
        listed = [item["movie_id"] for item in filtered["items"]]
        assert listed and all(keeps(movie) for movie in listed), (path, listed)
        # Full when the catalogue allows: every movie kept by the rules is on some page.
        everything = ids(every_page(api, path, n=8, **rules))
        unrated = set(movies) - (rated_by(trained, "5") if "users" in path else {"10"})
        wanted = {movie for movie in unrated if keeps(movie)}
        assert set(everything) <= wanted
        assert len(everything) == len(set(everything))
        assert filtered["items"] and len(listed) == min(8, len(wanted))
    # ``genre`` (the pages' parameter) still works, and widens ``genres``.
    one = get_ok(api, "/api/v1/users/5/recommendations", n=5, genre="Horror")
    assert all("Horror" in item["genres"] for item in one["items"])
    both = get_ok(api, "/api/v1/users/5/recommendations", n=30, genre="Horror", genres="Drama")
    assert all({"Horror", "Drama"} & set(item["genres"]) for item in both["items"])
    assert {"Horror", "Drama"} <= {genre for item in both["items"] for genre in item["genres"]}


@pytest.mark.parametrize("path", ["/api/v1/users/7/recommendations", "/api/v1/movies/3/similar"])
def test_pages_never_repeat_and_read_deeper_than_the_cache(
    trained: Database, api: FlaskClient, path: str
) -> None:
    # Unfiltered: pages of 7 run past the 20 cached movies into the model's deeper list.
    pages = every_page(api, path, n=7)
    listed = ids(pages)
    assert len(listed) == len(set(listed)) > LIST_LENGTH
    assert all(len(page["items"]) == 7 for page in pages[:-1])
    # The first pages are cut from the cache; the first past it is read deeper from the model,
    # and the next ones from that deeper list, which the process holds while the cache does.
    cached = [page["cached"] for page in pages]
    assert cached[:2] == [True, True] and cached[2] is False and all(cached[3:])  # 14 + 7 > 20
    by_offset = [
        get_ok(api, path, n=7, offset=offset)["items"] for offset in range(0, len(listed), 7)
    ]
    assert [item["movie_id"] for page in by_offset for item in page] == listed
    # The cached movies come first, in their cached order, on the deeper pages too.
    head = get_ok(api, path, n=LIST_LENGTH)
    assert listed[:LIST_LENGTH] == [item["movie_id"] for item in head["items"]]
    # Filtered: every page is full until the list ends, whatever the cache held.
    comedies = every_page(api, path, n=4, genres="Comedy")
    found = ids(comedies)
    assert len(found) == len(set(found)) and len(found) > 4
    assert all(len(page["items"]) == 4 for page in comedies[:-1])
    assert all("Comedy" in item["genres"] for page in comedies for item in page["items"])
    assert [m for m in listed if m in set(found)] == found  # the same order, filtered


def test_a_cursor_is_refused_once_its_list_changed(
    trained: Database, api: FlaskClient, context: WorkerContext
) -> None:
    path = "/api/v1/users/9/recommendations"
    first = get_ok(api, path, n=5, genres="Drama")
    second = get_ok(api, path, n=5, genres="Drama", cursor=first["next_cursor"])
    assert second["offset"] == 5
    assert not {i["movie_id"] for i in first["items"]} & {i["movie_id"] for i in second["items"]}
    # A cursor of other rules is not this list's.
    other = api.get(
        path, query_string={"n": 5, "cursor": first["next_cursor"]}, headers=SERVICE_AUTH
    )
    assert other.status_code == 409 and other.get_json()["error"]["code"] == "list_changed"
    # The cached list changes (as a refresh after new ratings does): the cursor is refused.
    cache = context.serving.cache
    _, held = cache.user_list("als", "9")
    assert held is not None
    changed = CachedList(held.version, held.source, held.movies[::-1].copy(), held.scores)
    cache.store_user_lists("als", [("9", changed)])

    def refused() -> bool:
        again = api.get(
            path,
            query_string={"n": 5, "genres": "Drama", "cursor": first["next_cursor"]},
            headers=SERVICE_AUTH,
        )
        return again.status_code == 409 and again.get_json()["error"] == {
            "code": "list_changed",
            "field": "cursor",
            "message": again.get_json()["error"]["message"],
        }

    wait_for(refused, timeout=10)
    restarted = get_ok(api, path, n=5, genres="Drama")
    assert restarted["next_cursor"] != first["next_cursor"]


def test_fallback_lists_are_filtered_and_paged_too(
    trained: Database, api: FlaskClient, auth: dict[str, str]
) -> None:
    assert api.post("/api/v1/users", json={"id": "nobody-yet"}, headers=auth).status_code == 201
    path = "/api/v1/users/nobody-yet/recommendations"
    pages = every_page(api, path, n=6, genres="Action", year_min=1980)
    assert pages[0]["source"] == "fallback:popularity"
    listed = ids(pages)
    assert len(listed) == len(set(listed)) > 6
    movies = catalogue(trained)
    assert all("Action" in movies[m]["genres"] and movies[m]["year"] >= 1980 for m in listed)


@pytest.mark.parametrize(
    ("query", "status", "code", "field"),
    [
        ({"exclude": "1,,2"}, 400, "invalid_exclude", "exclude"),
        ({"genres": "Drama,Nope"}, 404, "genre_not_found", "genres"),
        ({"genres": "Drama, "}, 400, "invalid_genres", "genres"),
        ({"year_min": "1700"}, 400, "invalid_year_min", "year_min"),
        ({"min_rating_count": "-1"}, 400, "invalid_min_rating_count", "min_rating_count"),
        ({"offset": "10001"}, 400, "invalid_offset", "offset"),
        ({"cursor": "next"}, 400, "invalid_cursor", "cursor"),
        ({"cursor": "10.00000000"}, 409, "list_changed", "cursor"),
    ],
)
def test_bad_rules_and_cursors_get_the_one_error_shape(
    trained: Database, api: FlaskClient, query: dict[str, str], status: int, code: str, field: str
) -> None:
    for path in ("/api/v1/users/5/recommendations", "/api/v1/movies/10/similar"):
        response = api.get(path, query_string=query, headers=SERVICE_AUTH)
        assert response.status_code == status, response.get_json()
        error = response.get_json()["error"]
        assert (error["code"], error["field"]) == (code, field)


def test_an_empty_year_range_and_unknown_exclusions_are_no_error(
    trained: Database, api: FlaskClient
) -> None:
    empty = get_ok(api, "/api/v1/users/5/recommendations", year_min=2000, year_max=1990)
    assert empty["items"] == [] and empty["next_cursor"] is None
    plain = get_ok(api, "/api/v1/users/5/recommendations", n=5)
    ignored = get_ok(api, "/api/v1/users/5/recommendations", n=5, exclude="no-such-movie")
    assert ignored["items"] == plain["items"]
    assert np.array_equal(
        [i["score"] for i in ignored["items"]], [i["score"] for i in plain["items"]]
    )
