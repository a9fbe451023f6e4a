"""What a page costs: the time to render each page a signed-in person sees, against a bare
endpoint of the same app in the same run (the ratio is what carries across machines).

The app runs in this process on the embedded defaults (SQLite, embedded Redis) in a scratch
directory: DATA is imported and every scheduled algorithm trained; then PEOPLE sign up through
the pages, pick two genres and rate five well-known movies, and each page is read ROUNDS times
per person, and the home page by a visitor (the Flask test client: no network, so the figure
is the server's own work)::

    python -m benchmarks.pages ../shared/datasets/ml-latest-small [--people 5] [--rounds 20]
"""

from __future__ import annotations

import re
import tempfile
import time
from statistics import median, quantiles

from flask.testing import FlaskClient

from benchmarks.common import arguments, machine, table
from server import create_app, migrate
from server.config import Settings
from server.datasets import open_dataset
from server.datasets.importer import import_dataset
from server.db import Database
from workers.context import build_context
from workers.training import retrain

PASSWORD = "correct horse battery"  # noqa: S105 (a scratch account of the benchmark)
TASTES = [("Sci-Fi", "Comedy"), ("Drama", "Romance"), ("Animation", "Children"), ("Crime", "War")]
BARE = "/bench-bare"


def main() -> None:
    parser = arguments(__doc__ or "")
    parser.add_argument("--people", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        settings = {"data_dir": scratch, "secret_key": "bench"}
        base = Settings.load(settings)
        migrate.upgrade(base.resolved_database_url)
        import_dataset(Database(base.resolved_database_url), open_dataset(args.data))
        context = build_context(base)
        for algorithm in base.retrain_intervals:
            print(f"{algorithm}: {retrain(context, algorithm).status}", flush=True)
        app = create_app(settings)
        app.add_url_rule(BARE, "bench_bare", lambda: "<p>bare</p>")
        timings: dict[str, list[float]] = {}
        for number in range(args.people):
            client = app.test_client()
            movie = _onboard(client, f"bench{number}", TASTES[number % len(TASTES)])
            visitor = app.test_client()
            paths = [
                BARE,
                "/for-you",
                "/for-you/top-picks",
                f"/movies/{movie}",
                "/movies?q=the",
                "/welcome/rate",
                "/profile",
                f"/movies/{movie}/poster.svg",
            ]
            for _ in range(args.rounds):
                for reader, path in [(visitor, "/"), *((client, path) for path in paths)]:
                    started = time.perf_counter()
                    answer = reader.get(path)
                    elapsed = (time.perf_counter() - started) * 1000
                    assert answer.status_code == 200, (path, answer.status_code)
                    timings.setdefault(_label(path, movie), []).append(elapsed)
        bare = median(timings[BARE])
        rows = []
        for path, values in timings.items():
            deciles = quantiles(values, n=10)
            rows.append(
                [
                    path,
                    f"{median(values):.1f}",
                    f"{deciles[0]:.1f}",
                    f"{deciles[-1]:.1f}",
                    f"{median(values) / bare:.1f}",
                ]
            )
        print(f"\n{args.people} people x {args.rounds} rounds on {args.data.name}, in-process")
        print(table(["page", "median ms", "p10 ms", "p90 ms", "x bare"], rows))
        print(machine())


def _label(path: str, movie: str) -> str:
    return path.replace(movie, "<id>")


def _onboard(client: FlaskClient, username: str, genres: tuple[str, str]) -> str:
    """Sign up, pick ``genres``, rate five of the movies onboarding asks; one rated movie."""
    _post(client, "/signup", {"username": username, "password": PASSWORD, "confirm": PASSWORD})
    _post(client, "/welcome", {"genres": list(genres)})
    page = client.get("/welcome/rate").get_data(as_text=True)
    asked = re.findall(r'name="rating-([^"]+)" value=""', page)[:5]
    _post(client, "/welcome/rate", {f"rating-{movie}": "4.5" for movie in asked}, "/welcome/rate")
    return str(asked[0])


def _post(
    client: FlaskClient, path: str, data: dict[str, object], form_page: str | None = None
) -> None:
    html = client.get(form_page or path).get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert token, path
    answer = client.post(path, data={"csrf_token": token[1], **data})
    assert answer.status_code in (200, 302), (path, answer.status_code)


if __name__ == "__main__":
    main()
