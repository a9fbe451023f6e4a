"""``/api/v1/algorithms``: the installed plugins with their active versions, and retraining."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from server.api.operation import operation
from server.api.serialize import champions_json, version_json
from server.auth import require_credentials
from server.context import get_coordination, get_db, get_queue, get_serving
from server.services import champions
from server.services.algorithms import queue_retrain
from server.services.model_versions import active_versions

bp = Blueprint("algorithms", __name__)


@bp.get("/algorithms")
@operation()
def list_algorithms() -> dict[str, Any]:
    """Every installed algorithm: capabilities, retraining interval and active version."""
    serving = get_serving()
    intervals = serving.settings.retrain_intervals
    with get_db().transaction() as session:
        active = active_versions(session)
    items = []
    for name in serving.registry.names():
        plugin = serving.registry.get(name)
        version = active.get(name)
        items.append(
            {
                "name": name,
                "plugin_version": plugin.version,
                "capabilities": sorted(plugin.capabilities),
                "retrain_interval_seconds": intervals.get(name),
                "active_version": None if version is None else version_json(version),
            }
        )
    return {"items": items}


@bp.get("/champions")
@operation()
def get_champions() -> dict[str, Any]:
    """Which algorithm serves each segment of people (new, cold, warm) when a request names
    none, why, and every active ranker's served holdout figures."""
    with get_db().transaction() as session:
        board = champions.leaderboard(active_versions(session))
        return champions_json(champions.current(session), board)


@bp.post("/algorithms/<name>/retrain")
@require_credentials
@operation(success=(202,))
def retrain(name: str) -> tuple[dict[str, Any], int]:
    """Queue a retrain of ``name`` now (even when its data has not changed); while one waits
    in the queue, a request adds none (``already_waiting``)."""
    added = queue_retrain(get_serving().registry, get_queue(), get_coordination(), name)
    return {"algorithm": name, "queued": True, "already_waiting": not added}, 202
