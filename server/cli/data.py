"""``movierec import | generate | stats``: datasets in and out of the database."""

from __future__ import annotations

import json
from pathlib import Path

import click

from server.cli.common import migrated_database, open_or_fail
from server.datasets import Problems

MAX_PROBLEMS_SHOWN = 20


@click.command("import")
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
    database = migrated_database()
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


def _count_lines(path: Path) -> int:
    count = 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            count += block.count(b"\n")
    return count


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
