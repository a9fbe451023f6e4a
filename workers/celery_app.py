"""The Celery app of the workers and beat, with beat's schedule: ``celery -A workers.celery_app
worker`` / ``beat``, or ``movierec worker`` / ``movierec beat``.

Configured from the same settings as the server (``server.tasks.celery_config``). The tasks are
in ``workers.tasks``, which the app includes.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import Celery, current_task
from celery.signals import after_setup_logger, after_setup_task_logger, worker_process_shutdown

from server.cache import keys
from server.config import Settings
from server.logs import use_format
from server.metrics import mark_process_dead
from server.tasks import KEEP_POPULAR, RELAY_EVENTS, RETRAIN, TRAINING_QUEUE, celery_config


def make_celery(settings: Settings) -> Celery:
    """The Celery app with the beat schedule from ``settings``."""
    app = Celery("movierec", set_as_current=True, include=["workers.tasks"])
    app.conf.update(celery_config(settings))
    schedule: dict[str, dict[str, Any]] = {
        "relay-events": {
            "task": RELAY_EVENTS,
            "schedule": float(max(1, settings.relay_after_seconds)),
        }
    }
    schedule["keep-popular"] = {
        "task": KEEP_POPULAR,
        "schedule": float(keys.POPULAR_REFRESH_SECONDS),
        # A run the bulk lane could not start in time is dropped: the next one does its work.
        "options": {"queue": TRAINING_QUEUE, "expires": keys.POPULAR_REFRESH_SECONDS},
    }
    for algorithm, seconds in settings.retrain_intervals.items():
        schedule[f"retrain-{algorithm}"] = {
            "task": RETRAIN,
            "schedule": float(seconds),
            "args": (algorithm, False),
            "options": {"queue": TRAINING_QUEUE},
        }
    app.conf.beat_schedule = schedule
    app.conf.beat_scheduler = "workers.beat:OneScheduler"  # one beat schedules (a lease)
    app.conf.beat_schedule_filename = str(settings.resolved_data_dir / "celerybeat-schedule")
    return app


# Celery's lines for every task received and done, and beat's for every task sent: with the
# relay every few seconds they would flood the terminal. Shown when Celery runs at DEBUG
# (`celery -A workers.celery_app worker --loglevel DEBUG`).
ROUTINE_LOGGERS = ("celery.app.trace", "celery.worker.strategy", "celery.beat")


def _quiet_routine_lines(loglevel: int | str | None = None, **_: Any) -> None:
    """Below DEBUG, show only warnings and errors of the routine loggers (a failed task still
    prints)."""
    level = logging.getLevelName(loglevel) if isinstance(loglevel, str) else loglevel
    if not isinstance(level, int) or level > logging.DEBUG:
        for name in ROUTINE_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)


after_setup_logger.connect(_quiet_routine_lines, weak=False)


def _log_format(logger: logging.Logger | None = None, **_: Any) -> None:
    """Celery's handlers (its own lines and its tasks') write ``MOVIEREC_LOG_FORMAT``: JSON
    lines carry the task's name and id."""
    log_format = Settings.load().log_format
    if log_format != "json" or logger is None:
        return
    for handler in logger.handlers:
        use_format(handler, log_format)
        handler.addFilter(_task_fields)


def _task_fields(record: logging.LogRecord) -> bool:
    """The running task's name and id on a record (JSON lines show them)."""
    # current_task is a proxy: false outside a task.
    if current_task and current_task.request.id is not None and not hasattr(record, "task_id"):
        record.task_id = current_task.request.id
        record.task_name = current_task.name
    return True


after_setup_logger.connect(_log_format, weak=False)
after_setup_task_logger.connect(_log_format, weak=False)


def _forget_pool_process(**_: Any) -> None:
    """A pool process stops: its live gauges stop counting (multi-process metrics)."""
    mark_process_dead(os.getpid())


worker_process_shutdown.connect(_forget_pool_process, weak=False)


celery = make_celery(Settings.load())
