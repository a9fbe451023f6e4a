"""The commands that run the workers, joined to the ``movierec`` group through the
``movierec.commands`` entry points (the server never imports the workers): ``serve`` starts the
web server with a worker and beat alongside, ``worker`` and ``beat`` run them alone, ``train``
runs one retrain.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import click

from server.cache.connection import with_redis_started
from server.cli.common import load_settings, migrated_database, open_or_fail, reported
from server.config import Settings
from server.db import Database
from server.metrics import prepare_multiprocess_dir
from server.tasks import EVENTS_QUEUE, TRAINING_QUEUE

# Two lanes, each a Celery worker of its own: the live lane takes only people's events (a
# rating reaching its person's lists) at the web's CPU priority; the bulk lane takes retrains,
# precompute shards and imports at a lower one. Bulk work can then never occupy the live
# lane's processes, however much of it waits.
LANES = {"live": EVENTS_QUEUE, "bulk": TRAINING_QUEUE}


def _celery_argv(role: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "workers.celery_app", role, "--loglevel", "INFO"]


def _lane_argv(settings: Settings, lane: str, bulk_concurrency: int | None = None) -> list[str]:
    """The Celery worker of one lane: its queue, its processes."""
    concurrency = settings.live_workers if lane == "live" else bulk_concurrency
    hostname = f"movierec-{lane}@{os.uname().nodename}-{os.getpid()}"
    return [
        *_celery_argv("worker"),
        *("-Q", LANES[lane], "--hostname", hostname),
        *("--concurrency", str(concurrency or settings.bulk_workers)),
    ]


def _environment(settings: Settings) -> dict[str, str]:
    """The environment of a child process: the same settings, the embedded Redis resolved."""
    environ = dict(os.environ)
    environ["MOVIEREC_DATA_DIR"] = str(settings.resolved_data_dir)
    if settings.redis_url:
        environ["MOVIEREC_REDIS_URL"] = settings.redis_url
    return environ


def _lower_priority(settings: Settings) -> None:
    """Lower this process's CPU priority by ``worker_nice`` (bulk work yields to the web)."""
    if settings.worker_nice > 0:
        os.nice(settings.worker_nice)


def _resolved_settings() -> Settings:
    return with_redis_started(load_settings())


@click.command()
@click.option(
    "--lane",
    type=click.Choice(["all", *LANES]),
    default="all",
    show_default=True,
    help="live: people's events only; bulk: retrains, precompute and imports; all: both, as "
    "two worker processes.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1),
    default=None,
    help="Processes of the bulk lane (default MOVIEREC_BULK_WORKERS; the live lane has "
    "MOVIEREC_LIVE_WORKERS).",
)
def worker(lane: str, concurrency: int | None) -> None:
    """Run Celery workers: the live lane, the bulk lane, or both."""
    settings = _resolved_settings()
    migrated_database(settings).dispose()
    if lane != "all":
        argv = _lane_argv(settings, lane, concurrency)
        if lane == "bulk":
            _lower_priority(settings)
        os.execve(sys.executable, argv, _environment(settings))  # noqa: S606 (our own argv)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    children = _start_lanes(settings, concurrency, beat=False)
    try:
        os.wait()  # until either lane's worker ends (or a signal)
    finally:
        for child in children:
            _stop_worker(child)


@click.command()
def beat() -> None:
    """Run Celery beat: the event relay and the retraining schedule."""
    settings = _resolved_settings()
    os.execve(sys.executable, _celery_argv("beat"), _environment(settings))  # noqa: S606


