"""The read path without workers: cache, in-process models, fallbacks and cold start, the model
registry's promote/rollback, and the error shapes of the recommendation endpoints."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from server.cache.lists import (
    HEADER,
    PLAIN_BYTES,
    REASON_BYTES,
    CachedList,
    Reasons,
    pack,
    unpack,
)
from server.cli.root import main as cli
from server.db import Database
from tests.conftest import SERVICE_AUTH, get_ok
from workers.training import is_not_worse


def test_packed_lists_round_trip_and_garbage_is_a_miss() -> None:
    entry = CachedList(
        7, "als", np.array([3, 1, 2], np.int32), np.array([0.9, 0.5, 0.1], np.float32), 4
    )
    back = unpack(pack(entry))
    assert back is not None and back.version == 7 and back.source == "als"
    assert back.generation == 4  # the champion set an "auto" list was served under
    assert back.movies.tolist() == [3, 1, 2] and np.allclose(back.scores, [0.9, 0.5, 0.1])
    assert unpack(b"\x01") is None and unpack(None) is None and unpack(pack(entry)[:-3]) is None
    # A list written uncompressed (before compression) is still read: header, source, columns.
    plain = HEADER.pack(7, 4, 0, 3) + b"als" + entry.movies.tobytes() + entry.scores.tobytes()
    old = unpack(plain)
    assert old is not None and old.movies.tolist() == [3, 1, 2] and old.generation == 4


def test_lists_with_reasons_round_trip_in_about_half_their_plain_size() -> None:
    count, rng = 100, np.random.default_rng(0)
    movies = rng.choice(60_000, count, replace=False).astype(np.int32)
    scores = np.sort(rng.random(count, np.float32))[::-1] * 5
    refs = rng.choice(movies[:5], (count, 2)).astype(np.int32)
    reasons = Reasons(rng.integers(0, 3, count, np.uint8), refs, np.full((count, 2), 9, np.uint8))
    entry = CachedList(3, "als", movies, scores, 0, reasons)
    back = unpack(pack(entry))
    assert back is not None and back.reasons is not None
    assert np.array_equal(back.movies, movies) and np.array_equal(back.scores, scores)
    assert np.array_equal(back.reasons.refs, refs)
    assert np.array_equal(back.reasons.kinds, reasons.kinds)
    assert np.array_equal(back.reasons.half_stars, reasons.half_stars)
    plain = count * (PLAIN_BYTES + REASON_BYTES)
    assert len(pack(entry)) < 0.6 * plain


def test_promotion_rule_judges_rmse_down_and_ndcg_up() -> None:
    assert is_not_worse({"rmse": 0.90}, {"rmse": 0.89}, 0.02)
    assert not is_not_worse({"rmse": 0.95}, {"rmse": 0.89}, 0.02)
    assert is_not_worse({"ndcg@10": 0.30}, {"ndcg@10": 0.305}, 0.02)
    assert not is_not_worse({"ndcg@10": 0.20}, {"ndcg@10": 0.30}, 0.02)
    assert is_not_worse({}, {"rmse": 0.9}, 0.02)
    # Rankers with a served holdout: judged by the lift over popularity on the same people.
    served = {"ndcg@10": 0.02, "served": {"all": {"ndcg@10": 0.12, "popularity_ndcg@10": 0.1}}}
    better = {"ndcg@10": 0.30, "served": {"all": {"ndcg@10": 0.11, "popularity_ndcg@10": 0.1}}}
    assert not is_not_worse(
        served, better | {"served": {"all": {"ndcg@10": 0.2, "popularity_ndcg@10": 0.1}}}, 0.02
    )
    assert is_not_worse(served, better, 0.02)


def test_lists_name_their_source_version_and_cache_state(
    seeded: Database, train: Callable[..., Any], api: FlaskClient
) -> None:
    outcomes = train("als", "content", "knn-item", "svd")
    assert [o.status for o in outcomes] == ["promoted"] * 4
    body = get_ok(api, "/api/v1/users/5/recommendations", n=5)
    assert body["source"] == "als" and body["model_version"] == 1 and body["cached"]
    assert len(body["items"]) == 5
    assert set(body["items"][0]) == {
        *("movie_id", "title", "display_title", "year", "genres", "poster_url"),
        *("score", "because", "reason"),
    }
    live = get_ok(api, "/api/v1/users/5/recommendations", n=5, exclude_rated="false")
    assert not live["cached"] and live["source"] == "als"
    comedy = get_ok(api, "/api/v1/users/5/recommendations", n=3, genre="comedy")  # any case
    assert comedy["items"] and comedy["source"] == "als"
    similar = get_ok(api, "/api/v1/movies/10/similar", n=4)
    assert similar["source"] == "knn-item" and similar["cached"] and len(similar["items"]) == 4
    assert "10" not in [item["movie_id"] for item in similar["items"]]
    predicted = get_ok(api, "/api/v1/users/5/predictions", movie_id="10")
    assert predicted["source"] == "svd" and 0.5 <= predicted["prediction"] <= 5.0
    popular = get_ok(api, "/api/v1/movies/popular", n=5, window="3650d")
    assert popular["source"] == "popularity" and popular["window"] == "3650d"
    algorithms = {a["name"]: a for a in get_ok(api, "/api/v1/algorithms")["items"]}
    assert algorithms["als"]["active_version"]["version"] == 1
    assert "ndcg@10" in algorithms["als"]["active_version"]["metrics"]
    assert algorithms["bpr"]["active_version"] is None


def test_unchanged_data_is_not_retrained(seeded: Database, train: Callable[..., Any]) -> None:
    assert train("als")[0].status == "promoted"
    assert train("als")[0].status == "unchanged"
    assert train("als", force=True)[0].status == "promoted"


def test_cold_start_fallbacks_and_blends(
    seeded: Database, train: Callable[..., Any], api: FlaskClient, auth: dict[str, str]
) -> None:
    train("als", "content")
    created = api.post(
        "/api/v1/users", json={"id": "newbie", "favorite_genres": ["Horror"]}, headers=auth
    )
    assert created.status_code == 201 and created.get_json()["favorite_genres"] == ["Horror"]
    fresh = get_ok(api, "/api/v1/users/newbie/recommendations", n=5)
    assert fresh["source"] == "fallback:popularity" and fresh["items"]
    horror = get_ok(api, "/api/v1/movies/popular", n=50, genre="Horror")
    assert {i["movie_id"] for i in fresh["items"]} <= {i["movie_id"] for i in horror["items"]}
    api.put("/api/v1/users/newbie/ratings/1", json={"rating": 5.0}, headers=auth)
    few = get_ok(api, "/api/v1/users/newbie/recommendations", n=5)
    assert few["source"] == "blend:content+als" and "1" not in [i["movie_id"] for i in few["items"]]
    bad = api.patch("/api/v1/users/newbie", json={"favorite_genres": ["Nope"]}, headers=auth)
    assert bad.status_code == 409 and bad.get_json()["error"]["code"] == "unknown_genre"


def test_a_new_movie_appears_in_content_based_lists(
    seeded: Database, train: Callable[..., Any], api: FlaskClient, auth: dict[str, str]
) -> None:
    movie = {"id": "brand-new", "title": "Brand New", "genres": ["Horror", "Comedy"]}
    assert api.post("/api/v1/movies", json=movie, headers=auth).status_code == 201
    train("content", "knn-item")
    similar = get_ok(api, "/api/v1/movies/brand-new/similar", n=5)
    assert similar["source"] == "fallback:content" and similar["items"]  # knn-item never saw it
    by_content = get_ok(api, "/api/v1/movies/brand-new/similar", n=5, algorithm="content")
    assert by_content["source"] == "content"


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/api/v1/users/nobody/recommendations", 404, "user_not_found"),
        ("/api/v1/users/1/recommendations?algorithm=nope", 404, "algorithm_not_found"),
        ("/api/v1/users/1/recommendations?n=0", 400, "invalid_n"),
        ("/api/v1/users/1/recommendations?exclude_rated=maybe", 400, "invalid_exclude_rated"),
        ("/api/v1/movies/nothing/similar", 404, "movie_not_found"),
        ("/api/v1/movies/1/similar?algorithm=svd", 404, "capability_missing"),
        ("/api/v1/users/1/predictions", 400, "missing_parameter"),
        ("/api/v1/movies/popular?window=week", 400, "invalid_window"),
        ("/api/v1/movies/popular?genre=Nope", 404, "genre_not_found"),  # as /movies says
        ("/api/v1/users/1/recommendations?genre=Nope", 404, "genre_not_found"),
    ],
)
def test_bad_requests_get_one_json_error_shape(
    seeded: Database, api: FlaskClient, path: str, status: int, code: str
) -> None:
    response = api.get(path, headers=SERVICE_AUTH)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code


def test_retrain_endpoint_needs_the_api_key(api: FlaskClient) -> None:
    assert api.post("/api/v1/algorithms/als/retrain").status_code == 401


def test_models_cli_lists_promotes_and_rolls_back(
    seeded: Database, train: Callable[..., Any], pipeline_settings: dict[str, Any], api: FlaskClient
) -> None:
    train("svd")
    train("svd", force=True)
    env = {
        f"MOVIEREC_{k.upper()}": ",".join(v) if isinstance(v, list) else str(v)
        for k, v in pipeline_settings.items()
    }
    runner = CliRunner()
    listed = runner.invoke(cli, ["models", "list", "svd"], env=env)
    assert listed.exit_code == 0 and "active" in listed.output and "ready" in listed.output
    rolled = runner.invoke(cli, ["models", "rollback", "svd"], env=env)
    assert rolled.exit_code == 0 and "version 1" in rolled.output
    assert get_ok(api, "/api/v1/users/1/predictions", movie_id="3")["model_version"] == 1
    again = runner.invoke(cli, ["models", "rollback", "svd"], env=env)
    assert again.exit_code != 0 and "no earlier promoted version" in again.output
    promoted = runner.invoke(cli, ["models", "promote", "svd", "2"], env=env)
    assert promoted.exit_code == 0
    assert get_ok(api, "/api/v1/users/1/predictions", movie_id="3")["model_version"] == 2
    missing = runner.invoke(cli, ["models", "promote", "svd", "9"], env=env)
    assert missing.exit_code != 0 and "no version 9" in missing.output
