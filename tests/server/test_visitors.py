"""Recommendations for a visitor without an account (issue 17, part 4): ``POST
/api/v1/recommendations`` serves the policy of a stored person's list from the ratings and
feedback sent, stores nothing, and refuses what it must refuse with the one error shape."""

from __future__ import annotations

from collections.abc import Callable
from itertools import combinations
from typing import Any, get_args

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from server import create_app
from server.api.schemas import FeedbackKind
from server.db import Base, Database
from server.models import FEEDBACK_TYPES
from server.services.visitors import MAX_RATINGS
from tests.conftest import SERVICE_AUTH, get_ok
from tests.server.test_openapi import problems
from tests.server.test_web import csrf_token, sign_up
from tests.workers.conftest import (  # noqa: F401 (fixtures)
    context,
    pipeline_settings,
    seeded,
    train,
)
from tests.workers.test_personas import PERSONAS, people  # noqa: F401 (a fixture)

PATH = "/api/v1/recommendations"


@pytest.fixture
def trained_api(
    pipeline_settings: dict[str, Any],  # noqa: F811
    seeded: Database,  # noqa: F811
    train: Callable[..., Any],  # noqa: F811
) -> FlaskClient:
    """The synthetic catalogue with als and content trained; als serves by default."""
    train("als", "content")
    return create_app(pipeline_settings).test_client()


def post(client: FlaskClient, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    return client.post(PATH, json=body, headers=SERVICE_AUTH if headers is None else headers)


def served(client: FlaskClient, body: dict[str, Any]) -> dict[str, Any]:
    """The answer to ``body``, which must be a 200."""
    response = post(client, body)
    assert response.status_code == 200, response.get_json()
    answer: dict[str, Any] = response.get_json()
    return answer


def ids(answer: dict[str, Any]) -> list[str]:
    return [item["movie_id"] for item in answer["items"]]


def row_counts(database: Database) -> dict[str, int]:
    """How many rows each table holds."""
    with database.transaction() as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table)) or 0
            for table in Base.metadata.sorted_tables
        }


def popular_ids(client: FlaskClient, n: int, **query: Any) -> list[str]:
    return ids(get_ok(client, "/api/v1/movies/popular", n=n, **query))


def test_a_visitor_is_served_by_the_policy_and_nothing_is_stored(
    trained_api: FlaskClient,
    seeded: Database,  # noqa: F811
) -> None:
    client = trained_api
    rated = popular_ids(client, 8)
    before = row_counts(seeded)
    redis = client.application.extensions["movierec.redis"]
    keys_before = set(redis.keys())
    body = {"ratings": [{"movie_id": movie, "rating": 4.5} for movie in rated], "n": 15}
    answer = served(client, body)
    assert answer["source"] == "als" and answer["model_version"] == 1, answer["source"]
    assert answer["cached"] is False and answer["segment"] == "warm"
    assert len(answer["items"]) == 15 and not set(ids(answer)) & set(rated)
    assert all(item["display_title"] and item["reason"]["kind"] for item in answer["items"])
    assert "because" in {item["reason"]["kind"] for item in answer["items"]}
    assert answer["ignored_movie_ids"] == []
    assert row_counts(seeded) == before  # no user, no rating, no event
    new_keys = set(redis.keys()) - keys_before
    assert not [key for key in new_keys if key.startswith(b"movierec:recs:")], new_keys
    document = client.get("/api/v1/openapi.json").get_json()
    schema = document["paths"][PATH]["post"]["responses"]["200"]["content"]["application/json"]
    assert problems(document, schema["schema"], answer) == []


def test_a_visitor_gets_what_a_stored_person_with_the_same_ratings_gets(
    trained_api: FlaskClient,
) -> None:
    client = trained_api
    rated = popular_ids(client, 12)[4:10]
    client.post("/api/v1/users", json={"id": "twin"}, headers=SERVICE_AUTH)
    for movie in rated:
        client.put(f"/api/v1/users/twin/ratings/{movie}", json={"rating": 4}, headers=SERVICE_AUTH)
    person = get_ok(client, "/api/v1/users/twin/recommendations", n=10)
    visitor = served(client, {"ratings": [{"movie_id": m, "rating": 4} for m in rated]})
    assert ids(visitor) == ids(person) and visitor["source"] == person["source"]
    assert [item["reason"] for item in visitor["items"]] == [
        item["reason"] for item in person["items"]
    ]