@click.command()
@click.argument("algorithm")
@click.option("--queue", "through_queue", is_flag=True, help="Send it to the workers instead.")
@click.option("--force", is_flag=True, help="Retrain even if the data has not changed.")
def train(algorithm: str, through_queue: bool, force: bool) -> None:
    """Retrain ALGORITHM now: in this process (default) or through the training queue."""
    from plugins.registry import discover
    from server.cache.connection import connect
    from server.cache.coordination import Coordination
    from server.services.algorithms import queue_retrain
    from server.tasks import TaskQueue

    settings = _resolved_settings()
    migrated_database(settings).dispose()
    if through_queue:
        with reported():
            registry = discover(settings.algorithm_allow_list)
            coordination = Coordination(connect(settings))
            added = queue_retrain(registry, TaskQueue(settings), coordination, algorithm, force)
        click.echo(
            f"queued a retrain of {algorithm}"
            if added
            else f"a retrain of {algorithm} already waits"
        )
        return
    click.echo(_train_here(settings, algorithm, force))


def _train_here(settings: Settings, algorithm: str, force: bool) -> str:
    from workers.context import build_context
    from workers.training import RetrainStatus, retrain

    context = build_context(settings)
    if algorithm not in context.serving.registry.names():
        raise click.ClickException(
            f"no algorithm {algorithm!r}; installed: {', '.join(context.serving.registry.names())}"
        )
    outcome = retrain(context, algorithm, force)
    if outcome.status == RetrainStatus.FAILED:
        raise click.ClickException(f"training {algorithm} failed: {outcome.detail}")
    version = "" if outcome.version is None else f" version {outcome.version}"
    return f"{algorithm}: {outcome.status}{version} {outcome.detail}".rstrip()


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--workers", type=click.IntRange(1), default=2, show_default=True)
@click.option(
    "--demo",
    "demo",
    is_flag=False,
    flag_value="synthetic",
    default=None,
    help="Load demo data into an empty database (synthetic; --demo=PATH for a dataset; "
    "--demo=ml-latest-small or another MovieLens name downloads it first) and train once "
    "before serving.",
)
@click.option("--no-worker", is_flag=True, help="Do not start a worker and beat alongside.")
def serve(host: str, port: int, workers: int, demo: str | None, no_worker: bool) -> None:
    """Run the web server (gunicorn) with a Celery worker and beat alongside.

    Ctrl-C or SIGTERM stops every process it started: gunicorn's workers, the Celery worker
    and beat, and the embedded Redis server.
    """
    from server.cache.connection import stop_embedded_redis
    from server.http_server import ensure_port_free, run_server

    ensure_port_free(host, port)
    # Until gunicorn installs its own handlers, SIGTERM unwinds like Ctrl-C: the finally
    # clauses below stop what was started (the default action would skip them).
    signal.signal(signal.SIGTERM, _exit_on_signal)
    settings = _resolved_settings()
    # Before anything counts: every process started from here (gunicorn's workers, the Celery
    # worker) writes its metrics to this directory, and /metrics adds them up.
    prepare_multiprocess_dir(settings.resolved_data_dir)
    try:
        migrated_database(settings).dispose()
        sign_in = None if demo is None else _load_demo(settings, demo)
        children = [] if no_worker else _start_lanes(settings)
        try:
            run_server(settings, host, port, workers, sign_in, with_worker=bool(children))
        finally:
            for child in children:
                _stop_worker(child)
    finally:
        stop_embedded_redis()


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _start_lanes(
    settings: Settings, concurrency: int | None = None, beat: bool = True
) -> list[subprocess.Popen[bytes]]:
    """A Celery worker for each lane (beat within the live one's), each in its own process
    group: the caller stops them (a terminal's Ctrl-C reaching them as well would be a second
    signal, Celery's cue to stop at once)."""
    children = []
    for lane in LANES:
        argv = _lane_argv(settings, lane, concurrency)
        argv += ["--beat"] if beat and lane == "live" else []
        children.append(
            subprocess.Popen(  # noqa: S603 (our own argv)
                argv,
                env=_environment(settings),
                preexec_fn=(lambda: _lower_priority(settings)) if lane == "bulk" else None,
                process_group=0,
            )
        )
    pids = ", ".join(f"{lane} {child.pid}" for lane, child in zip(LANES, children, strict=True))
    click.echo(f"workers started ({pids}){' with beat' if beat else ''}")
    return children


