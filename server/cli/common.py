"""What every command needs: the environment's settings and the migrated database, with bad
settings or an unreachable database reported as a CLI error (a message and exit 1), never a
traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from server import migrate
from server.config import Settings, SettingsError
from server.datasets import DatasetError, DatasetReader, Problems, open_dataset
from server.db import Database
from server.errors import MovieRecError


def load_settings() -> Settings:
    """The environment's settings; a bad value is a CLI error, not a traceback."""
    try:
        return Settings.load()
    except SettingsError as error:
        raise click.ClickException(str(error)) from None


def migrated_database(settings: Settings | None = None) -> Database:
    """The configured database with its schema brought to the newest migration."""
    url = (settings or load_settings()).resolved_database_url
    try:
        if migrate.current_revision(url) != migrate.head_revision(url):
            migrate.upgrade(url)
    except Exception as error:  # a wrong URL or an unreachable server: say which, no traceback
        raise click.ClickException(f"cannot use the database: {error}") from None
    return Database(url)


def open_or_fail(
    path: Path, problems: Problems | None = None, format_name: str | None = None
) -> DatasetReader:
    """The dataset at ``path`` (in ``format_name`` when given); a CLI error naming what is wrong
    otherwise."""
    try:
        return open_dataset(path, problems, format_name)
    except DatasetError as error:
        raise click.ClickException(str(error)) from None


@contextmanager
def reported() -> Iterator[None]:
    """Turn a domain error (an unknown user, a conflict, the broker down) into a CLI error."""
    try:
        yield
    except MovieRecError as error:
        raise click.ClickException(error.message) from None
