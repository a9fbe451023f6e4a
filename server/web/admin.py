"""The admin page (admin role only): every algorithm with its active version and the history of
its main metric, retrain, promote and roll back; the event backlog and the workers' status."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from server.api.algorithms import queue_retrain
from server.context import get_db, get_serving
from server.errors import MovieRecError
from server.models import ModelVersion, RatingEvent
from server.services import model_versions
from server.web.forms import ConfirmForm
from server.web.session import admin_required

bp = Blueprint("web-admin", __name__)

# The metric each kind of model is judged by (as the promotion rule does).
MAIN_METRICS = ("rmse", "ndcg@10")


@dataclass(frozen=True)
class AlgorithmRow:
    """One algorithm as the admin page shows it."""

    name: str
    active: ModelVersion | None
    versions: list[ModelVersion]
    metric: str | None
    points: list[tuple[int, float]]


@bp.get("/admin")
@admin_required
def dashboard() -> str:
    """Algorithms, versions, backlog and workers."""
    serving = get_serving()
    with get_db().transaction() as session:
        active = model_versions.active_versions(session)
        rows = [
            _row(name, active.get(name), model_versions.list_versions(session, name))
            for name in serving.registry.names()
        ]
        backlog = session.scalar(select(func.count()).where(RatingEvent.processed_at.is_(None)))
    heartbeat = serving.cache.last_heartbeat()
    return render_template(
        "admin.html", rows=rows, backlog=backlog or 0, heartbeat=heartbeat, form=ConfirmForm()
    )


@bp.post("/admin/algorithms/<name>/retrain")
@admin_required
def retrain(name: str) -> Response:
    """Queue a retrain now."""
    return _act(lambda: queue_retrain(name), f"Retraining {name}: the page shows it when done.")


@bp.post("/admin/algorithms/<name>/promote")
@admin_required
def promote(name: str) -> Response:
    """Make a version the active one."""
    number = request.form.get("version", type=int) or 0

    def run() -> None:
        with get_db().transaction() as session:
            model_versions.promote(session, model_versions.get_version(session, name, number))
        get_serving().cache.publish_active_version(name, number)

    return _act(run, f"{name} version {number} is active.")


@bp.post("/admin/algorithms/<name>/rollback")
@admin_required
def rollback(name: str) -> Response:
    """Go back to the version promoted before the active one."""

    def run() -> None:
        with get_db().transaction() as session:
            number = model_versions.rollback(session, name).number
        get_serving().cache.publish_active_version(name, number)

    return _act(run, f"{name} rolled back.")


def _act(action: Callable[[], None], done: str) -> Response:
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            action()
        except MovieRecError as error:
            flash(error.message, "error")
        else:
            flash(done)
    return redirect(url_for("web-admin.dashboard"))


def _row(name: str, active: ModelVersion | None, versions: list[ModelVersion]) -> AlgorithmRow:
    metric = next(
        (m for m in MAIN_METRICS if any(v.metrics.get(m) is not None for v in versions)), None
    )
    points = [
        (v.number, float(v.metrics[metric]))  # type: ignore[arg-type]
        for v in sorted(versions, key=lambda v: v.number)
        if metric is not None and isinstance(v.metrics.get(metric), int | float)
    ]
    return AlgorithmRow(name, active, versions, metric, points)
