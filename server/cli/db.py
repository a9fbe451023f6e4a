"""``movierec db upgrade | downgrade | current | revision``: schema migrations."""

from __future__ import annotations

import click

from server import migrate
from server.cli.common import load_settings


@click.group("db")
def db_command() -> None:
    """Database schema migrations."""


@db_command.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Bring the schema up to REVISION."""
    url = load_settings().resolved_database_url
    migrate.upgrade(url, revision)
    click.echo(f"database at {migrate.current_revision(url)}")


@db_command.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Take the schema back to REVISION ("base" removes every table)."""
    migrate.downgrade(load_settings().resolved_database_url, revision)


@db_command.command("current")
def db_current() -> None:
    """Print the schema's revision."""
    click.echo(migrate.current_revision(load_settings().resolved_database_url) or "empty")


@db_command.command("revision")
@click.option("-m", "--message", required=True)
def db_revision(message: str) -> None:
    """Write a new migration from the difference between the models and the database."""
    migrate.make_revision(load_settings().resolved_database_url, message)
