"""Retraining, as plain functions (the Celery tasks are thin wrappers around them).

One run: take the algorithm's lock → read the ratings → skip if the data has not changed → score
a fit on the timeline holdout, bare and as served → fit on everything → write the artifact
atomically → record the version → promote it unless it is worse than the active one → choose
the champions → precompute the cache.
"""

from __future__ import annotations

import itertools
import logging
import shutil
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from sqlalchemy import Table, func, select, update
from sqlalchemy.orm import Session

from plugins.base import FitOptions, Recommender
from plugins.data import MovieInfo
from plugins.evaluation.runner import EvaluationProtocol, evaluate_fold
from plugins.evaluation.splits import RatingTable, sample_test_people, timeline_split
from plugins.fits import FitMemo
from plugins.registry import Registry
from server.datasets.bulk import packed_columns
from server.db import now
from server.metrics import metrics
from server.models import (
    Feedback,
    Genre,
    ModelStatus,
    ModelVersion,
    Movie,
    MovieGenre,
    MovieTag,
    Rating,
    RatingEvent,
)
from server.services import champions, model_versions
from server.serving.evaluation import FoldServing, lift, served_metrics
from server.serving.policy import SEGMENTS, Policy
from workers.context import WorkerContext

log = logging.getLogger(__name__)

# Below this many ratings a holdout says nothing; the version is trained but not scored.
MIN_RATINGS_TO_EVALUATE = 200
# Under the data directory: the fits retrains keep for one another (see ``_kept_fits``).
FITS_DIRECTORY = "fits"

# What a version's row keeps of the holdout's metrics.
KEPT_METRICS = (
    "rmse",
    "mae",
    "precision@10",
    "recall@10",
    "ndcg@10",
    "hit_rate@10",
    "map@10",
    "coverage",
)

# Hands a precompute shard (algorithm, version number, ids, what the ids are: see
# ``workers.precompute.precompute_shard``) to the workers listening to the training queue.
Dispatch = Callable[[str, int, list[int], str], None]


class RetrainStatus(StrEnum):
    """How a retrain ended."""

    BUSY = "busy"  # another worker holds the algorithm's lock
    UNCHANGED = "unchanged"  # no rating changed since the last trained version
    FAILED = "failed"
    REJECTED = "rejected"  # trained, but worse than the active version
    PROMOTED = "promoted"


@dataclass(frozen=True)
class Outcome:
    """What a retrain did, the version it made (if any) and why."""

    status: RetrainStatus
    version: int | None = None
    detail: str = ""


# The columns ``rating_columns`` reads, as 64-bit integers.
RATING_COLUMNS = ("user_id", "movie_id", "half_stars", "updated_at")
# Feedback besides stars as (user, movie, weight) columns of internal ids.
Signals = tuple[np.ndarray, np.ndarray, np.ndarray]


def data_version(session: Session) -> int:
    """The newest rating-event id: it changes exactly when some rating changed."""
    return int(session.scalar(select(func.max(RatingEvent.id))) or 0)


def load_training_table(session: Session) -> RatingTable:
    """Every rating (internal ids) and every movie's metadata, unrated movies included."""
    users, movies, half_stars, updated_at = rating_columns(session)
    stars = half_stars.astype(np.float32)
    stars /= 2.0
    return RatingTable(users, movies, stars, updated_at, movie_metadata(session))


def rating_columns(session: Session) -> list[npt.NDArray[np.int64]]:
    """Every rating's user, movie, half stars and updated at, one array a column: on
    PostgreSQL packed by the database and read by numpy in one piece
    (``server.datasets.bulk.packed_columns``), elsewhere the rows of one query flattened by
    ``np.fromiter``; never a Python object a rating."""
    if session.get_bind().dialect.name == "postgresql":
        return packed_columns(session, cast(Table, Rating.__table__), RATING_COLUMNS)
    rows = session.execute(
        select(Rating.user_id, Rating.movie_id, Rating.half_stars, Rating.updated_at)
    ).all()
    flat = itertools.chain.from_iterable(rows)  # far faster than np.array over Row objects
    table = np.fromiter(flat, np.int64, count=4 * len(rows)).reshape(-1, 4)
    return [table[:, column].copy() for column in range(4)]


