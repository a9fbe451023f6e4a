"""Taste you can see: new people who each rate ten well-known movies of one genre five stars,
through the API, and what they are then served.

The server runs in this process on the embedded defaults (SQLite, embedded Redis) in a scratch
directory: DATA is imported, every scheduled algorithm is trained (precompute included), then
each persona is created and rates through ``/api/v1``, and ``/users/{id}/recommendations?n=20``
(the default algorithm, ``auto``) is read back. A persona passes when at least half of its top
20 has its genre; different personas should get different lists (mean overlap of two top 20s).
The same is repeated at other re-ranking weights (``--weights``)::

    python -m benchmarks.personas ../shared/datasets/ml-latest-small
"""

from __future__ import annotations

import tempfile
import time
from itertools import combinations
from typing import Any

from flask.testing import FlaskClient

from benchmarks.common import arguments, machine, table
from server import create_app, migrate
from server.config import Settings
from server.datasets import open_dataset
from server.datasets.importer import import_dataset
from server.db import Database
from workers.context import build_context
from workers.training import retrain

GENRES = (
    "Sci-Fi",
    "Horror",
    "Animation",
    "Romance",
    "Western",
    "Documentary",
    "Musical",
    "Crime",
    "War",
    "Children",
)
KEY = "persona-benchmark-key"
LENGTH = 20
RATED = 10


def main() -> None:
    parser = arguments(__doc__ or "")
    parser.add_argument(
        "--algorithm", default="auto", help="The algorithm asked for (auto: the champions)."
    )
    parser.add_argument(
        "--weights",
        default="0,0;0.3,0.3;0.5,0.5",
        help="CALIBRATION,POPULARITY;... re-ranking weights tried besides the defaults.",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        base = Settings.load({"data_dir": scratch, "api_keys": [KEY], "secret_key": "bench"})
        started = time.perf_counter()
        migrate.upgrade(base.resolved_database_url)
        database = Database(base.resolved_database_url)
        import_dataset(database, open_dataset(args.data))
        context = build_context(base)
        for algorithm in base.retrain_intervals:
            print(f"{algorithm}: {retrain(context, algorithm).status}", flush=True)
        print(f"{args.data.name}: imported and trained in {time.perf_counter() - started:.0f} s")
        print(machine())
        chosen = [(base.rerank_calibration, base.rerank_popularity)]
        for pair in args.weights.split(";"):
            calibration, popularity = pair.split(",")
            chosen.append((float(calibration), float(popularity)))
        for number, (calibration, popularity) in enumerate(chosen):
            settings = {
                "data_dir": scratch,
                "api_keys": [KEY],
                "secret_key": "bench",
                "rerank_calibration": calibration,
                "rerank_popularity": popularity,
            }
            client = create_app(settings).test_client()
            label = " (the defaults)" if number == 0 else ""
            print(
                f"\nre-ranking weights: calibration {calibration}, popularity {popularity}{label}"
            )
            print(_run(client, f"w{number}", args.algorithm))


def _run(client: FlaskClient, prefix: str, algorithm: str) -> str:
    auth = {"Authorization": f"Bearer {KEY}"}
    lists: dict[str, list[str]] = {}
    rows: list[list[Any]] = []
    for genre in GENRES:
        known = _well_known(client, genre)
        if len(known) < RATED:
            continue
        person = f"{prefix}-{genre.lower()}"
        client.post("/api/v1/users", json={"id": person}, headers=auth)
        for movie in known:
            client.put(f"/api/v1/users/{person}/ratings/{movie}", json={"rating": 5}, headers=auth)
        served = client.get(
            f"/api/v1/users/{person}/recommendations",
            query_string={"n": LENGTH, "algorithm": algorithm},
            headers=auth,
        ).get_json()
        movies = [item["movie_id"] for item in served["items"]]
        share = sum(genre in _genres(client, movie) for movie in movies) / max(len(movies), 1)
        lists[genre] = movies
        top = ", ".join(item["title"] for item in served["items"][:3])
        rows.append([genre, served["source"], share, "yes" if share >= 0.5 else "no", top[:70]])
    overlaps = [len(set(lists[a]) & set(lists[b])) / LENGTH for a, b in combinations(lists, 2)]
    passing = sum(row[3] == "yes" for row in rows)
    summary = (
        f"{passing} of {len(rows)} personas carry their genre in half their top {LENGTH}; "
        f"mean overlap of two personas' top {LENGTH}: {sum(overlaps) / len(overlaps):.3f}"
    )
    return table(["persona", "served by", "genre share", "passes", "first three"], rows) + (
        "\n" + summary
    )


def _well_known(client: FlaskClient, genre: str) -> list[str]:
    """The ten most rated movies of ``genre`` (the live popular list by count is not exposed;
    the weighted list of the genre over all time is what a new person would see first)."""
    body = client.get(
        "/api/v1/movies/popular", query_string={"n": RATED, "genre": genre}
    ).get_json()
    return [item["movie_id"] for item in body["items"]]


_GENRES: dict[str, set[str]] = {}


def _genres(client: FlaskClient, movie: str) -> set[str]:
    if movie not in _GENRES:
        _GENRES[movie] = set(client.get(f"/api/v1/movies/{movie}").get_json()["genres"])
    return _GENRES[movie]


if __name__ == "__main__":
    main()
