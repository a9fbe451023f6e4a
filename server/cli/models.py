"""``movierec models list | promote ALGO VERSION | rollback ALGO``: the model registry."""

from __future__ import annotations

import json

import click

from server.cache.connection import connect
from server.config import Settings
from server.db import Database
from server.errors import MovieRecError
from server.services import model_versions

COLUMNS = ("algorithm", "version", "status", "ratings", "rmse", "ndcg@10", "fit s", "promoted")


def _database() -> Database:
    from server.cli.root import database_from_settings

    database: Database = database_from_settings()
    return database


@click.group("models")
def models_command() -> None:
    """Trained model versions: list, promote, roll back."""


@models_command.command("list")
@click.argument("algorithm", required=False)
@click.option("--json", "as_json", is_flag=True, help="JSON lines, one per version.")
def list_models(algorithm: str | None, as_json: bool) -> None:
    """Every version (of ALGORITHM), newest first."""
    from server.api.algorithms import version_json

    with _database().transaction() as session:
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
    try:
        with _database().transaction() as session:
            model_versions.promote(session, model_versions.get_version(session, algorithm, version))
    except MovieRecError as error:
        raise click.ClickException(str(error)) from None
    _publish(algorithm, version)
    click.echo(f"{algorithm} version {version} is active")


@models_command.command("rollback")
@click.argument("algorithm")
def rollback_model(algorithm: str) -> None:
    """Retire ALGORITHM's active version and re-activate the one promoted before it."""
    try:
        with _database().transaction() as session:
            number = model_versions.rollback(session, algorithm).number
    except MovieRecError as error:
        raise click.ClickException(str(error)) from None
    _publish(algorithm, number)
    click.echo(f"{algorithm} rolled back to version {number}")


def _publish(algorithm: str, number: int) -> None:
    """Tell the web processes now rather than on their next cache miss."""
    from server.cache.store import Cache

    settings = Settings.load()
    Cache(
        connect(settings), settings.cache_ttl_seconds, settings.cache_list_length
    ).publish_active_version(algorithm, number)