def load_feedback_signals(session: Session, weights: Mapping[str, float]) -> Signals:
    """Feedback besides stars as (user, movie, weight) columns of internal ids, a type weighing
    ``weights[type]`` (types weighing nothing, and ``not_interested``, left out)."""
    weighted = {kind: weight for kind, weight in weights.items() if weight > 0}
    rows = session.execute(
        select(Feedback.user_id, Feedback.movie_id, Feedback.type).where(
            Feedback.type.in_(list(weighted))
        )
    ).all()
    users = np.fromiter((row[0] for row in rows), np.int64, count=len(rows))
    movies = np.fromiter((row[1] for row in rows), np.int64, count=len(rows))
    values = np.fromiter((weighted[row[2]] for row in rows), np.float32, count=len(rows))
    return users, movies, values


def movie_metadata(session: Session) -> dict[int, MovieInfo]:
    """What content-based algorithms know of every movie."""
    genres: dict[int, list[str]] = defaultdict(list)
    for movie, name in session.execute(
        select(MovieGenre.movie_id, Genre.name).join(Genre, Genre.id == MovieGenre.genre_id)
    ):
        genres[movie].append(name)
    tags: dict[int, list[str]] = defaultdict(list)
    for movie, tag in session.execute(select(MovieTag.movie_id, MovieTag.tag)):
        tags[movie].append(tag)
    return {
        movie: MovieInfo(
            title=title or "",
            year=year,
            genres=tuple(genres.get(movie, ())),
            tags=tuple(tags.get(movie, ())),
            overview=overview or "",
        )
        for movie, title, year, overview in session.execute(
            select(Movie.id, Movie.title, Movie.year, Movie.overview)
        )
    }


def retrain(
    context: WorkerContext, algorithm: str, force: bool = False, dispatch: Dispatch | None = None
) -> Outcome:
    """Run one retrain of ``algorithm``; ``dispatch`` hands precompute shards to other workers
    (None runs them here)."""
    started = time.perf_counter()
    outcome = "error"  # an exception escaped (the database or Redis failed)
    try:
        with context.coordination.training_lock(algorithm) as held:
            if not held:
                result = Outcome(RetrainStatus.BUSY, detail="another worker is training it")
            else:
                result = _retrain_locked(context, algorithm, force, dispatch)
        outcome = str(result.status)
        return result
    finally:
        metrics().retrain_seconds.labels(algorithm, outcome).observe(time.perf_counter() - started)


def _retrain_locked(
    context: WorkerContext, algorithm: str, force: bool, dispatch: Dispatch | None
) -> Outcome:
    plugin = context.serving.registry.get(algorithm)
    # A bulk process holds the models (and evidence) of whatever it precomputed last. A retrain
    # needs none of them, and most are out of date by the next: held, they grew the process by
    # a model per algorithm (7.6 GB after nine retrains at 25M ratings).
    context.serving.release_held()
    context.serving.models.artifacts.remove_leftovers(algorithm)
    with context.db.transaction() as session:
        _fail_interrupted_runs(session, algorithm)
        version_of_data = data_version(session)
        last = model_versions.last_trained(session, algorithm)
        if (
            not force
            and last is not None
            and last.data_version == version_of_data
            and (last.plugin_version == plugin.version)
        ):
            return Outcome(RetrainStatus.UNCHANGED, last.number)
        table = load_training_table(session)
        signals = load_feedback_signals(session, context.settings.feedback_weight_map)
        row = ModelVersion(
            algorithm=algorithm,
            number=model_versions.next_number(session, algorithm),
            plugin_version=plugin.version,
            params={},
            data_version=version_of_data,
            rating_count=len(table),
            metrics={},
            status=ModelStatus.TRAINING,
            created_at=now(),
        )
        session.add(row)
    try:
        with _kept_fits(context, version_of_data, algorithm):
            model = _train(context, row, table, signals)
    except Exception as error:  # a plugin is third-party code: record any failure, keep going
        log.exception("training %s version %d failed", algorithm, row.number)
        problem = f"{type(error).__name__}: {error}"
        _finish(context, row.id, status=ModelStatus.FAILED, error=problem[:2000])
        return Outcome(RetrainStatus.FAILED, row.number, problem)
    del table, signals  # the precompute needs neither: 28 bytes a rating given back
    return _decide(context, row.id, model, dispatch)


@contextmanager
def _kept_fits(context: WorkerContext, version_of_data: int, algorithm: str) -> Iterator[None]:
    """While it lasts, the models the registry makes keep their fits (on this machine's disk,
    for this version of the data: the others' are dropped) and take back identical ones; the
    retrained algorithm itself is fitted anew."""
    root = context.settings.resolved_data_dir / FITS_DIRECTORY
    for other in root.glob("*"):
        if other.name != str(version_of_data):
            shutil.rmtree(other, ignore_errors=True)
    fits = FitMemo(
        root / str(version_of_data), lambda name: metrics().fits_reused.labels(name).inc()
    )
    fits.forget(algorithm)
    registry = context.serving.registry
    registry.fits = fits
    try:
        yield
    finally:
        registry.fits = None


