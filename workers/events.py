"""Consuming the rating-event outbox, as plain functions (the Celery tasks wrap them).

Handlers take a batch of event ids and are idempotent: events already processed are skipped, and
processing an event handles every unprocessed event of the same user (an import of a thousand
ratings by one person is one refresh, not a thousand). Work happens before the events are marked,
so a worker dying in between means the work is redone, never lost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from server.db import now
from server.metrics import metrics
from server.models import IMPORT_EVENT, ModelVersion, RatingEvent
from server.services.model_versions import active_versions, latest_attempt
from server.tasks import EVENTS_PER_TASK
from workers.context import WorkerContext
from workers.precompute import refresh_users

log = logging.getLogger(__name__)

# The relay re-sends at most this many users' events per tick.
RELAY_BATCH = 1000
# One task takes the users of at most this many waiting events besides its own.
DRAIN_LIMIT = 500
# Event ids per UPDATE when marking them processed.
MARK_CHUNK = 500

Send = Callable[[list[int]], None]


def process_events(context: WorkerContext, event_ids: list[int]) -> int:
    """Refresh the cache for the users of these events and of the oldest other waiting events;
    returns how many events this marked processed.

    Taking every waiting event of those users (up to ``DRAIN_LIMIT`` events' worth of users)
    makes one task absorb a burst: the tasks queued behind it find their events done and return
    at once, and a user who rated ten movies in a second is refreshed once.
    """
    with context.db.transaction() as session:
        users = _waiting_users(session, event_ids)
        if not users:
            return 0
        waiting_events = session.execute(
            select(RatingEvent.id, RatingEvent.created_at).where(
                RatingEvent.user_id.in_(users), RatingEvent.processed_at.is_(None)
            )
        ).all()
        waiting = [event_id for event_id, _created in waiting_events]
        refresh_users(context, session, sorted(users))
    _observe_freshness([created for _event_id, created in waiting_events])
    marked = 0
    with context.db.transaction() as session:
        for start in range(0, len(waiting), MARK_CHUNK):
            chunk = waiting[start : start + MARK_CHUNK]
            result = session.execute(
                update(RatingEvent)
                .where(RatingEvent.id.in_(chunk), RatingEvent.processed_at.is_(None))
                .values(processed_at=now())
            )
            marked += int(getattr(result, "rowcount", 0) or 0)
    return marked


def _observe_freshness(created: list[int]) -> None:
    """Each event's lag from its rating to its person's refreshed lists (written just now)."""
    refreshed = time.time()
    histogram = metrics().freshness_seconds
    for created_at in created:
        histogram.observe(max(0.0, refreshed - created_at))


def _waiting_users(session: Session, event_ids: list[int]) -> set[int]:
    """The users of the unprocessed events among ``event_ids`` and of the oldest waiting ones."""
    unprocessed = RatingEvent.processed_at.is_(None)
    asked = session.scalars(
        select(RatingEvent.user_id).where(
            RatingEvent.id.in_(event_ids[:EVENTS_PER_TASK]), unprocessed
        )
    ).all()
    if not asked:  # all done already (a burst was absorbed by an earlier task)
        return set()
    oldest = session.scalars(
        select(RatingEvent.user_id).where(unprocessed).order_by(RatingEvent.id).limit(DRAIN_LIMIT)
    ).all()
    return {user for user in (*asked, *oldest) if user is not None}


def _retrain_due(
    attempt: ModelVersion | None, newest: int, imported: int, scheduled: bool, after_events: int
) -> bool:
    """Whether an algorithm is due a retrain: a scheduled one without any model yet or with
    ``after_events`` new events since its last attempt; any one trained before the newest
    import."""
    if attempt is None:
        return scheduled and newest > 0
    if imported > attempt.data_version:
        return True
    return scheduled and newest - attempt.data_version >= after_events


@dataclass(frozen=True)
class RelayReport:
    """What one relay tick did."""

    resent: int
    retrain: list[str]


def relay(
    context: WorkerContext,
    send_event: Send,
    send_retrain: Callable[[str], None],
    tasks_queued: int = 0,
) -> RelayReport:
    """Re-send the newest unprocessed event of each user whose events waited longer than
    ``relay_after_seconds`` (the broker was down, or a worker died); ask for a retrain of each
    scheduled algorithm that has ``retrain_after_events`` new events or no model at all, and of
    each scheduled or serving algorithm trained before the newest import.

    Nothing is re-sent while ``tasks_queued`` tasks wait on the events queue: the workers are
    behind, not gone, and each task they take drains the oldest waiting events too, so a
    re-send would only queue more tasks behind the backlog."""
    context.coordination.beat_heartbeat(now())
    settings = context.settings
    cutoff = now() - settings.relay_after_seconds
    with context.db.transaction() as session:
        waiting = [] if tasks_queued > 0 else _late_events(session, cutoff)
        newest = int(session.scalar(select(func.max(RatingEvent.id))) or 0)
        imported = session.scalar(
            select(func.max(RatingEvent.id)).where(RatingEvent.kind == IMPORT_EVENT)
        )
        # Scheduled algorithms, and those serving: an import's new data is worth their retrain.
        candidates = dict.fromkeys([*settings.retrain_intervals, *active_versions(session)])
        due = [
            algorithm
            for algorithm in candidates
            if _retrain_due(
                latest_attempt(session, algorithm),
                newest,
                int(imported or 0),
                algorithm in settings.retrain_intervals,
                settings.retrain_after_events,
            )
        ]
    for start in range(0, len(waiting), EVENTS_PER_TASK):
        send_event(waiting[start : start + EVENTS_PER_TASK])
    for algorithm in due:
        send_retrain(algorithm)
    if waiting or due:
        log.info("relay re-sent %d users' events; retrain due: %s", len(waiting), due)
    return RelayReport(len(waiting), due)


def _late_events(session: Session, cutoff: int) -> list[int]:
    """The newest unprocessed event of each user (at most ``RELAY_BATCH``) whose events are
    older than ``cutoff``."""
    return [
        int(event_id)
        for event_id in session.execute(
            select(func.max(RatingEvent.id))
            .where(RatingEvent.processed_at.is_(None), RatingEvent.created_at <= cutoff)
            .group_by(RatingEvent.user_id)
            .limit(RELAY_BATCH)
        ).scalars()
    ]
