"""The workers' tasks: thin wrappers around the plain functions of ``workers.events``,
``workers.training``, ``workers.precompute`` and ``workers.imports``, and of
``server.services.enrich``."""

from __future__ import annotations

import logging
from typing import Any

from kombu.exceptions import ChannelError, KombuError

from server.services import enrich, popular
from server.tasks import (
    ENRICH_MOVIES,
    EVENTS_QUEUE,
    IMPORT_DATASET,
    KEEP_POPULAR,
    PRECOMPUTE,
    PROCESS_EVENTS,
    RELAY_EVENTS,
    RETRAIN,
    TRAINING_QUEUE,
)
from workers import events, imports, precompute, training
from workers.celery_app import celery
from workers.context import process_context

log = logging.getLogger(__name__)

# A retrain that finds the algorithm locked tries again this many times.
BUSY_RETRIES = 3
# A running enrich task logs how far it is every this many movies.
ENRICH_LOG_EVERY = 500


@celery.task(name=PROCESS_EVENTS, bind=True, max_retries=None, default_retry_delay=2)
def process_events_task(self: Any, event_ids: list[int]) -> int:
    """Refresh the events' users (retried while the database or Redis is down)."""
    try:
        return events.process_events(process_context(), event_ids)
    except Exception as error:
        log.warning("events %s...: %s; retrying", event_ids[:3], type(error).__name__)
        raise self.retry(exc=error) from error


@celery.task(name=RELAY_EVENTS)
def relay_task() -> int:
    """Re-send events left unprocessed; request retrains that are due (a request coalesces
    with one already waiting, so a busy training queue is not filled tick after tick)."""
    context = process_context()

    def send_retrain(algorithm: str) -> None:
        if context.coordination.mark_retrain_waiting(algorithm):
            retrain_task.apply_async((algorithm, False), queue=TRAINING_QUEUE)

    report = events.relay(
        context,
        lambda event_ids: process_events_task.apply_async((event_ids,)),
        send_retrain,
        events_queued(),
    )
    return report.resent


def events_queued() -> int:
    """How many tasks wait on the events queue (0 when the broker cannot tell: the relay then
    re-sends, as it would with none waiting)."""
    try:
        with celery.connection_for_write() as connection:
            _, count, _ = connection.default_channel.queue_declare(EVENTS_QUEUE, passive=True)
    except (ChannelError, KombuError, OSError) as error:
        log.warning("the events queue's length is unknown: %s", error)
        return 0
    return int(count)


@celery.task(name=RETRAIN, bind=True, max_retries=BUSY_RETRIES)
def retrain_task(self: Any, algorithm: str, force: bool = False) -> str:
    """Retrain one algorithm; precompute shards go to the training queue. When another run
    holds the lock, try again once the lock could have expired: the holder may have died, and
    a requested retrain should not be dropped."""

    def dispatch(name: str, number: int, ids: list[int], kind: str) -> None:
        precompute_task.apply_async((name, number, ids, kind), queue=TRAINING_QUEUE)

    context = process_context()
    context.coordination.retrain_started(algorithm)  # a new request may queue another
    outcome = training.retrain(context, algorithm, force, dispatch)
    log.info("retrain %s: %s %s %s", algorithm, outcome.status, outcome.version, outcome.detail)
    if outcome.status == training.RetrainStatus.BUSY and self.request.retries < BUSY_RETRIES:
        raise self.retry(countdown=context.settings.training_lock_seconds)
    return outcome.status


@celery.task(name=IMPORT_DATASET)
def import_task(path: str) -> str:
    """Import a dataset asked for from the admin page."""
    return str(imports.run_import(process_context(), path)["status"])


@celery.task(name=ENRICH_MOVIES)
def enrich_task(limit: int | None = None) -> dict[str, Any]:
    """Fill posters and overviews from TMDb (``movierec enrich --queue``); the report is logged
    (never the key). A run that cannot start or stops early says why in its report."""
    context = process_context()
    try:
        client = enrich.client_from_settings(context.settings)
    except enrich.EnrichError as error:
        log.warning("enrich: %s", error)
        return enrich.EnrichReport(stopped=str(error)).as_dict()
    report = enrich.enrich_movies(context.db, client, limit, _log_enrich_progress)
    if report.stopped:
        log.warning("enrich stopped: %s (%s)", report.stopped, report.summary())
    else:
        log.info("enrich: %s", report.summary())
    return report.as_dict()


def _log_enrich_progress(report: enrich.EnrichReport) -> None:
    """A log line every ``ENRICH_LOG_EVERY`` movies of a running enrich task."""
    done = report.asked + report.failed
    if done % ENRICH_LOG_EVERY == 0:
        log.info("enrich: %d/%d movies asked (%d failed)", done, report.to_ask, report.failed)


@celery.task(name=KEEP_POPULAR)
def keep_popular_task() -> int:
    """Compute again the popular lists people asked for within a day."""
    context = process_context()
    with context.db.transaction() as session:
        return popular.keep_popular_lists(context.serving.cache, session)


@celery.task(name=PRECOMPUTE)
def precompute_task(
    algorithm: str, number: int, ids: list[int], kind: str = precompute.USERS
) -> int:
    """Cache one shard of people's lists, or of movies' similar lists."""
    return precompute.precompute_shard(process_context(), algorithm, number, ids, kind)
