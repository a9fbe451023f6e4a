"""The model registry: every training run is a ``model_versions`` row; one per algorithm is active.

Promotion and rollback only move the ``active`` status; artifacts are never rewritten, so a
rollback is instant. ``activate`` and ``roll_back`` also publish the new active version, so the
web processes pick the change up on their next read: the API, the pages, the CLI and the workers
all change the active version through them.
"""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from server.cache.store import Cache
from server.db import Database, now
from server.errors import Conflict, NotFound
from server.models import TRAINED_STATUSES, ChampionSet, ModelStatus, ModelVersion
from server.services import champions


def active_version(session: Session, algorithm: str) -> ModelVersion | None:
    """The version of ``algorithm`` that serves, if any."""
    return session.scalar(
        select(ModelVersion).where(
            ModelVersion.algorithm == algorithm, ModelVersion.status == ModelStatus.ACTIVE
        )
    )


def active_versions(session: Session) -> dict[str, ModelVersion]:
    """Every algorithm's active version."""
    rows = session.scalars(select(ModelVersion).where(ModelVersion.status == ModelStatus.ACTIVE))
    return {row.algorithm: row for row in rows}


def list_versions(session: Session, algorithm: str | None = None) -> list[ModelVersion]:
    """Versions, newest first (of one algorithm, or all)."""
    query = select(ModelVersion).order_by(ModelVersion.algorithm, ModelVersion.number.desc())
    if algorithm is not None:
        query = query.where(ModelVersion.algorithm == algorithm)
    return list(session.scalars(query))


def get_version(session: Session, algorithm: str, number: int) -> ModelVersion:
    """One version; ``NotFound`` if it does not exist."""
    row = session.scalar(
        select(ModelVersion).where(
            ModelVersion.algorithm == algorithm, ModelVersion.number == number
        )
    )
    if row is None:
        raise NotFound(f"no version {number} of {algorithm!r}", code="model_version_not_found")
    return row


def next_number(session: Session, algorithm: str) -> int:
    """The number the next version of ``algorithm`` gets."""
    latest = session.scalar(
        select(func.max(ModelVersion.number)).where(ModelVersion.algorithm == algorithm)
    )
    return (latest or 0) + 1


def last_trained(session: Session, algorithm: str) -> ModelVersion | None:
    """The newest version whose training finished with a model (ready, active or rejected)."""
    return session.scalar(
        select(ModelVersion)
        .where(
            ModelVersion.algorithm == algorithm,
            ModelVersion.status.in_(TRAINED_STATUSES),
        )
        .order_by(ModelVersion.number.desc())
        .limit(1)
    )


def latest_attempt(session: Session, algorithm: str) -> ModelVersion | None:
    """The newest version of ``algorithm`` whatever its status (a failed one included)."""
    return session.scalar(
        select(ModelVersion)
        .where(ModelVersion.algorithm == algorithm)
        .order_by(ModelVersion.number.desc())
        .limit(1)
    )


def promote(session: Session, version: ModelVersion) -> None:
    """Make ``version`` the active one of its algorithm (the previous one stays ``ready``)."""
    if version.status not in TRAINED_STATUSES or not version.artifact:
        raise Conflict(
            f"{version.algorithm} version {version.number} is {version.status}: "
            "only a trained version can serve",
            code="model_not_servable",
        )
    session.execute(
        update(ModelVersion)
        .where(
            ModelVersion.algorithm == version.algorithm, ModelVersion.status == ModelStatus.ACTIVE
        )
        .values(status=ModelStatus.READY)
    )
    version.status = ModelStatus.ACTIVE
    version.promoted_at = now()


def rollback(session: Session, algorithm: str) -> ModelVersion:
    """Retire the active version and re-activate the one promoted before it."""
    current = active_version(session, algorithm)
    if current is None:
        raise Conflict(f"{algorithm!r} has no active version", code="nothing_to_roll_back")
    previous = session.scalar(
        select(ModelVersion)
        .where(
            ModelVersion.algorithm == algorithm,
            ModelVersion.status == ModelStatus.READY,
            ModelVersion.promoted_at.is_not(None),
        )
        .order_by(ModelVersion.promoted_at.desc(), ModelVersion.number.desc())
        .limit(1)
    )
    if previous is None:
        raise Conflict(
            f"{algorithm!r} has no earlier promoted version", code="nothing_to_roll_back"
        )
    current.status = ModelStatus.RETIRED
    previous.status = ModelStatus.ACTIVE
    previous.promoted_at = now()
    return previous


def activate(database: Database, cache: Cache, algorithm: str, number: int) -> bool:
    """Make version ``number`` of ``algorithm`` the one that serves, choose the champions again
    and publish both; whether the champions changed."""
    with database.transaction() as session:
        promote(session, get_version(session, algorithm, number))
        chosen = _choose_champions(session, f"{algorithm} version {number} promoted")
    cache.publish_active_version(algorithm, number)
    return _publish_champions(cache, chosen)


def roll_back(database: Database, cache: Cache, algorithm: str) -> int:
    """Go back to the version promoted before the active one, choose the champions again and
    publish both; the version's number."""
    with database.transaction() as session:
        number = rollback(session, algorithm).number
        chosen = _choose_champions(session, f"{algorithm} rolled back to version {number}")
    cache.publish_active_version(algorithm, number)
    _publish_champions(cache, chosen)
    return number


def _choose_champions(session: Session, cause: str) -> int | None:
    session.flush()
    row = champions.refresh(session, active_versions(session), cause)
    return None if row is None else row.id


def _publish_champions(cache: Cache, generation: int | None) -> bool:
    """Publish a new champion set's id, which makes every cached "auto" list stale."""
    if generation is None:
        return False
    cache.publish_active_version(champions.AUTO, generation)
    return True


def roll_back_champions(database: Database, cache: Cache) -> ChampionSet:
    """Serve the champion set chosen before the active one again, and publish it."""
    with database.transaction() as session:
        row = champions.roll_back(session)
        session.expunge(row)
    cache.publish_active_version(champions.AUTO, row.id)
    return row
