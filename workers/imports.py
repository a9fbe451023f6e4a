"""Dataset imports asked for from the admin page, run by a worker (a big dataset takes minutes)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from server.datasets import DatasetError, open_dataset
from server.datasets.importer import import_dataset
from server.db import now
from workers.context import WorkerContext

log = logging.getLogger(__name__)


def run_import(context: WorkerContext, path: str) -> dict[str, Any]:
    """Import the dataset at ``path``; the outcome is kept for the admin page and returned.
    Importing is idempotent, so a run repeated after a crash only fills in what is missing."""
    report: dict[str, Any] = {"path": path, "started_at": now(), "status": "running"}
    context.coordination.record_import(report)
    try:
        summary = import_dataset(context.db, open_dataset(Path(path)))
    except DatasetError as error:
        report |= {"status": "failed", "error": str(error)}
    else:
        report |= {
            "status": "done",
            "added": summary.added,
            "ratings_updated": summary.ratings_updated,
            "problems": summary.problems,
            "seconds": round(summary.seconds, 1),
        }
    report["finished_at"] = now()
    context.coordination.record_import(report)
    log.info("import of %s: %s", path, report["status"])
    return report