WORKER_STOP_SECONDS = 30


def _stop_worker(child: subprocess.Popen[bytes]) -> None:
    """Ask the worker to finish its tasks and stop; after ``WORKER_STOP_SECONDS``, kill its
    whole process group (pool processes and beat included)."""
    with contextlib.suppress(ProcessLookupError):
        child.terminate()
    try:
        child.wait(timeout=WORKER_STOP_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    with contextlib.suppress(ProcessLookupError):  # a pool process its parent left behind
        os.killpg(child.pid, signal.SIGKILL)


DEMO_ADMIN = "admin"
DEMO_ADMIN_PASSWORD_FILE = "admin_password"  # noqa: S105 (a file name)


def _load_demo(settings: Settings, demo: str) -> str:
    """Import demo data when the database has no ratings yet, then train every scheduled
    algorithm once, so the first page already shows personal recommendations. A database that
    has ratings keeps them: a dataset whose movie ids name other movies there is refused (two
    catalogues would merge), one that matches is not imported again."""
    from server.services.stats import database_counts

    database = migrated_database(settings)
    demo = _demo_source(settings, demo)
    with database.transaction() as session:
        ratings = database_counts(session)["ratings"]
    if ratings:
        _keep_existing_data(database, demo, ratings)
    else:
        _import_demo(database, demo)
    for algorithm in settings.retrain_intervals:
        click.echo(_train_here(settings, algorithm, force=False))
    return _demo_admin(settings, database)


def _demo_source(settings: Settings, demo: str) -> str:
    """``demo`` itself, or for the name of a MovieLens dataset that is not a path here, where
    it was downloaded to (fetched once, into the data directory's datasets folder)."""
    from server.cli.data import fetch_dataset
    from server.datasets.download import KNOWN_DATASETS

    if demo in KNOWN_DATASETS and not Path(demo).exists():
        return str(fetch_dataset(settings, demo))
    return demo


def _import_demo(database: Database, demo: str) -> None:
    """Import the synthetic demo data, or the dataset at the path ``demo``."""
    from server.cli.data import run_import
    from server.datasets.synthetic import SyntheticSpec, write_dataset

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(demo)
        if demo == "synthetic":
            path = Path(scratch) / "synthetic"
            write_dataset(SyntheticSpec(users=600, movies=3000, ratings=60_000, seed=1), path)
        summary = run_import(database, open_or_fail(path), quiet=True)
        click.echo(f"demo data: {summary.added}")


def _keep_existing_data(database: Database, demo: str, ratings: int) -> None:
    """Say why nothing is imported into a database that has ratings; a CLI error when the demo
    dataset is another catalogue than the one stored."""
    from server.datasets import DatasetError
    from server.datasets.importer import check_catalogue

    if demo != "synthetic":
        try:
            check_catalogue(database, open_or_fail(Path(demo)))
        except DatasetError as error:
            raise click.ClickException(str(error)) from None
    click.echo(
        f"demo data: not loaded, the database already holds {ratings} ratings "
        "(a fresh MOVIEREC_DATA_DIR starts empty)"
    )


def _demo_admin(settings: Settings, database: Database) -> str:
    """An ``admin`` account for the demo, its password generated and kept in the data directory
    (mode 0600), so the admin page can be tried at once; how to sign in, for the first screen
    (shown on the terminal, never logged)."""
    from server.config import read_or_create_secret
    from server.errors import Conflict
    from server.services.accounts import create_account

    password_file = settings.resolved_data_dir / DEMO_ADMIN_PASSWORD_FILE
    password, _created = read_or_create_secret(password_file)
    with contextlib.suppress(Conflict), database.transaction() as session:  # made by a past run
        create_account(session, DEMO_ADMIN, password, role="admin")
    return f"as {DEMO_ADMIN} with password {password} (kept in {password_file})"