def _count_reuse(algorithm: str) -> None:
    metrics().fits_reused.labels(algorithm).inc()


def _train(
    context: WorkerContext, row: ModelVersion, table: RatingTable, signals: Signals
) -> Recommender:
    """Score on the holdout, fit on everything, save; the row gets metrics, timings, artifact."""
    registry = context.serving.registry
    started = time.perf_counter()
    metrics = holdout_metrics(
        registry.create(row.algorithm),
        table,
        context.settings.holdout_fraction,
        registry,
        Policy.from_settings(context.settings),
        context.settings.holdout_max_people,
    )
    evaluate_seconds = time.perf_counter() - started
    model = registry.create(row.algorithm)
    started = time.perf_counter()
    # Feedback besides stars joins the fit on everything; the holdout scores stars alone.
    model.fit(table.to_ratings(table.catalogue()).with_signals(*signals), FitOptions(seed=0))
    fit_seconds = time.perf_counter() - started
    artifact = context.serving.models.artifacts.publish(model, row.algorithm, row.number)
    _finish(
        context,
        row.id,
        status=ModelStatus.READY,
        params=model.describe().get("config", {}),
        metrics=metrics,
        fit_seconds=fit_seconds,
        evaluate_seconds=evaluate_seconds,
        artifact=artifact,
    )
    return model


def holdout_metrics(
    model: Recommender,
    table: RatingTable,
    fraction: float,
    registry: Registry,
    policy: Policy,
    most_people: int,
) -> dict[str, Any]:
    """The evaluation engine's metrics for ``model`` on the timeline holdout (each person's
    newest ``fraction``, and the newest ``fraction`` of people as newcomers), scored on at most
    ``most_people`` test people (a seeded sample, the same for every algorithm on the same
    data; ``holdout_people`` says how many of how many); for a ranker also ``served``: what
    the served policy gives each test person, by segment."""
    if len(table) < MIN_RATINGS_TO_EVALUATE:
        return {}
    whole = next(timeline_split(table, fraction, policy.cold_start_ratings))
    fold = sample_test_people(whole, most_people)
    catalogue = table.catalogue()
    train = fold.train.to_ratings(catalogue)  # one copy for the fallback, the model and serving
    protocol = EvaluationProtocol(k=10)
    result, _ = evaluate_fold(model, fold, catalogue, protocol, None, train)
    row = result.to_json(10)
    metrics: dict[str, Any] = {
        name: row[name] for name in KEPT_METRICS if row.get(name) is not None
    }
    if "rank" in model.capabilities:  # ``model`` is fitted on the fold's training part
        serving = FoldServing.fit(fold, catalogue, registry, train)
        metrics["served"] = served_metrics(model, serving, policy)
    if fold is not whole:
        metrics["holdout_people"] = {
            "scored": len(np.unique(fold.test.users)),
            "of": len(np.unique(whole.test.users)),
        }
    return metrics


def is_not_worse(new: dict[str, Any], old: dict[str, Any], tolerance: float) -> bool:
    """Whether ``new`` metrics are within ``tolerance`` (a fraction) of ``old`` or better.

    Rating models are judged by RMSE (lower is better), rankers by the NDCG@10 of what they
    serve (over popularity's on the same people when both holdouts have it: each version's
    holdout is its own), else the bare NDCG@10. Without a comparable metric the new version is
    not worse (it saw more data).
    """
    if new.get("rmse") is not None and old.get("rmse") is not None:
        return float(new["rmse"]) <= float(old["rmse"]) * (1.0 + tolerance)
    new_lift, old_lift = _served_lift(new), _served_lift(old)
    if new_lift is not None and old_lift is not None:
        return new_lift >= old_lift * (1.0 - tolerance)
    if new.get("ndcg@10") is not None and old.get("ndcg@10") is not None:
        return float(new["ndcg@10"]) >= float(old["ndcg@10"]) * (1.0 - tolerance)
    return True


def _served_lift(metrics: dict[str, Any]) -> float | None:
    served = metrics.get("served")
    everyone = served.get("all") if isinstance(served, dict) else None
    return lift(everyone) if isinstance(everyone, dict) else None


