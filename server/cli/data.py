"""``movierec download | import | export | generate | stats``: datasets in and out of the
database."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from sqlalchemy.exc import SQLAlchemyError

from server.cli.common import load_settings, migrated_database, open_or_fail
from server.config import Settings
from server.datasets import FORMATS, DatasetError, DatasetReader, Problems
from server.datasets.download import KNOWN_DATASETS
from server.datasets.export import export_dataset
from server.db import Database
from server.errors import MovieRecError

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar

    from server.datasets.importer import ImportSummary

MAX_PROBLEMS_SHOWN = 20


@click.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "format_name",
    type=click.Choice(list(FORMATS)),
    help="The dataset's layout, when a directory holds several (detected otherwise).",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option(
    "--replace",
    is_flag=True,
    help="Delete the existing catalogue, its ratings, trained models and cached lists first "
    "(stop the server first).",
)
def import_command(path: Path, format_name: str | None, quiet: bool, replace: bool) -> None:
    """Load a dataset (MovieLens 100K/1M/10M/20M/25M/latest, Kaggle, Netflix) into the database.

    The whole dataset is read before the first write: a file that cannot be read changes
    nothing. An import stopped part-way (a full disk, the database gone) resumes when run again.
    A dataset whose movie ids name other movies in the database is refused (two catalogues would
    merge): --replace deletes the existing one first.
    """
    shown: list[str] = []

    def on_problem(message: str) -> None:
        shown.append(message)
        if len(shown) <= MAX_PROBLEMS_SHOWN:
            click.echo(f"warning: {message}", err=True)

    problems = Problems(on_problem=on_problem)
    reader = open_or_fail(path, problems, format_name)
    settings = load_settings()
    summary = run_import(migrated_database(settings), reader, quiet, settings if replace else None)
    if problems.count > MAX_PROBLEMS_SHOWN:
        click.echo(f"warning: {problems.count - MAX_PROBLEMS_SHOWN} more problems", err=True)
    added = ", ".join(
        f"{count} {name}" for name, count in summary.added.items() if name != "events"
    )
    changed = (
        "; the data changed: a running worker retrains the serving algorithms next"
        if summary.added["events"]
        else ""
    )
    click.echo(
        f"imported {reader.format_name} from {path} in {summary.seconds:.1f} s: added {added}; "
        f"updated {summary.ratings_updated} ratings; skipped {summary.problems} malformed rows"
        f"{changed}"
    )


def run_import(
    database: Database, reader: DatasetReader, quiet: bool, replacing: Settings | None = None
) -> ImportSummary:
    """Check, then write, under one progress bar (every rating is read twice: half the bar
    each); any failure is a one-line CLI error. With ``replacing`` (the settings, for Redis),
    the existing catalogue is deleted once the dataset is known to be readable."""
    from server.datasets.importer import describe_failure, import_dataset

    total = 2 * sum(_count_lines(p) for p in reader.ratings_files())
    label = f"{reader.format_name}: checking, then importing ratings"
    replace = None if replacing is None else (lambda: _replace(database, replacing))
    try:
        with click.progressbar(length=total, label=label, hidden=quiet) as bar:
            return import_dataset(
                database, reader, progress=bar.update, checking=bar.update, replace=replace
            )
    except (DatasetError, MovieRecError) as error:
        raise click.ClickException(str(error)) from None
    except (SQLAlchemyError, OSError) as error:
        raise click.ClickException(
            f"the import stopped: {describe_failure(error)}; what it wrote is kept, and the same "
            "import run again resumes where it stopped"
        ) from None


def _replace(database: Database, settings: Settings) -> None:
    """Delete the existing catalogue (database, cached lists, artifacts) and say what went."""
    from server.artifacts import artifact_store
    from server.cache.connection import connect
    from server.services.imports import replace_catalogue

    deleted = replace_catalogue(database, connect(settings), artifact_store(settings))
    shown = ", ".join(f"{count} {name}" for name, count in deleted.items())
    click.echo(f"replaced the catalogue: deleted {shown}", err=True)


def _count_lines(path: Path) -> int:
    count = 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            count += block.count(b"\n")
    return count


@click.command("download")
@click.argument("name", type=click.Choice(KNOWN_DATASETS))
@click.option(
    "--to",
    "root",
    type=click.Path(path_type=Path, file_okay=False),
    help="The directory to put it in (default: the data directory's datasets folder).",
)
def download_command(name: str, root: Path | None) -> None:
    """Download the MovieLens dataset NAME from GroupLens, check its MD5 and unpack it.

    A finished download is not fetched again. Import it with 'movierec import PATH'.
    """
    path = fetch_dataset(load_settings(), name, root)
    click.echo(f"import it with: movierec import {path}")


def fetch_dataset(settings: Settings, name: str, root: Path | None = None) -> Path:
    """Download ``name`` (once) into ``root`` or the data directory's datasets folder, with a
    progress bar on stderr; its path. Any failure is a one-line CLI error."""
    from server.datasets.download import DownloadError, download

    root = root or settings.resolved_data_dir / "datasets"
    with contextlib.ExitStack() as stack:
        bars: list[ProgressBar[int]] = []

        def progress(done: int, total: int | None) -> None:
            if total is None:  # the server did not say how long: no bar to fill
                return
            if not bars:  # shown once the archive arrives: not before an error about the network
                label = f"downloading {name}.zip"
                bar = click.progressbar(length=total, label=label, file=sys.stderr)
                bars.append(stack.enter_context(bar))
            bars[0].update(done - bars[0].pos)

        try:
            downloaded = download(name, root, settings.datasets_url, progress)
        except DownloadError as error:
            raise click.ClickException(str(error)) from None
    if downloaded.fetched:
        click.echo(f"downloaded {name} to {downloaded.path} (MD5 {downloaded.md5} verified)")
    else:
        click.echo(f"{name} is already downloaded and verified in {downloaded.path}")
    return downloaded.path


@click.command("export")
@click.argument("out_dir", type=click.Path(path_type=Path, file_okay=False))
def export_command(out_dir: Path) -> None:
    """Write the catalogue, every rating and all feedback to OUT_DIR in the MovieLens layout
    (movies.csv, ratings.csv, links.csv, and feedback.csv): 'movierec import OUT_DIR' reads it
    back."""
    database = migrated_database()
    try:
        written = export_dataset(database, out_dir)
    except OSError as error:
        raise click.ClickException(f"cannot write {out_dir}: {error.strerror or error}") from None
    finally:
        database.dispose()
    click.echo(
        f"wrote {written.movies} movies, {written.ratings} ratings, {written.feedback} feedback "
        f"and {written.links} links to {out_dir}"
    )


@click.command("generate")
@click.option("--users", type=click.IntRange(1), default=1000, show_default=True)
@click.option("--movies", type=click.IntRange(1), default=2000, show_default=True)
@click.option("--ratings", type=click.IntRange(1), default=100_000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.argument("out_dir", type=click.Path(path_type=Path, file_okay=False))
def generate_command(users: int, movies: int, ratings: int, seed: int, out_dir: Path) -> None:
    """Write a synthetic dataset in the MovieLens-latest CSV layout to OUT_DIR."""
    from server.datasets.synthetic import SyntheticSpec, write_dataset

    try:
        spec = SyntheticSpec(users=users, movies=movies, ratings=ratings, seed=seed)
        written = write_dataset(spec, out_dir)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"wrote {written} ratings to {out_dir}")


@click.command("stats")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def stats_command(as_json: bool) -> None:
    """Counts of users, movies, ratings and events in the configured database."""
    from server.services.stats import database_counts

    with migrated_database().transaction() as session:
        counts = database_counts(session)
    if as_json:
        click.echo(json.dumps(counts))
    else:
        for name, value in counts.items():
            click.echo(f"{name:>20}  {value}")
