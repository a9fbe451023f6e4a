"""Dataset imports asked for while the server runs: the path is checked here, the import itself
runs in a worker (a big dataset takes minutes). Only paths inside the configured import
directory are read: the admin form must not become a way to probe the server's files.

Also the replacement of the whole catalogue before an import (``movierec import --replace``):
the database, the cached lists in Redis and the model artifacts together."""

from __future__ import annotations

import time
from pathlib import Path

import redis
from sqlalchemy import select

from server.artifacts import ArtifactStore, remove_path
from server.cache import keys
from server.cache.connection import CACHE_ERRORS
from server.cache.coordination import Coordination
from server.datasets import DatasetError, open_dataset
from server.datasets.importer import clear_catalogue
from server.db import Database
from server.errors import Conflict, Unavailable
from server.models import ModelVersion
from server.tasks import IMPORT_DATASET, TRAINING_QUEUE, TaskQueue

# Every cached thing computed from the catalogue's ids: per-person and per-movie lists, the
# published active versions (and champion set), popular lists.
CATALOGUE_KEYS = ("recs:*", "similar:*", "active:*", "popular:*")


def importable_path(import_dir: Path, path: str) -> Path:
    """``path`` (absolute, or relative to ``import_dir``) with symlinks and ``..`` resolved;
    ``DatasetError`` unless it lies inside ``import_dir``, with the same message whether or not
    it exists."""
    root = import_dir.resolve()
    shown = path.strip()
    refused = DatasetError(
        f"{shown}: refused: imports are read from {root} only; put the dataset there "
        "(a relative path is taken from it)"
    )
    try:
        resolved = (root / shown).resolve()  # an absolute path replaces the root
    except (OSError, RuntimeError, ValueError):  # a NUL byte, a symlink loop
        raise refused from None
    if not resolved.is_relative_to(root):
        raise refused
    if not root.is_dir():
        raise DatasetError(
            f"{shown}: cannot be imported: the import directory {root} does not exist; "
            "create it and put the dataset there"
        )
    return resolved


def queue_import(tasks: TaskQueue, path: str, import_dir: Path) -> None:
    """Queue the import of the dataset at ``path`` inside ``import_dir``; ``DatasetError`` at
    once when the path is outside it, missing, ambiguous or of an unknown format,
    ``Unavailable`` when the broker is down."""
    resolved = importable_path(import_dir, path)
    open_dataset(resolved)
    if not tasks.send(IMPORT_DATASET, [str(resolved)], TRAINING_QUEUE):
        raise Unavailable(
            "The task broker is not reachable; try again shortly.", code="broker_down"
        )


def replace_catalogue(
    database: Database, client: redis.Redis, artifacts: ArtifactStore | None = None
) -> dict[str, int]:
    """Delete the catalogue, its ratings, trained models and cached lists (``clear_catalogue``,
    in one transaction); what was deleted. The models' artifacts go from ``artifacts`` (without
    it, their references are taken for directories, as the default store writes them).

    Refused (``Conflict``) while a worker runs on this Redis (its heartbeat is fresh): a running
    server keeps titles and models by internal id, which the new catalogue reuses. Redis must
    answer first (``Unavailable`` otherwise, nothing changed): lists left there would describe
    the old catalogue.
    """
    try:
        heartbeat = Coordination(client).last_heartbeat()
    except CACHE_ERRORS as error:
        raise Unavailable(
            f"cannot reach Redis to drop the cached lists ({type(error).__name__}); "
            "nothing was changed"
        ) from None
    if heartbeat is not None:
        age = max(0, int(time.time()) - heartbeat)
        raise Conflict(
            f"a worker ran {age} s ago on this database: stop 'movierec serve' (and any "
            f"worker) first; a stopped worker's mark fades within {keys.HEARTBEAT_TTL_SECONDS} s",
            code="workers_running",
        )
    with database.transaction() as session:
        references = [
            reference
            for reference in session.scalars(select(ModelVersion.artifact))
            if reference  # a version that failed has none
        ]
        deleted = clear_catalogue(session)
    try:
        deleted["cached lists"] = _drop_cached_lists(client)
    except CACHE_ERRORS as error:
        raise Unavailable(
            f"the catalogue was deleted, but Redis stopped answering ({type(error).__name__}) "
            "before its cached lists were: run the same import with --replace again"
        ) from None
    for reference in references:  # no version names them any more
        if artifacts is None:
            remove_path(Path(reference))
        else:
            artifacts.remove(reference)
    return deleted


def _drop_cached_lists(client: redis.Redis) -> int:
    """Delete every key computed from the catalogue; how many. Web processes drop their near
    copies on the invalidation messages these deletions send."""
    dropped = 0
    for pattern in CATALOGUE_KEYS:
        batch: list[bytes] = []
        for key in client.scan_iter(match=keys.PREFIX + pattern, count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                dropped += int(client.unlink(*batch))
                batch = []
        if batch:
            dropped += int(client.unlink(*batch))
    return dropped