def test_feedback_keeps_movies_out_and_unknown_ids_are_named(trained_api: FlaskClient) -> None:
    client = trained_api
    rated = popular_ids(client, 6)
    ratings = [{"movie_id": movie, "rating": 5} for movie in rated]
    first = ids(served(client, {"ratings": ratings, "n": 12}))
    watched, liked, refused, wanted = first[:4]
    feedback = [
        {"movie_id": watched, "type": "view"},
        {"movie_id": liked, "type": "like"},
        {"movie_id": refused, "type": "not_interested"},
        {"movie_id": wanted, "type": "watchlist"},
        {"movie_id": "no-such-movie", "type": "like"},
    ]
    answer = served(
        client,
        {
            "ratings": [*ratings, {"movie_id": "nor-this-one", "rating": 3}],
            "feedback": feedback,
            "n": 12,
            "exclude": [first[5]],
        },
    )
    listed = ids(answer)
    assert len(listed) == 12
    assert not {watched, liked, refused, first[5]} & set(listed)
    assert answer["ignored_movie_ids"] == ["nor-this-one", "no-such-movie"]


def test_a_hidden_movie_is_in_no_visitor_s_list(trained_api: FlaskClient) -> None:
    client = trained_api
    body = {"ratings": [{"movie_id": m, "rating": 5} for m in popular_ids(client, 6)]}
    top = ids(served(client, body))[0]
    hide = client.patch(f"/api/v1/movies/{top}", json={"hidden": True}, headers=SERVICE_AUTH)
    assert hide.status_code == 200
    assert top not in ids(served(client, body))
    assert top not in ids(served(client, {"n": 50}))  # nor in the popular fallback


def test_nothing_usable_gets_the_popular_list(trained_api: FlaskClient) -> None:
    client = trained_api
    nothing = served(client, {"n": 5})
    assert nothing["source"] == "fallback:popularity" and nothing["segment"] == "new"
    assert ids(nothing) == popular_ids(client, 5)
    assert {item["reason"]["kind"] for item in nothing["items"]} == {"popular"}
    unknown = served(client, {"ratings": [{"movie_id": "nope", "rating": 5}], "n": 5})
    assert ids(unknown) == ids(nothing) and unknown["ignored_movie_ids"] == ["nope"]
    comedy = served(client, {"n": 5, "genres": ["comedy"]})
    assert ids(comedy) == popular_ids(client, 5, genre="Comedy")
    assert {item["reason"]["genre"] for item in comedy["items"]} == {"Comedy"}


def test_rules_and_the_last_rating_of_a_movie_count(trained_api: FlaskClient) -> None:
    client = trained_api
    rated = popular_ids(client, 4)
    ratings = [{"movie_id": movie, "rating": 4} for movie in rated]
    # Four movies, one of them rated twice: four ratings, a cold visitor (five make a warm one).
    twice = served(client, {"ratings": [*ratings, {"movie_id": rated[0], "rating": 1}]})
    assert twice["segment"] == "cold"
    rules = {"genres": ["Drama"], "year_min": 2000, "min_rating_count": 20, "n": 20}
    dramas = served(client, {"ratings": ratings, **rules})
    assert dramas["items"]
    for item in dramas["items"]:
        assert "Drama" in item["genres"] and item["year"] >= 2000
    client.post("/api/v1/users", json={"id": "twin"}, headers=SERVICE_AUTH)
    for movie in rated:
        client.put(f"/api/v1/users/twin/ratings/{movie}", json={"rating": 4}, headers=SERVICE_AUTH)
    query = rules | {"genres": "Drama"}
    assert ids(dramas) == ids(get_ok(client, "/api/v1/users/twin/recommendations", **query))


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"ratings": [{"movie_id": "1", "rating": 4.7}]}, 400, "invalid_ratings"),
        ({"ratings": [{"movie_id": "1", "rating": "4"}]}, 400, "invalid_ratings"),
        ({"ratings": [{"movie_id": "1"}]}, 400, "missing_field"),
        ({"ratings": [{"movie_id": "a b", "rating": 4}]}, 400, "invalid_ratings"),
        ({"feedback": [{"movie_id": "1", "type": "love"}]}, 400, "invalid_feedback"),
        ({"n": 0}, 400, "invalid_n"),
        ({"n": True}, 400, "invalid_n"),
        ({"user_id": "alice"}, 400, "unknown_field"),
        ({"ratings": {"1": 4}}, 400, "invalid_ratings"),
        ({"algorithm": "nope"}, 404, "algorithm_not_found"),
        ({"genres": ["Nope"]}, 404, "genre_not_found"),
        (
            {"ratings": [{"movie_id": str(m), "rating": 4} for m in range(MAX_RATINGS + 1)]},
            400,
            "invalid_ratings",
        ),
    ],
)
def test_bad_requests_are_refused_with_the_error_shape(
    client: FlaskClient, body: dict[str, Any], status: int, code: str
) -> None:
    response = post(client, body)
    assert response.status_code == status, response.get_json()
    assert response.get_json()["error"]["code"] == code


