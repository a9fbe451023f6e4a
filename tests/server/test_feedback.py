"""Feedback besides stars over the API: give (idempotent), list, undo, its outbox events, the
bulk NDJSON endpoint with its per-line report, and bad input."""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from server.db import Database
from server.models import Feedback, RatingEvent
from server.services.accounts import create_account, create_token
from tests.server.test_errors import assert_error
from tests.server.test_web import PASSWORD

FEEDBACK = "/api/v1/users/u1/feedback"
BULK = "/api/v1/feedback/bulk"
NDJSON = {"Content-Type": "application/x-ndjson"}


@pytest.fixture
def people(client: FlaskClient, auth: dict[str, str]) -> None:
    """Users u1 and u2, movies m1 to m3."""
    for user in ("u1", "u2"):
        assert client.post("/api/v1/users", json={"id": user}, headers=auth).status_code == 201
    for movie in ("m1", "m2", "m3"):
        body = {"id": movie, "title": movie}
        assert client.post("/api/v1/movies", json=body, headers=auth).status_code == 201


def events(database: Database) -> list[tuple[str, str | None, int | None]]:
    with database.transaction() as session:
        rows = session.execute(
            select(RatingEvent.kind, RatingEvent.feedback, RatingEvent.half_stars).order_by(
                RatingEvent.id
            )
        )
        return [(kind, feedback, half) for kind, feedback, half in rows]


@pytest.mark.usefixtures("people")
def test_give_is_idempotent_list_and_undo(
    client: FlaskClient, auth: dict[str, str], database: Database
) -> None:
    first = client.post(FEEDBACK, json={"type": "watchlist", "movie_id": "m1"}, headers=auth)
    assert first.status_code == 201
    assert first.get_json()["type"] == "watchlist" and first.get_json()["movie_id"] == "m1"
    again = client.post(FEEDBACK, json={"type": "watchlist", "movie_id": "m1"}, headers=auth)
    assert again.status_code == 200 and again.get_json() == first.get_json()
    body = {"type": "view", "movie_id": "m2", "timestamp": 1_500_000_000}
    viewed = client.post(FEEDBACK, json=body, headers=auth)
    assert viewed.get_json()["created_at"] == "2017-07-14T02:40:00Z"  # the time sent is kept
    listed = client.get(FEEDBACK, headers=auth).get_json()
    assert [(item["movie_id"], item["type"]) for item in listed["items"]] == [
        ("m1", "watchlist"),
        ("m2", "view"),
    ]
    assert listed["total"] == 2
    only = client.get(FEEDBACK, query_string={"type": "view"}, headers=auth).get_json()
    assert [item["movie_id"] for item in only["items"]] == ["m2"]
    assert client.delete(f"{FEEDBACK}/watchlist/m1", headers=auth).status_code == 204
    assert_error(client.delete(f"{FEEDBACK}/watchlist/m1", headers=auth), 404, "feedback_not_found")
    assert events(database) == [
        ("created", "watchlist", None),
        ("created", "view", None),
        ("deleted", "watchlist", None),
    ]  # the repeat wrote no event


@pytest.mark.usefixtures("people")
def test_bad_feedback_is_refused_whole(
    client: FlaskClient, auth: dict[str, str], database: Database
) -> None:
    bad_type = client.post(FEEDBACK, json={"type": "love", "movie_id": "m1"}, headers=auth)
    assert_error(bad_type, 400, "invalid_type", "type")
    unknown = client.post(FEEDBACK, json={"type": "like", "movie_id": "nope"}, headers=auth)
    assert_error(unknown, 409, "movie_not_found", "movie_id")  # the person exists: no 404
    missing = client.post(
        "/api/v1/users/nobody/feedback", json={"type": "like", "movie_id": "m1"}, headers=auth
    )
    assert missing.status_code == 404
    before_1970 = {"type": "like", "movie_id": "m1", "timestamp": -1}
    assert_error(
        client.post(FEEDBACK, json=before_1970, headers=auth),
        400,
        "invalid_timestamp",
        "timestamp",
    )
    # No feedback of an unknown type was ever given: nothing at that address.
    assert_error(client.delete(f"{FEEDBACK}/love/m1", headers=auth), 404, "feedback_not_found")
    assert_error(
        client.get(FEEDBACK, query_string={"type": "love"}, headers=auth),
        400,
        "invalid_type",
        "type",
    )
    with database.transaction() as session:
        assert session.scalars(select(Feedback)).all() == []
    assert events(database) == []


