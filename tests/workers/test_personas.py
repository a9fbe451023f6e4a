"""Taste you can see, the small version of ``benchmarks/personas.py``: new people who rate ten
well-known movies of one genre five stars through the API are served lists that mostly carry
that genre and differ from one another. The data is made so that taste follows genre (people of
each taste rate their genre's movies high and a few others low), so a list that does not carry
it is the serving path's fault."""

from __future__ import annotations

import csv
from collections.abc import Callable
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from server import create_app
from server.datasets import open_dataset
from server.datasets.importer import import_dataset
from server.db import Database
from tests.conftest import SERVICE_AUTH, get_ok

PERSONAS = ("Comedy", "Romance", "Thriller", "Action")


@pytest.fixture
def people(database: Database, tmp_path: Path) -> Database:
    """240 people of four tastes, 30 movies of each genre: each person rates 12 movies of their
    genre (4 or 5 stars) and 4 others (1 or 2 stars); the first movies of a genre are its best
    known."""
    rng = np.random.default_rng(5)
    path = tmp_path / "tastes"
    path.mkdir()
    movies = [
        (30 * g + m + 1, f"{genre} film {m + 1} (2000)", genre)
        for g, genre in enumerate(PERSONAS)
        for m in range(30)
    ]
    weights = 1.0 / np.arange(1, 31)  # the first of a genre are the most rated
    rows = []
    for person in range(240):
        own = person % len(PERSONAS)
        liked = 30 * own + rng.choice(30, 12, replace=False, p=weights / weights.sum()) + 1
        others = rng.choice([m for m, _, _ in movies if (m - 1) // 30 != own], 4, replace=False)
        rows += [(person + 1, movie, rng.choice([4.0, 5.0])) for movie in liked]
        rows += [(person + 1, movie, rng.choice([1.0, 2.0])) for movie in others]
    with (path / "movies.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["movieId", "title", "genres"])
        writer.writerows(movies)
    with (path / "ratings.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["userId", "movieId", "rating", "timestamp"])
        times = 1_000_000 + rng.permutation(len(rows))  # rated in no particular order
        writer.writerows((u, m, s, t) for (u, m, s), t in zip(rows, times, strict=True))
    import_dataset(database, open_dataset(path))
    return database


def test_personas_get_their_own_taste(
    people: Database, train: Callable[..., Any], pipeline_settings: dict[str, Any]
) -> None:
    train("popularity", "ease", "content")
    client = create_app(pipeline_settings | {"default_algorithm": "auto"}).test_client()
    genres: dict[str, set[str]] = {}

    def genre_share(items: list[dict[str, Any]], genre: str) -> float:
        for item in items:
            if item["movie_id"] not in genres:
                movie = get_ok(client, f"/api/v1/movies/{item['movie_id']}")
                genres[item["movie_id"]] = set(movie["genres"])
        return sum(genre in genres[item["movie_id"]] for item in items) / len(items)

    lists = {}
    for genre in PERSONAS:
        # The ten best known of the genre: the person's favourites (the newest people).
        known = get_ok(client, "/api/v1/movies/popular", n=10, genre=genre)["items"]
        person = f"likes-{genre.lower()}"
        client.post("/api/v1/users", json={"id": person}, headers=SERVICE_AUTH)
        for movie in known:
            response = client.put(
                f"/api/v1/users/{person}/ratings/{movie['movie_id']}",
                json={"rating": 5},
                headers=SERVICE_AUTH,
            )
            assert response.status_code in (200, 201)
        served = get_ok(client, f"/api/v1/users/{person}/recommendations", n=20)
        assert served["source"] != "fallback:popularity" and len(served["items"]) == 20
        assert genre_share(served["items"], genre) >= 0.5, (
            genre,
            served["source"],
            get_ok(client, "/api/v1/champions"),
        )
        lists[genre] = {item["movie_id"] for item in served["items"]}
    overlaps = [len(lists[a] & lists[b]) / 20 for a, b in combinations(lists, 2)]
    assert sum(overlaps) / len(overlaps) <= 0.2, overlaps