def test_a_body_that_is_not_json_or_too_large_is_refused(
    settings: dict[str, Any],
) -> None:
    client = create_app(settings | {"max_body_bytes": 2000}).test_client()
    text = client.post(PATH, data="ratings", headers=SERVICE_AUTH | {"Content-Type": "text/plain"})
    assert text.status_code == 415 and text.get_json()["error"]["code"] == "unsupported_media_type"
    ratings = [{"movie_id": str(m), "rating": 4} for m in range(100)]
    large = post(client, {"ratings": ratings})
    assert large.status_code == 413 and large.get_json()["error"]["code"] == "payload_too_large"


def test_it_takes_the_service_key_not_a_personal_token(client: FlaskClient) -> None:
    """A visitor's list is asked for by a client's backend (its service key), as a movie is
    created; a person's token acts for that person only."""
    assert post(client, {}, headers={}).status_code == 401
    assert post(client, {}, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert post(client, {}).status_code == 200  # the service key
    sign_up(client, "ada")
    created = client.post(
        "/profile/tokens", data={"csrf_token": csrf_token(client, "/profile"), "name": "app"}
    )
    token = created.get_data(as_text=True).split('value="mr_')[1].split('"')[0]
    refused = post(client, {}, headers={"Authorization": f"Bearer mr_{token}"})
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "forbidden"


def test_the_feedback_types_are_the_stored_ones() -> None:
    assert set(get_args(FeedbackKind)) == set(FEEDBACK_TYPES)


def test_visitors_of_different_tastes_get_their_own_lists(
    people: Database,  # noqa: F811
    train: Callable[..., Any],  # noqa: F811
    pipeline_settings: dict[str, Any],  # noqa: F811
) -> None:
    """Under ``auto`` (the champion of the visitor's segment), ten five-star ratings of one
    genre's best known movies give a list mostly of that genre, unlike the others' lists."""
    train("popularity", "ease", "content")
    client = create_app(pipeline_settings | {"default_algorithm": "auto"}).test_client()
    genres = {
        movie["id"]: set(movie["genres"])
        for movie in get_ok(client, "/api/v1/movies", limit=1000)["items"]
    }
    lists = {}
    for genre in PERSONAS:
        known = popular_ids(client, 10, genre=genre)
        answer = served(client, {"ratings": [{"movie_id": m, "rating": 5} for m in known], "n": 20})
        assert answer["source"] != "fallback:popularity" and answer["segment"] == "warm"
        listed = ids(answer)
        assert len(listed) == 20 and not set(listed) & set(known)
        assert sum(genre in genres[movie] for movie in listed) >= 10, (genre, answer["source"])
        lists[genre] = set(listed)
    overlaps = [len(lists[a] & lists[b]) / 20 for a, b in combinations(lists, 2)]
    assert sum(overlaps) / len(overlaps) <= 0.2, overlaps
