"""``movierec models list | promote ALGO VERSION | rollback ALGO | champions``: the model
registry and the champions serving each segment under ``auto``."""

from __future__ import annotations

import json

import click

from server.api.serialize import champions_json, version_json
from server.cache.connection import connect
from server.cache.store import Cache
from server.cli.common import load_settings, migrated_database, reported
from server.services import champions, model_versions

COLUMNS = ("algorithm", "version", "status", "ratings", "rmse", "ndcg@10", "fit s", "promoted")


@click.group("models")
def models_command() -> None:
    """Trained model versions: list, promote, roll back."""


@models_command.command("list")
@click.argument("algorithm", required=False)
@click.option("--json", "as_json", is_flag=True, help="JSON lines, one per version.")
def list_models(algorithm: str | None, as_json: bool) -> None:
    """Every version (of ALGORITHM), newest first."""
    with migrated_database().transaction() as session:
        rows = [version_json(row) for row in model_versions.list_versions(session, algorithm)]
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    click.echo("  ".join(f"{name:<10}" for name in COLUMNS))
    for row in rows:
        metrics = row["metrics"] or {}
        cells = (
            row["algorithm"],
            row["version"],
            row["status"],
            row["ratings"],
            _number(metrics.get("rmse")),
            _number(metrics.get("ndcg@10")),
            _number(row["fit_seconds"]),
            row["promoted_at"] or "",
        )
        click.echo("  ".join(f"{cell!s:<10}" for cell in cells))


def _number(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else "-"


@models_command.command("promote")
@click.argument("algorithm")
@click.argument("version", type=int)
def promote_model(algorithm: str, version: int) -> None:
    """Make VERSION of ALGORITHM the one that serves."""
    with reported():
        model_versions.activate(migrated_database(), _cache(), algorithm, version)
    click.echo(f"{algorithm} version {version} is active")


@models_command.command("rollback")
@click.argument("algorithm")
def rollback_model(algorithm: str) -> None:
    """Retire ALGORITHM's active version and re-activate the one promoted before it."""
    with reported():
        number = model_versions.roll_back(migrated_database(), _cache(), algorithm)
    click.echo(f"{algorithm} rolled back to version {number}")


@models_command.command("champions")
@click.option("--roll-back", is_flag=True, help="Serve the previous champion set again.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document.")
def champions_command(roll_back: bool, as_json: bool) -> None:
    """Which algorithm serves each segment (new, cold, warm) under auto, and why."""
    database = migrated_database()
    if roll_back:
        with reported():
            row = model_versions.roll_back_champions(database, _cache())
        click.echo(f"champion set {row.id} serves ({row.cause})")
    with database.transaction() as session:
        board = champions.leaderboard(model_versions.active_versions(session))
        shown = champions_json(champions.current(session), board)
    if as_json:
        click.echo(json.dumps(shown))
        return
    click.echo(f"champion set {shown['generation'] or '-'}: {shown['cause'] or 'none chosen yet'}")
    for segment, entry in shown["segments"].items():
        click.echo(f"{segment:<5} {entry['champion']:<12} {entry['reason'] or ''}")
        for candidate in entry["candidates"]:
            click.echo(
                f"      {candidate['algorithm']:<12} v{candidate['version']:<4} "
                f"ndcg@10 {_number(candidate['ndcg@10'])}  popularity "
                f"{_number(candidate['popularity_ndcg@10'])}  on {candidate['users']} people"
            )


def _cache() -> Cache:
    """The cache the new active version is published to (the web processes read it there)."""
    settings = load_settings()
    return Cache.from_settings(connect(settings), settings)
