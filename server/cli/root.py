"""The ``movierec`` command line: serve, db, import, generate, stats, api-key, plugins,
evaluate."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from server import migrate
from server.cli.accounts import password_command
from server.cli.algorithms import evaluate_command, plugins_command
from server.cli.models import models_command
from server.config import Settings, SettingsError
from server.datasets import DatasetError, DatasetReader, Problems, open_dataset
from server.db import Database

MAX_PROBLEMS_SHOWN = 20


def load_settings() -> Settings:
    """The environment's settings; a bad value is a CLI error, not a traceback."""
    try:
        return Settings.load()
    except SettingsError as error:
        raise click.ClickException(str(error)) from None


def database_from_settings() -> Database:
    """The database of the environment's settings, migrated to the newest schema."""
    return _database(load_settings())


def _database(settings: Settings) -> Database:
    """The configured database with its schema brought to the newest migration."""
    url = settings.resolved_database_url
    try:
        if migrate.current_revision(url) != migrate.head_revision(url):
            migrate.upgrade(url)
    except Exception as error:  # a wrong URL or an unreachable server: say which, no traceback
        raise click.ClickException(f"cannot use the database: {error}") from None
    return Database(url)


@click.group()
@click.version_option(package_name="movierec")
def main() -> None:
    """movierec: a plugin-based, event-driven movie recommender server."""


@main.group()
def db() -> None:
    """Database schema migrations."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Bring the schema up to REVISION."""
    migrate.upgrade(load_settings().resolved_database_url, revision)
    click.echo(f"database at {migrate.current_revision(load_settings().resolved_database_url)}")


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Take the schema back to REVISION ("base" removes every table)."""
    migrate.downgrade(load_settings().resolved_database_url, revision)


@db.command("current")
def db_current() -> None:
    """Print the schema's revision."""
    click.echo(migrate.current_revision(load_settings().resolved_database_url) or "empty")


@db.command("revision")
@click.option("-m", "--message", required=True)
def db_revision(message: str) -> None:
    """Write a new migration from the difference between the models and the database."""
    migrate.make_revision(load_settings().resolved_database_url, message)


@main.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--quiet", is_flag=True, help="No progress bar.")
def import_command(path: Path, quiet: bool) -> None:
    """Load a dataset (MovieLens 100K/1M/10M/20M/25M/latest, Kaggle, Netflix) into the database."""
    from server.datasets.importer import import_dataset

    shown: list[str] = []

    def on_problem(message: str) -> None:
        shown.append(message)
        if len(shown) <= MAX_PROBLEMS_SHOWN:
            click.echo(f"warning: {message}", err=True)

    problems = Problems(on_problem=on_problem)
    reader = open_or_fail(path, problems)
    database = _database(load_settings())
    total = sum(_count_lines(p) for p in reader.ratings_files())
    label = f"{reader.format_name}: ratings"
    with click.progressbar(length=total, label=label, hidden=quiet) as bar:
        summary = import_dataset(database, reader, progress=bar.update)
    if problems.count > MAX_PROBLEMS_SHOWN:
        click.echo(f"warning: {problems.count - MAX_PROBLEMS_SHOWN} more problems", err=True)
    added = ", ".join(f"{count} {name}" for name, count in summary.added.items())
    click.echo(
        f"imported {reader.format_name} from {path} in {summary.seconds:.1f} s: added {added}; "
        f"updated {summary.ratings_updated} ratings; skipped {summary.problems} malformed rows"
    )


def open_or_fail(path: Path, problems: Problems | None = None) -> DatasetReader:
    """The dataset at ``path``; a CLI error naming what is wrong otherwise."""
    try:
        return open_dataset(path, problems)
    except DatasetError as error:
        raise click.ClickException(str(error)) from None


def _count_lines(path: Path) -> int:
    count = 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            count += block.count(b"\n")
    return count


@main.command()
@click.option("--users", type=click.IntRange(1), default=1000, show_default=True)
@click.option("--movies", type=click.IntRange(1), default=2000, show_default=True)
@click.option("--ratings", type=click.IntRange(1), default=100_000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.argument("out_dir", type=click.Path(path_type=Path, file_okay=False))
def generate(users: int, movies: int, ratings: int, seed: int, out_dir: Path) -> None:
    """Write a synthetic dataset in the MovieLens-latest CSV layout to OUT_DIR."""
    from server.datasets.synthetic import SyntheticSpec, write_dataset

    try:
        spec = SyntheticSpec(users=users, movies=movies, ratings=ratings, seed=seed)
        written = write_dataset(spec, out_dir)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"wrote {written} ratings to {out_dir}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def stats(as_json: bool) -> None:
    """Counts of users, movies, ratings and events in the configured database."""
    from server.services.stats import database_counts

    with _database(load_settings()).transaction() as session:
        counts = database_counts(session)
    if as_json:
        click.echo(json.dumps(counts))
    else:
        for name, value in counts.items():
            click.echo(f"{name:>20}  {value}")


@main.command("api-key")
def api_key() -> None:
    """Print the API key of the write endpoints (generating the stored one if needed)."""
    from server.auth import configured_api_keys

    keys, _created = configured_api_keys(load_settings())
    click.echo(keys[0])


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--workers", type=click.IntRange(1), default=2, show_default=True)
def serve(host: str, port: int, workers: int) -> None:
    """Run the web server (gunicorn), setting up the embedded default on first start."""
    from server.http_server import run_server

    settings = load_settings()
    _database(settings).dispose()
    run_server(settings, host=host, port=port, workers=workers)


main.add_command(plugins_command)
main.add_command(evaluate_command)
main.add_command(models_command)
main.add_command(password_command)


def run(args: list[str] | None = None) -> Any:
    """Entry point for ``python -m server``."""
    return main.main(args=args if args is not None else sys.argv[1:], prog_name="movierec")
