"""Prometheus metrics: what every process counts, and what ``/metrics`` adds from the database
at scrape time. No Flask here (the cache and the workers count too); the endpoint and the
request hooks are in ``server/observability.py``.

Under ``movierec serve`` every process (gunicorn's workers, the Celery worker and its pool)
writes its values to files in one directory, ``PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's
multi-process mode), and a scrape of any web worker adds them all up. prometheus-client chooses
that mode when it is first imported, from the environment; ``movierec serve`` sets the variable
only after the command line has loaded, so this module imports it on first use, never at import.

Counted where it happens (cheap: a few memory writes): request latency by endpoint and status,
cache hits and misses, the near cache's size, freshness lag, retrains. Read from the database at
scrape time (exact whichever process answers): the event backlog, the age of the oldest
unprocessed event, the active version of each algorithm.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from server.db import Database
from server.models import ModelStatus, ModelVersion, RatingEvent

if TYPE_CHECKING:
    from prometheus_client import Counter, Gauge, Histogram
    from prometheus_client.metrics_core import Metric

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
METRICS_DIR_NAME = "metrics"

# Request latencies: a cached read takes about a millisecond, a page tens of milliseconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# From a rating's event to its person's refreshed lists: under a second when the worker keeps
# up, minutes when it was down (beat's relay re-sends).
FRESHNESS_BUCKETS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
# A retrain: a second for popularity, many minutes for a large factorization.
RETRAIN_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0)


class Metrics:
    """The metrics every process may count, made once per process (``metrics()``)."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.request_seconds: Histogram = Histogram(
            "movierec_http_request_duration_seconds",
            "Time to answer a request, by endpoint (the route's rule), method and status.",
            ("endpoint", "method", "status"),
            buckets=LATENCY_BUCKETS,
        )
        self.cache_reads: Counter = Counter(
            "movierec_cache_reads",
            "Reads of cached lists, by result: hit (the cache answered) or miss.",
            ("result",),
        )
        # Bound once: the read path counts every read.
        self.cache_hits = self.cache_reads.labels("hit")
        self.cache_misses = self.cache_reads.labels("miss")
        self.near_cache_entries: Gauge = Gauge(
            "movierec_near_cache_entries",
            "Cached lists held inside the web processes (summed over the live ones).",
            multiprocess_mode="livesum",
        )
        self.freshness_seconds: Histogram = Histogram(
            "movierec_freshness_lag_seconds",
            "From a rating event (to the second) to its person's refreshed cached lists.",
            buckets=FRESHNESS_BUCKETS,
        )
        self.retrain_seconds: Histogram = Histogram(
            "movierec_retrain_duration_seconds",
            "Duration of a retrain, by algorithm and outcome (promoted, rejected, unchanged, "
            "busy, failed, error).",
            ("algorithm", "outcome"),
            buckets=RETRAIN_BUCKETS,
        )
        self.fits_reused: Counter = Counter(
            "movierec_fits_reused",
            "Fits a retrain took back from an earlier one on the same ratings (a composite's "
            "components, the holdout's content model), by algorithm.",
            ("algorithm",),
        )


_metrics: Metrics | None = None
_made = threading.Lock()


def metrics() -> Metrics:
    """This process's metrics, made (and prometheus-client imported) on first use."""
    global _metrics  # one set per process, as prometheus-client has one registry
    if _metrics is None:
        with _made:
            if _metrics is None:
                _metrics = Metrics()
    return _metrics


def multiprocess_dir() -> str | None:
    """The directory of multi-process mode, when this process runs in it."""
    return os.environ.get(MULTIPROC_ENV) or None


# The files prometheus-client writes there (and nothing else is removed).
_VALUE_FILE = re.compile(r"^(counter|gauge_[a-z]+|histogram|summary)_\d+\.db$")


def prepare_multiprocess_dir(data_dir: Path) -> Path:
    """Set up multi-process mode for this process and the ones it starts: the directory named by
    ``PROMETHEUS_MULTIPROC_DIR``, or ``metrics`` in the data directory, emptied of a past run's
    values (counters would otherwise go on from where a dead server left them)."""
    chosen = Path(multiprocess_dir() or data_dir / METRICS_DIR_NAME)
    chosen.mkdir(mode=0o700, parents=True, exist_ok=True)
    for path in chosen.iterdir():
        if _VALUE_FILE.match(path.name):
            path.unlink(missing_ok=True)
    os.environ[MULTIPROC_ENV] = str(chosen)
    return chosen


def mark_process_dead(pid: int) -> None:
    """Forget the live gauges of an exited process (gunicorn's ``child_exit``, Celery's pool)."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


class DatabaseCollector:
    """What ``/metrics`` reads from the database at scrape time: the outbox's backlog and its
    oldest waiting event, and the active version of each algorithm. Two indexed queries."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def collect(self) -> Iterator[Metric]:
        """The gauges, as of now."""
        from prometheus_client.core import GaugeMetricFamily

        unprocessed = RatingEvent.processed_at.is_(None)
        with self.database.transaction() as session:
            waiting, oldest = session.execute(
                select(func.count(RatingEvent.id), func.min(RatingEvent.created_at)).where(
                    unprocessed
                )
            ).one()
            active = session.execute(
                select(ModelVersion.algorithm, ModelVersion.number).where(
                    ModelVersion.status == ModelStatus.ACTIVE
                )
            ).all()
        yield GaugeMetricFamily(
            "movierec_events_backlog",
            "Rating events not yet processed by a worker.",
            value=int(waiting or 0),
        )
        yield GaugeMetricFamily(
            "movierec_events_oldest_unprocessed_age_seconds",
            "Age of the oldest rating event not yet processed (0 when none waits).",
            value=max(0.0, time.time() - oldest) if oldest is not None else 0.0,
        )
        versions = GaugeMetricFamily(
            "movierec_model_active_version",
            "The number of the active model version of each algorithm.",
            labels=("algorithm",),
        )
        for algorithm, number in sorted(active):
            versions.add_metric((algorithm,), float(number))
        yield versions


def exposition(database: Database, accept: str | None = None) -> tuple[bytes, str]:
    """The body and content type of a scrape (the format ``accept`` prefers): every process's
    values (multi-process mode) or this process's, then the database's gauges."""
    from prometheus_client import REGISTRY, CollectorRegistry
    from prometheus_client.exposition import choose_encoder
    from prometheus_client.multiprocess import MultiProcessCollector

    metrics()  # made, so a scrape lists them before anything was counted
    directory = multiprocess_dir()
    counted: Any = REGISTRY
    if directory:
        counted = CollectorRegistry(auto_describe=False)
        MultiProcessCollector(counted, directory)  # type: ignore[no-untyped-call]
    scraped = CollectorRegistry(auto_describe=False)
    scraped.register(_Chain(counted, DatabaseCollector(database)))
    encoder, content_type = choose_encoder(accept or "")
    return encoder(scraped), content_type


class _Chain:
    """Collectors' metrics one after the other (a registry of the scrape, built per scrape)."""

    def __init__(self, *collectors: Any) -> None:
        self.collectors = collectors

    def collect(self) -> Iterator[Metric]:
        for collector in self.collectors:
            yield from collector.collect()