@pytest.mark.usefixtures("people")
def test_bulk_ndjson_stores_each_valid_line_and_reports_every_line(
    client: FlaskClient, auth: dict[str, str], database: Database
) -> None:
    lines = [
        {"user_id": "u1", "movie_id": "m1", "type": "view", "timestamp": 1_600_000_000},
        {"user_id": "u2", "movie_id": "m1", "type": "like"},
        {"user_id": "u1", "movie_id": "m1", "type": "view"},  # a repeat: unchanged
        {"user_id": "ghost", "movie_id": "m1", "type": "view"},
        {"user_id": "u1", "movie_id": "m9", "type": "view"},
        {"user_id": "u1", "movie_id": "m2", "type": "love"},
        {"user_id": "u1", "movie_id": "m2", "type": "like", "extra": 1},
        {"user_id": "u1", "movie_id": "m2", "type": "like", "timestamp": -5},
    ]
    odd = [
        '{"user_id": "u1", "movie_id": "m1", "type": "view", "timestamp": ' + "1" * 5000 + "}",
        "[" * 100_000,
        '{"user_id": "\\ud800", "movie_id": "m1", "type": "view"}',
    ]
    body = "\n".join([*(json.dumps(line) for line in lines), *odd]) + "\n{not json\n\n"
    answer = client.post(BULK, data=body, headers=auth | NDJSON)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    report = answer.get_json()
    assert (report["created"], report["unchanged"], report["error"]) == (2, 1, 9)
    statuses = {
        line["line"]: (line["status"], line.get("error", {}).get("code"))
        for line in report["lines"]
    }
    assert statuses == {
        1: ("created", None),
        2: ("created", None),
        3: ("unchanged", None),
        4: ("error", "user_not_found"),
        5: ("error", "movie_not_found"),
        6: ("error", "invalid_type"),
        7: ("error", "invalid_field"),
        8: ("error", "invalid_timestamp"),
        9: ("error", "invalid_json"),  # a number too long to convert
        10: ("error", "invalid_json"),  # nested past json's recursion
        11: ("error", "invalid_field"),  # a lone surrogate no database can store
        12: ("error", "invalid_json"),
    }
    with database.transaction() as session:
        stored = session.execute(select(Feedback.user_id, Feedback.type, Feedback.created_at)).all()
    assert len(stored) == 2 and 1_600_000_000 in {row[2] for row in stored}
    assert [row for row in events(database)] == [
        ("created", "view", None),
        ("created", "like", None),
    ]


@pytest.mark.usefixtures("people")
def test_bulk_needs_the_service_key_and_ndjson(
    client: FlaskClient, auth: dict[str, str], database: Database
) -> None:
    with database.transaction() as session:
        account = create_account(session, "ada", PASSWORD, "user")
        token = create_token(session, account.user_id, "test")[1]
    line = json.dumps({"user_id": "ada", "movie_id": "m1", "type": "view"})
    person = client.post(BULK, data=line, headers={"Authorization": f"Bearer {token}"} | NDJSON)
    assert_error(person, 403, "forbidden")
    assert_error(client.post(BULK, data=line, headers=NDJSON), 401, "unauthorized")
    as_json = client.post(BULK, data=line, headers=auth | {"Content-Type": "application/json"})
    assert_error(as_json, 415, "unsupported_media_type")
    # A person's own feedback goes through their own endpoint with their token.
    own = client.post(
        "/api/v1/users/ada/feedback",
        json={"type": "view", "movie_id": "m1"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert own.status_code == 201
    other = client.post(
        FEEDBACK,
        json={"type": "view", "movie_id": "m1"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert_error(other, 403, "forbidden")


@pytest.mark.usefixtures("people")
def test_wanting_a_movie_takes_back_refusing_it_and_the_other_way_round(
    client: FlaskClient, auth: dict[str, str], database: Database
) -> None:
    assert (
        client.post(
            FEEDBACK, json={"type": "watchlist", "movie_id": "m1"}, headers=auth
        ).status_code
        == 201
    )
    refused = client.post(FEEDBACK, json={"type": "not_interested", "movie_id": "m1"}, headers=auth)
    assert refused.status_code == 201
    listed = client.get(FEEDBACK, headers=auth).get_json()["items"]
    assert [(item["movie_id"], item["type"]) for item in listed] == [("m1", "not_interested")]
    lines = [
        {"user_id": "u2", "movie_id": "m2", "type": "watchlist"},
        {"user_id": "u2", "movie_id": "m2", "type": "not_interested"},  # the last line wins
    ]
    body = "\n".join(json.dumps(line) for line in lines)
    assert client.post(BULK, data=body, headers=auth | NDJSON).status_code == 200
    kept = client.get("/api/v1/users/u2/feedback", headers=auth).get_json()["items"]
    assert [(item["movie_id"], item["type"]) for item in kept] == [("m2", "not_interested")]
    assert events(database)[:3] == [
        ("created", "watchlist", None),
        ("created", "not_interested", None),
        ("deleted", "watchlist", None),
    ]
