"""Browser tests: the app served over HTTP in this process, a real Celery worker beside it, and
Debian's chromium driven by Playwright (no browser download: the system's executable is used).

Without chromium these tests are skipped with the reason, unless ``MOVIEREC_REQUIRE_BROWSER`` is
set (CI sets it, and installs chromium), where a missing browser is an error.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from server import create_app
from server.db import Database
from tests.workers.conftest import (  # noqa: F401 (fixtures shared with the pipeline tests)
    context,
    pipeline_settings,
    seeded,
    train,
    worker_factory,
)

ROOT = Path(__file__).resolve().parents[2]


def chromium_path() -> str | None:
    """The system chromium, if installed."""
    return os.environ.get("MOVIEREC_CHROMIUM") or shutil.which("chromium")


@pytest.fixture
def live_server(pipeline_settings: dict[str, Any]) -> Iterator[str]:  # noqa: F811
    """The app on a free local port, served by threads of this process; its base URL."""
    app = create_app(pipeline_settings)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@dataclass(frozen=True)
class LiveSystem:
    """The app over HTTP with synthetic data, trained models and a real worker."""

    url: str
    database: Database


@pytest.fixture
def live_system(
    live_server: str,
    seeded: Database,  # noqa: F811
    train: Callable[..., Any],  # noqa: F811
    worker_factory: Callable[..., Any],  # noqa: F811
) -> LiveSystem:
    """What the browser tests run against: als and content trained, a worker with beat."""
    train("als", "content")
    worker_factory()
    return LiveSystem(live_server, seeded)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """A headless chromium for the session."""
    executable = chromium_path()
    if executable is None:
        if os.environ.get("MOVIEREC_REQUIRE_BROWSER"):
            pytest.fail("chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Where the tests leave screenshots of the main pages (not committed)."""
    folder = Path(os.environ.get("MOVIEREC_SCREENSHOTS", ROOT / "build" / "screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder
