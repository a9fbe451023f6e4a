"""Liveness and readiness: ``/healthz`` answers while the process runs; ``/readyz`` checks that the
database and Redis answer (503 with ``Retry-After`` and the failing part named otherwise, as the
API's requests answer while the database is down) and reports whether a worker ran the event
relay recently."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask
from sqlalchemy import text

from server.context import get_coordination, get_db, get_redis
from server.http_errors import RETRY_AFTER_SECONDS

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> dict[str, Any]:
    """The process is up."""
    return {"status": "ok"}


@bp.get("/readyz")
def readyz() -> tuple[dict[str, Any], int, dict[str, str]]:
    """The database and Redis both answer."""
    checks: dict[str, str] = {}
    try:
        with get_db().engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as error:  # any failure means "not ready", reported by kind only
        checks["database"] = f"error: {type(error).__name__}"
    try:
        get_redis().ping()
        checks["redis"] = "ok"
    except Exception as error:
        checks["redis"] = f"error: {type(error).__name__}"
    ready = all(value == "ok" for value in checks.values())
    # Workers are reported but do not decide readiness: the web answers without them (ratings
    # wait in the outbox, reads use the cache, the models and the fallbacks).
    checks["worker"] = _worker_status()
    if ready:
        return {"status": "ok", "checks": checks}, 200, {}
    retry = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return {"status": "unavailable", "checks": checks}, 503, retry


def _worker_status() -> str:
    try:
        beat = get_coordination().last_heartbeat()
    except Exception as error:
        return f"unknown: {type(error).__name__}"
    return "ok" if beat is not None else "no heartbeat (no worker or beat running)"


def init_app(app: Flask) -> None:
    """Register the health endpoints."""
    app.register_blueprint(bp)
