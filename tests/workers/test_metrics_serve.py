"""Operations of a live ``movierec serve`` (two gunicorn workers, a Celery worker and beat):
``/metrics`` adds up what every process counted, whichever worker answers the scrape, with the
worker's freshness lag and the demo's retrains; JSON log lines carry the request id."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select, update

from server.datasets.synthetic import SyntheticSpec, write_dataset
from server.db import Database, now
from server.models import RatingEvent
from tests.conftest import SERVICE_AUTH
from tests.server.test_metrics import Samples, parse, value
from tests.workers.conftest import ROOT, wait_for
from tests.workers.test_serve import answers, free_port, get_json
from workers.context import WorkerContext
from workers.events import process_events
from workers.training import Outcome

TOKEN = "scrape-token"
PROBES = 12


def start_serve(tmp_path: Path, port: int, dataset: Path) -> subprocess.Popen[bytes]:
    """``movierec serve --workers 2`` on the embedded default, JSON logs with the access log."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MOVIEREC_")}
    environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    environ |= {
        "MOVIEREC_DATA_DIR": str(tmp_path / "data"),
        "MOVIEREC_TRAIN_SCHEDULE": "popularity=3600",
        "MOVIEREC_LOG_FORMAT": "json",
        "MOVIEREC_ACCESS_LOG": "true",
        "MOVIEREC_METRICS_TOKEN": TOKEN,
        "PYTHONPATH": str(ROOT),
    }
    argv = [sys.executable, "-m", "workers", "serve", "--port", str(port), "--workers", "2"]
    with (tmp_path / "serve.log").open("wb") as output:
        return subprocess.Popen(
            [*argv, f"--demo={dataset}"],
            env=environ,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def scrape(base: str) -> Samples:
    request = urllib.request.Request(
        base + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return parse(response.read().decode())


def request(url: str, method: str = "GET", **headers: str) -> tuple[int, Any, dict[str, str]]:
    data = b'{"rating": 4.5}' if method == "PUT" else None
    if data:
        headers["Content-Type"] = "application/json"
    sent = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(sent, timeout=10) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), dict(error.headers)


def test_metrics_add_up_across_processes_and_logs_carry_request_ids(tmp_path: Path) -> None:
    dataset = tmp_path / "demo"
    write_dataset(SyntheticSpec(users=40, movies=200, ratings=2500, seed=5), dataset)
    port = free_port()
    server = start_serve(tmp_path, port, dataset)
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    try:
        wait_for(lambda: answers(base + "/healthz"), timeout=120, every=0.5)
        for probe in range(PROBES):
            status, _body, headers = request(
                base + "/healthz", **{"X-Request-ID": f"probe-{probe}"}
            )
            assert status == 200 and headers["X-Request-ID"] == f"probe-{probe}"
        status, body, _headers = request(base + "/metrics")
        assert status == 401 and body["error"]["code"] == "unauthorized"

        key = (tmp_path / "data" / "api_key").read_text().strip()
        auth = {"Authorization": f"Bearer {key}"}
        listed = get_json(base + "/api/v1/users/1/recommendations?n=1", auth)
        movie = listed["items"][0]["movie_id"]
        status, body, _headers = request(base + f"/api/v1/users/1/ratings/{movie}", "PUT", **auth)
        assert status in (200, 201), body
        # the Celery worker refreshes the lists and counts the lag, in its own process
        wait_for(
            lambda: value(scrape(base), "movierec_freshness_lag_seconds_count") >= 1,
            timeout=60,
            every=0.5,
        )
        wait_for(lambda: value(scrape(base), "movierec_events_backlog") == 0, timeout=60)
        # several scrapes, answered by either gunicorn worker: each sees every process's counts
        for _ in range(6):
            samples = scrape(base)
            healthz = value(
                samples,
                "movierec_http_request_duration_seconds_count",
                endpoint="/healthz",
                method="GET",
                status="200",
            )
            assert healthz >= PROBES  # and serve's own readiness checks
            assert value(samples, "movierec_model_active_version", algorithm="popularity") >= 1
            retrains = "movierec_retrain_duration_seconds_count"
            assert value(samples, retrains, algorithm="popularity", outcome="promoted") == 1
            reads = value(samples, "movierec_cache_reads_total", result="hit") + value(
                samples, "movierec_cache_reads_total", result="miss"
            )
            assert reads >= 1
        answered = {
            value(
                scrape(base),
                "movierec_http_request_duration_seconds_count",
                endpoint="/healthz",
                method="GET",
                status="200",
            )
            for _ in range(4)
        }
        assert len(answered) == 1  # one total, whichever worker adds it up

        lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
        access = [line for line in lines if line.get("request_id") == "probe-3"]
        assert access and access[0]["path"] == "/healthz" and access[0]["status"] == 200
        wait_for(  # beat's own line, in JSON too
            lambda: any(
                "schedules" in line for line in log.read_text().splitlines() if line.startswith("{")
            ),
            timeout=60,
            every=0.5,
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def test_retrains_freshness_and_backlog_on_this_backend(
    seeded: Database, train: Callable[..., list[Outcome]], context: WorkerContext, api: FlaskClient
) -> None:
    from tests.server.test_metrics import scrape as scrape_app

    before = scrape_app(api)
    assert [outcome.status for outcome in train("als", "als")] == ["promoted", "unchanged"]
    samples = scrape_app(api)
    retrains = "movierec_retrain_duration_seconds_count"
    for outcome in ("promoted", "unchanged"):
        added = value(samples, retrains, algorithm="als", outcome=outcome) - value(
            before, retrains, algorithm="als", outcome=outcome
        )
        assert added == 1
    assert value(samples, "movierec_model_active_version", algorithm="als") == 1

    with seeded.transaction() as session:  # the import's events, as if a worker had done them
        session.execute(update(RatingEvent).values(processed_at=now()))
    assert value(scrape_app(api), "movierec_events_backlog") == 0
    response = api.put("/api/v1/users/1/ratings/1", json={"rating": 2.5}, headers=SERVICE_AUTH)
    assert response.status_code in (200, 201), response.get_json()
    samples = scrape_app(api)
    backlog = value(samples, "movierec_events_backlog")
    assert backlog == 1
    with seeded.transaction() as session:
        waiting = session.scalars(
            select(RatingEvent.id).where(RatingEvent.processed_at.is_(None))
        ).all()
    assert process_events(context, list(waiting)) == backlog
    after = scrape_app(api)
    assert value(after, "movierec_events_backlog") == 0
    lag = "movierec_freshness_lag_seconds_count"
    assert value(after, lag) - value(samples, lag) == backlog
