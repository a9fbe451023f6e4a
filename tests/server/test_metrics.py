"""``/metrics``: Prometheus's text, read back with prometheus-client's own parser; requests
counted by route and status; the database's gauges at scrape time; who may scrape; and
multi-process mode adding up what several processes counted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from server import create_app
from server.db import Database, now
from server.metrics import MULTIPROC_ENV
from server.models import ModelStatus, ModelVersion, Movie, RatingEvent, User

ROOT = Path(__file__).resolve().parents[2]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of a scrape by name and labels, read by prometheus-client's parser."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client: FlaskClient, headers: dict[str, str] | None = None) -> Samples:
    """The samples of one scrape, which must answer 200."""
    response = client.get("/metrics", headers=headers or {})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type.startswith("text/plain")
    return parse(response.get_data(as_text=True))


def value(samples: Samples, name: str, **labels: str) -> float:
    """A sample's value; 0 when absent (a labelled series appears once first counted)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests_of(samples: Samples, endpoint: str, status: str, method: str = "GET") -> float:
    return value(
        samples,
        "movierec_http_request_duration_seconds_count",
        endpoint=endpoint,
        method=method,
        status=status,
    )


def test_requests_are_counted_by_route_and_status_and_carry_an_id(client: FlaskClient) -> None:
    before = scrape(client)
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    assert client.get("/api/v1/movies/424242").status_code == 404
    assert client.get("/no/such/page/1").status_code == 404
    assert client.get("/no/such/page/2").status_code == 404
    after = scrape(client)

    assert requests_of(after, "/healthz", "200") - requests_of(before, "/healthz", "200") == 3
    movie = "/api/v1/movies/<movie_id>"  # the rule, not the path: one series for every movie
    assert requests_of(after, movie, "404") - requests_of(before, movie, "404") == 1
    # paths no route matched share one label, whatever was asked for
    assert requests_of(after, "unmatched", "404") - requests_of(before, "unmatched", "404") == 2
    buckets = [
        name
        for name, labels in after
        if name == "movierec_http_request_duration_seconds_bucket"
        and ("endpoint", "/healthz") in labels
    ]
    assert len(buckets) > 10  # a histogram, le="0.001" ... le="+Inf"


def test_database_gauges_are_read_at_scrape_time(client: FlaskClient, database: Database) -> None:
    samples = scrape(client)
    assert value(samples, "movierec_events_backlog") == 0
    assert value(samples, "movierec_events_oldest_unprocessed_age_seconds") == 0
    with database.transaction() as session:
        user = User(external_id="u1", created_at=now())
        movie = Movie(external_id="m1", title="One", created_at=now())
        session.add_all([user, movie])
        session.flush()
        for age, processed in ((120, False), (30, False), (600, True)):
            session.add(
                RatingEvent(
                    user_id=user.id,
                    movie_id=movie.id,
                    kind="created",
                    half_stars=8,
                    created_at=now() - age,
                    processed_at=now() if processed else None,
                )
            )
        for number, status in ((1, ModelStatus.RETIRED), (2, ModelStatus.ACTIVE)):
            session.add(
                ModelVersion(
                    algorithm="als",
                    number=number,
                    plugin_version="1",
                    params={},
                    data_version=1,
                    rating_count=1,
                    metrics={},
                    status=status,
                    created_at=now(),
                )
            )
    samples = scrape(client)
    assert value(samples, "movierec_events_backlog") == 2
    assert 120 <= value(samples, "movierec_events_oldest_unprocessed_age_seconds") < 180
    assert value(samples, "movierec_model_active_version", algorithm="als") == 2


def test_cache_reads_are_counted_as_hits_and_misses(client: FlaskClient, app: Any) -> None:
    from server.context import get_serving

    before = scrape(client)
    with app.app_context():
        reads = get_serving().cache.reads
        reads.count(hit=True)
        reads.count(hit=True)
        reads.count(hit=False)
    after = scrape(client)
    for result, added in (("hit", 2), ("miss", 1)):
        name = "movierec_cache_reads_total"
        assert value(after, name, result=result) - value(before, name, result=result) == added


def test_only_allowed_networks_may_scrape(settings: dict[str, Any]) -> None:
    client = create_app(settings | {"metrics_allow": ["10.1.0.0/16"]}).test_client()
    inside = client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert inside.status_code == 200
    # the default test address, 127.0.0.1, is not in the list
    refused = client.get("/metrics")
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "forbidden"
    outside = client.get("/metrics", environ_base={"REMOTE_ADDR": "192.168.0.9"})
    assert outside.status_code == 403


def test_by_default_only_this_host_may_scrape(client: FlaskClient) -> None:
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.5"}).status_code == 403


def test_a_token_when_set_is_required(settings: dict[str, Any]) -> None:
    client = create_app(settings | {"metrics_token": "scrape-me"}).test_client()
    missing = client.get("/metrics")
    assert missing.status_code == 401
    assert missing.get_json()["error"]["code"] == "unauthorized"
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = client.get("/metrics", headers={"Authorization": "Bearer scrape-you"})
    assert wrong.status_code == 401
    scrape(client, {"Authorization": "Bearer scrape-me"})


def test_a_bad_network_setting_fails_at_start(settings: dict[str, Any]) -> None:
    from server.config import SettingsError

    with pytest.raises(SettingsError, match="METRICS_ALLOW"):
        create_app(settings | {"metrics_allow": ["not-a-network"]})


COUNT_IN_A_PROCESS = """
import sys
from server.metrics import metrics
from workers.training import retrain  # noqa: F401 (the workers' modules import cleanly)
hits = int(sys.argv[1])
for _ in range(hits):
    metrics().cache_hits.inc()
metrics().retrain_seconds.labels("als", "promoted").observe(2.0)
metrics().near_cache_entries.set(hits)
"""


def test_multiprocess_mode_adds_up_every_process(
    client: FlaskClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    environ = {**os.environ, MULTIPROC_ENV: str(directory), "PYTHONPATH": str(ROOT)}
    for hits in (3, 4):  # two processes, one after the other, writing to the same directory
        subprocess.run(
            [sys.executable, "-c", COUNT_IN_A_PROCESS, str(hits)], env=environ, check=True
        )
    monkeypatch.setenv(MULTIPROC_ENV, str(directory))
    samples = scrape(client)
    assert value(samples, "movierec_cache_reads_total", result="hit") == 7
    retrains = "movierec_retrain_duration_seconds_count"
    assert value(samples, retrains, algorithm="als", outcome="promoted") == 2
    # a live gauge of exited processes still shows until gunicorn (or Celery) marks them dead
    assert value(samples, "movierec_near_cache_entries") == 7
    from server.metrics import mark_process_dead

    for path in directory.glob("gauge_livesum_*.db"):
        mark_process_dead(int(path.stem.rsplit("_", 1)[1]))
    assert value(scrape(client), "movierec_near_cache_entries") == 0
    # the database's gauges are there too, read by the process that answered
    assert ("movierec_events_backlog", frozenset()) in samples
