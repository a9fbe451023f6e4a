"""``/api/v1/algorithms``: the installed plugins with their active versions, and retraining."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from server.api.operation import operation
from server.api.serialize import iso
from server.auth import require_api_key
from server.context import get_db, get_queue, get_serving
from server.errors import Unavailable
from server.models import ModelVersion
from server.services.model_versions import active_versions
from server.services.recommendations import require_algorithm
from server.tasks import RETRAIN, TRAINING_QUEUE

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


@bp.post("/algorithms/<name>/retrain")
@require_api_key
@operation(success=(202,))
def retrain(name: str) -> tuple[dict[str, Any], int]:
    """Queue a retrain of ``name`` now (even when its data has not changed)."""
    queue_retrain(name)
    return {"algorithm": name, "queued": True}, 202


def queue_retrain(name: str) -> None:
    """Ask the workers to retrain ``name`` now; ``Unavailable`` when the broker is down."""
    require_algorithm(get_serving(), name)
    if not get_queue().send(RETRAIN, [name, True], TRAINING_QUEUE):
        raise Unavailable(
            "The task broker is not reachable; try again shortly.", code="broker_down"
        )


def version_json(version: ModelVersion) -> dict[str, Any]:
    """A model version as the API and the CLI show it."""
    return {
        "algorithm": version.algorithm,
        "version": version.number,
        "status": version.status,
        "plugin_version": version.plugin_version,
        "params": version.params,
        "data_version": version.data_version,
        "ratings": version.rating_count,
        "metrics": version.metrics,
        "fit_seconds": version.fit_seconds,
        "evaluate_seconds": version.evaluate_seconds,
        "precompute_seconds": version.precompute_seconds,
        "created_at": iso(version.created_at),
        "promoted_at": None if version.promoted_at is None else iso(version.promoted_at),
        "error": version.error,
    }
