"""Fixtures of the pipeline tests: synthetic data in the test database, models trained in the
test process, and real Celery workers (with beat) as separate processes on the real broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from server import create_app
from server.config import Settings
from server.datasets import open_dataset
from server.datasets.importer import import_dataset
from server.datasets.synthetic import SyntheticSpec, write_dataset
from server.db import Database
from server.tasks import TaskQueue
from workers.context import WorkerContext, build_context
from workers.training import Outcome, retrain

ROOT = Path(__file__).resolve().parents[2]


def wait_for(condition: Callable[[], Any], timeout: float = 60.0, every: float = 0.1) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"still not true after {timeout} s: {condition}")


@pytest.fixture
def pipeline_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """Settings for a fast pipeline: a relay every second, short locks, two trained models."""
    return settings | {
        "broker_url": os.environ.get("MOVIEREC_BROKER_URL", ""),
        "relay_after_seconds": 1,
        "training_lock_seconds": 3,
        "train_schedule": ["als=3600", "content=3600"],
        "retrain_after_events": 1_000_000,
        "default_algorithm": "als",
    }


@pytest.fixture
def api(pipeline_settings: dict[str, Any]) -> FlaskClient:
    """A client of the web app with the pipeline's settings."""
    return create_app(pipeline_settings).test_client()


@pytest.fixture
def seeded(database: Database, tmp_path: Path) -> Database:
    """60 users, 150 movies and 4,000 ratings from the synthetic generator."""
    path = tmp_path / "synthetic"
    write_dataset(SyntheticSpec(users=60, movies=150, ratings=4000, seed=3), path)
    import_dataset(database, open_dataset(path))
    return database


@pytest.fixture
def context(pipeline_settings: dict[str, Any]) -> WorkerContext:
    """A worker context in the test process (trains synchronously)."""
    return build_context(Settings.load(pipeline_settings))


@pytest.fixture
def train(context: WorkerContext) -> Callable[..., list[Outcome]]:
    """Train algorithms in the test process, precompute included."""

    def run(*algorithms: str, force: bool = False) -> list[Outcome]:
        return [retrain(context, name, force) for name in algorithms]

    return run


class WorkerProcess:
    """``celery worker --beat`` in its own process group, killable like a crashed host."""

    def __init__(self, settings: dict[str, Any], extra_path: Path | None, log: Path) -> None:
        self.settings = settings
        self.extra_path = extra_path
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def environment(self) -> dict[str, str]:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("MOVIEREC_")}
        for name, value in self.settings.items():
            text = ",".join(value) if isinstance(value, list | tuple) else str(value)
            environ[f"MOVIEREC_{name.upper()}"] = text
        paths = [str(ROOT)] + ([str(self.extra_path)] if self.extra_path else [])
        environ["PYTHONPATH"] = os.pathsep.join(paths)
        return environ

    def start(self) -> WorkerProcess:
        argv = [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker", "--beat"]
        argv += ["-Q", "events,training", "--concurrency", "2", "--loglevel", "INFO"]
        argv += ["--without-mingle", "--without-gossip", "--hostname", f"test-{time.time_ns()}@%h"]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                argv, env=self.environment(), stdout=log, stderr=log, start_new_session=True
            )
        return self

    def kill(self) -> None:
        """SIGKILL the whole worker (main process, pool children, beat): no clean-up runs."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None


@pytest.fixture
def worker_factory(
    pipeline_settings: dict[str, Any], tmp_path: Path
) -> Iterator[Callable[..., WorkerProcess]]:
    """Start real workers; every one still running is stopped after the test."""
    started: list[WorkerProcess] = []
    # Tasks left on a shared broker by an earlier test must not run against this test's data.
    TaskQueue(Settings.load(pipeline_settings)).celery.control.purge()

    def start(
        extra_path: Path | None = None, log_name: str = "worker.log", **overrides: Any
    ) -> WorkerProcess:
        worker = WorkerProcess(pipeline_settings | overrides, extra_path, tmp_path / log_name)
        started.append(worker.start())
        return worker

    yield start
    for worker in started:
        worker.stop()
    for log in sorted({worker.log for worker in started}):
        if log.exists():
            sys.stderr.write(log.read_text()[-4000:])
