"""The application factory. Nothing here connects to a database or Redis: connections are made
lazily on first use, so importing or creating the app is cheap and side-effect free."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from server import health, http_errors, observability
from server.api import register_api
from server.auth import configured_api_keys
from server.config import Settings, read_or_create_secret
from server.db import Database
from server.logs import configure_logging
from server.web import init_web


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the Flask app from the defaults, ``MOVIEREC_*`` variables and ``config``."""
    settings = Settings.load(config)
    configure_logging(settings.log_level, settings.log_format)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config["SECRET_KEY"] = settings.secret_key or _stored_secret_key(settings)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["movierec.settings"] = settings
    app.extensions["movierec.db"] = Database(settings.resolved_database_url, settings.sql_echo)
    app.extensions["movierec.api_keys"] = configured_api_keys(settings)[0]
    observability.init_app(app)  # first: its hooks time and label everything after
    http_errors.init_app(app)
    health.init_app(app)
    register_api(app)
    init_web(app)
    return app


def _stored_secret_key(settings: Settings) -> str:
    return read_or_create_secret(settings.resolved_data_dir / "secret_key")[0]