def _decide(
    context: WorkerContext, row_id: int, model: Recommender, dispatch: Dispatch | None
) -> Outcome:
    """The quality gate: reject a version worse than the active one, else activate it."""
    with context.db.transaction() as session:
        row = session.get_one(ModelVersion, row_id)
        active = model_versions.active_version(session, row.algorithm)
        tolerance = context.settings.promote_tolerance
        if active is not None and not is_not_worse(row.metrics, active.metrics, tolerance):
            row.status = ModelStatus.REJECTED
            detail = f"worse than version {active.number}"
            return Outcome(RetrainStatus.REJECTED, row.number, detail)
        algorithm, number = row.algorithm, row.number
    changed = model_versions.activate(context.db, context.serving.cache, algorithm, number)
    with context.db.transaction() as session:
        served = _precomputed(context, session)
    precompute(context, algorithm, number, model, dispatch, algorithm in served)
    if changed:  # every "auto" list is stale: the other champions fill theirs again
        precompute_champions(context, algorithm, dispatch)
    return Outcome(RetrainStatus.PROMOTED, number)


def precompute_champions(context: WorkerContext, done: str, dispatch: Dispatch | None) -> None:
    """Fill the "auto" lists of every champion but ``done`` (whose precompute just ran)."""
    with context.db.transaction() as session:
        chosen = champions.current(session)
        names = {champions.champion_of(chosen, segment) for segment in SEGMENTS} - {done}
        active = model_versions.active_versions(session)
        versions = [(name, active[name].number) for name in sorted(names) if name in active]
    for name, number in versions:
        if name in context.serving.registry.names():
            _precompute_users(context, name, number, dispatch)


def precompute(
    context: WorkerContext,
    algorithm: str,
    number: int,
    model: Recommender,
    dispatch: Dispatch | None,
    served: bool = True,
) -> None:
    """Fill the cache for a newly promoted version, in shards (handed to other workers by
    ``dispatch`` when given): every known movie's similar list when it is the one that finds
    similar movies (``similar_algorithm``; another's are computed by the read), and when it is
    ``served`` (``champions.precomputed``) users' lists."""
    from workers.precompute import SIMILAR

    if "similar" in model.capabilities and algorithm == context.settings.similar_algorithm:
        movies = model.known_movies().tolist()
        _in_shards(context, algorithm, number, movies, SIMILAR, dispatch)
    if "rank" in model.capabilities and served:
        _precompute_users(context, algorithm, number, dispatch)


def _precomputed(context: WorkerContext, session: Session) -> set[str]:
    """The rankers whose lists are kept for everyone now."""
    settings = context.settings
    chosen = champions.current(session)
    return champions.precomputed(chosen, settings.default_algorithm, settings.challenger)


def _precompute_users(
    context: WorkerContext, algorithm: str, number: int, dispatch: Dispatch | None
) -> None:
    """Every rating user's list of a version, in shards."""
    from workers.precompute import USERS

    with context.db.transaction() as session:
        users = sorted(int(user) for user in session.scalars(select(Rating.user_id).distinct()))
    _in_shards(context, algorithm, number, users, USERS, dispatch)


def _in_shards(
    context: WorkerContext,
    algorithm: str,
    number: int,
    ids: list[int],
    kind: str,
    dispatch: Dispatch | None,
) -> None:
    """Precompute ``ids`` (of ``kind``) in shards of ``precompute_shard_users``: here, or
    handed to ``dispatch``."""
    from workers.precompute import precompute_shard

    size = context.settings.precompute_shard_users
    for start in range(0, len(ids), size):
        shard = ids[start : start + size]
        if dispatch is None:
            precompute_shard(context, algorithm, number, shard, kind)
        else:
            dispatch(algorithm, number, shard, kind)


def _fail_interrupted_runs(session: Session, algorithm: str) -> None:
    """Runs still ``training`` while we hold the lock were cut off (their worker died)."""
    session.execute(
        update(ModelVersion)
        .where(ModelVersion.algorithm == algorithm, ModelVersion.status == ModelStatus.TRAINING)
        .values(
            status=ModelStatus.FAILED, error="interrupted: the worker stopped", finished_at=now()
        )
    )


def _finish(context: WorkerContext, row_id: int, **values: Any) -> None:
    with context.db.transaction() as session:
        session.execute(
            update(ModelVersion)
            .where(ModelVersion.id == row_id)
            .values(finished_at=now(), **values)
        )
