"""Dataset imports asked for from the admin page, run by a worker (a big dataset takes minutes)."""

from __future__ import annotations

import logging
import time
from typing import Any

from server.datasets import DatasetError, Problems, open_dataset
from server.datasets.importer import describe_failure, import_dataset
from server.db import now
from server.services.imports import importable_path
from workers.context import WorkerContext

log = logging.getLogger(__name__)

# What the admin page shows of the rows an import skipped.
PROBLEMS_SHOWN = 5
# How often a running import refreshes its report (the admin page tells a stalled one by it).
REPORT_EVERY_SECONDS = 5.0


def run_import(context: WorkerContext, path: str) -> dict[str, Any]:
    """Import the dataset at ``path``; the outcome is kept for the admin page and returned.

    Every ending is recorded, a failure with its message: a report left "running" would be
    shown forever. A bad file changes nothing; an import stopped part-way is resumed by asking
    for it again (importing is idempotent).
    """
    report: dict[str, Any] = {"path": path, "started_at": now(), "status": "running"}
    progress = _Progress(context, report)
    try:
        report |= _imported(context, path, progress)
    except DatasetError as error:
        report |= {"status": "failed", "error": str(error)}
    except Exception as error:  # the database, the disk: whatever it is, the page must say it
        log.exception("import of %s failed", path)
        report |= {
            "status": "failed",
            "error": f"{describe_failure(error)}; once that is fixed, import again: it resumes "
            "where it stopped",
        }
    except BaseException:  # the worker is stopping: say so, and let it stop
        report |= {"status": "failed", "error": "interrupted: the worker stopped; import again"}
        raise
    finally:
        report["finished_at"] = now()
        context.coordination.record_import(report)
        log.info("import of %s: %s", path, report["status"])
    return report


def _imported(context: WorkerContext, path: str, progress: _Progress) -> dict[str, Any]:
    """Import ``path`` (checked again against the import directory: the task's argument comes
    from the broker); the report's fields of a successful import."""
    source = importable_path(context.settings.resolved_import_dir, path)
    problems = Problems()
    reader = open_dataset(source, problems)
    summary = import_dataset(context.db, reader, progress.written, progress.checked)
    return {
        "status": "done",
        "format": summary.format,
        "added": summary.added,
        "ratings_updated": summary.ratings_updated,
        "problems": summary.problems,
        "problem_examples": problems.messages[:PROBLEMS_SHOWN],
        "seconds": round(summary.seconds, 1),
    }


class _Progress:
    """Keeps a running import's report fresh: ratings checked and written, and when it last
    moved, so the admin page can tell a long import from one whose worker died."""

    def __init__(self, context: WorkerContext, report: dict[str, Any]) -> None:
        self.context = context
        self.report = report
        self.next_at = 0.0
        self.report |= {"checked": 0, "written": 0}
        self._record()

    def checked(self, count: int) -> None:
        """``count`` more ratings checked."""
        self._add("checked", count)

    def written(self, count: int) -> None:
        """``count`` more ratings written."""
        self._add("written", count)

    def _add(self, key: str, count: int) -> None:
        self.report[key] += count
        if time.monotonic() >= self.next_at:
            self._record()

    def _record(self) -> None:
        self.report["updated_at"] = now()
        self.context.coordination.record_import(self.report)
        self.next_at = time.monotonic() + REPORT_EVERY_SECONDS
