"""Consuming the rating-event outbox, as plain functions (the Celery tasks wrap them).

Handlers take an event id and are idempotent: an event already processed is skipped, and
processing one event handles every unprocessed event of the same user up to it (an import of a
thousand ratings by one person is one refresh, not a thousand). Work happens before the events are
marked, so a worker dying in between means the work is redone, never lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select, update

from server.db import now
from server.models import RatingEvent
from server.services.model_versions import latest_attempt
from workers.context import WorkerContext
from workers.precompute import refresh_user

log = logging.getLogger(__name__)

# The relay re-sends at most this many users' events per tick.
RELAY_BATCH = 1000

Send = Callable[[int], None]


def process_event(context: WorkerContext, event_id: int) -> int:
    """Refresh the cache for the event's user; returns how many events this marked processed."""
    with context.db.transaction() as session:
        event = session.get(RatingEvent, event_id)
        if event is None or event.processed_at is not None:
            return 0
        user_id = event.user_id
        newest = session.scalar(
            select(func.max(RatingEvent.id)).where(
                RatingEvent.user_id == user_id, RatingEvent.processed_at.is_(None)
            )
        )
        refresh_user(context, session, user_id)
    with context.db.transaction() as session:
        marked = session.execute(
            update(RatingEvent)
            .where(
                RatingEvent.user_id == user_id,
                RatingEvent.id <= (newest or event_id),
                RatingEvent.processed_at.is_(None),
            )
            .values(processed_at=now())
        )
    return int(getattr(marked, "rowcount", 0) or 0)


@dataclass(frozen=True)
class RelayReport:
    """What one relay tick did."""

    resent: int
    retrain: list[str]


def relay(
    context: WorkerContext, send_event: Send, send_retrain: Callable[[str], None]
) -> RelayReport:
    """Re-send the newest unprocessed event of each user whose events waited longer than
    ``relay_after_seconds`` (the broker was down, or a worker died); ask for a retrain of each
    scheduled algorithm that has ``retrain_after_events`` new events or no model at all."""
    context.serving.cache.beat_heartbeat(now())
    settings = context.settings
    cutoff = now() - settings.relay_after_seconds
    with context.db.transaction() as session:
        waiting = (
            session.execute(
                select(func.max(RatingEvent.id))
                .where(RatingEvent.processed_at.is_(None), RatingEvent.created_at <= cutoff)
                .group_by(RatingEvent.user_id)
                .limit(RELAY_BATCH)
            )
            .scalars()
            .all()
        )
        newest = int(session.scalar(select(func.max(RatingEvent.id))) or 0)
        due = []
        for algorithm in settings.retrain_intervals:
            attempt = latest_attempt(session, algorithm)
            if newest > 0 and (
                attempt is None or newest - attempt.data_version >= settings.retrain_after_events
            ):
                due.append(algorithm)
    for event_id in waiting:
        send_event(int(event_id))
    for algorithm in due:
        send_retrain(algorithm)
    if waiting or due:
        log.info("relay re-sent %d users' events; retrain due: %s", len(waiting), due)
    return RelayReport(len(waiting), due)
