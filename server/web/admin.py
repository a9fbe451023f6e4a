"""The admin page (admin role only): who serves each segment of people and why (the champions'
leaderboard, their history, rolling them back); every algorithm with its active version and the
history of its main metric, retrain, promote and roll back; the event backlog, the cache hit
rate and the workers' status; importing a dataset."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from server.api.serialize import champions_json
from server.cache.connection import CACHE_ERRORS
from server.context import get_coordination, get_db, get_queue, get_serving, get_settings
from server.datasets import DatasetError
from server.db import iso, now
from server.errors import MovieRecError
from server.models import ModelVersion, RatingEvent
from server.services import champions, model_versions
from server.services.algorithms import queue_retrain
from server.services.imports import queue_import
from server.web.forms import ConfirmForm, ImportForm
from server.web.session import admin_required

bp = Blueprint("web-admin", __name__)

# The metric each kind of model is judged by (as the promotion rule does).
MAIN_METRICS = ("rmse", "ndcg@10")
HIT_RATE_MINUTES = 15
# A running import reports at least every few seconds; this long without news, its worker died.
STALLED_IMPORT_SECONDS = 600


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
    """Algorithms, versions, backlog, cache, workers and imports."""
    return _dashboard(ImportForm())


def _dashboard(import_form: ImportForm) -> str:
    """The admin page, with ``import_form`` as given (a refused import keeps its input)."""
    serving = get_serving()
    last_import = get_coordination().last_import()
    with get_db().transaction() as session:
        active = model_versions.active_versions(session)
        rows = [
            _row(name, active.get(name), model_versions.list_versions(session, name))
            for name in serving.registry.names()
        ]
        backlog = session.scalar(select(func.count()).where(RatingEvent.processed_at.is_(None)))
        serving_now = champions_json(champions.current(session), champions.leaderboard(active))
        champion_history = [
            (row.id, iso(row.chosen_at), row.cause) for row in champions.history(session)
        ]
    return render_template(
        "admin.html",
        default_algorithm=serving.settings.default_algorithm,
        champions=serving_now,
        champion_history=champion_history,
        trained=[row for row in rows if row.versions],
        untrained=[row for row in rows if not row.versions],
        backlog=backlog or 0,
        heartbeat_age=_seconds_since(get_coordination().last_heartbeat()),
        hit_rate=_hit_rate(),
        last_import=last_import,
        import_stalled=_stalled(last_import),
        import_dir=get_settings().resolved_import_dir,
        import_dir_exists=get_settings().resolved_import_dir.is_dir(),
        form=ConfirmForm(),
        import_form=import_form,
    )


@bp.post("/admin/import")
@admin_required
def import_dataset() -> Response | tuple[str, int]:
    """Queue the import of a dataset from the import directory (a worker runs it); a refused
    path is shown by its field, the input kept."""
    form = ImportForm()
    if form.validate_on_submit():
        try:
            queue_import(get_queue(), form.path.data, get_settings().resolved_import_dir)
        except (MovieRecError, DatasetError, OSError) as error:  # OSError: an unreadable path
            form.path.errors = [*form.path.errors, str(error)]
        else:
            flash("Import queued: this page shows its outcome when it is done.")
            return redirect(url_for("web-admin.dashboard"))
    return _dashboard(form), 400


@bp.post("/admin/algorithms/<name>/retrain")
@admin_required
def retrain(name: str) -> Response:
    """Queue a retrain now."""

    def run() -> None:
        queue_retrain(get_serving().registry, get_queue(), get_coordination(), name)

    return _act(run, f"Retraining {name} (once, however often asked): the page shows it when done.")


@bp.post("/admin/algorithms/<name>/promote")
@admin_required
def promote(name: str) -> Response:
    """Make a version the active one."""
    number = request.form.get("version", type=int) or 0

    def run() -> None:
        model_versions.activate(get_db(), get_serving().cache, name, number)

    return _act(run, f"{name} version {number} is active.")


@bp.post("/admin/algorithms/<name>/rollback")
@admin_required
def rollback(name: str) -> Response:
    """Go back to the version promoted before the active one."""

    def run() -> None:
        model_versions.roll_back(get_db(), get_serving().cache, name)

    return _act(run, f"{name} rolled back.")


@bp.post("/admin/champions/rollback")
@admin_required
def rollback_champions() -> Response:
    """Serve the champion set chosen before the active one again."""

    def run() -> None:
        model_versions.roll_back_champions(get_db(), get_serving().cache)

    return _act(run, "The previous champions serve again (until the next promotion).")


def _act(action: Callable[[], None], done: str) -> Response:
    """Run an admin action from a posted button; its outcome is flashed on the admin page."""
    if not ConfirmForm().validate_on_submit():
        flash("Fill in the form.", "error")
        return redirect(url_for("web-admin.dashboard"))
    try:
        action()
    except (MovieRecError, DatasetError, OSError) as error:  # OSError: an unreadable path
        flash(str(error), "error")
    else:
        flash(done)
    return redirect(url_for("web-admin.dashboard"))


def _stalled(report: dict[str, Any] | None) -> bool:
    """Whether a running import has said nothing for so long that its worker must have died."""
    if report is None or report.get("status") != "running":
        return False
    silence = _seconds_since(report.get("updated_at") or report.get("started_at"))
    return silence is not None and silence > STALLED_IMPORT_SECONDS


def _seconds_since(stamp: int | None) -> int | None:
    return None if stamp is None else max(0, now() - stamp)


def _hit_rate() -> tuple[float | None, int]:
    """The share of list reads the cache answered in the last 15 minutes, and how many reads."""
    try:
        hits, misses = get_serving().cache.reads.recent(HIT_RATE_MINUTES)
    except CACHE_ERRORS:
        return None, 0
    total = hits + misses
    return (hits / total if total else None), total


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
