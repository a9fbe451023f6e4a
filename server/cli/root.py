"""The root ``movierec`` group: every command, defined once. ``movierec`` and ``python -m
server`` (or ``python -m workers``) are this same program."""

from __future__ import annotations

import sys
from importlib.metadata import entry_points
from typing import Any

import click

from server.cli.accounts import api_key_command, password_command
from server.cli.algorithms import evaluate_command, plugins_command
from server.cli.data import (
    download_command,
    export_command,
    generate_command,
    import_command,
    stats_command,
)
from server.cli.db import db_command
from server.cli.enrich import enrich_command
from server.cli.models import models_command

# Commands that other packages add (the workers' serve, worker, beat and train).
COMMANDS_GROUP = "movierec.commands"


@click.group()
@click.version_option(package_name="movierec")
def main() -> None:
    """movierec: a plugin-based, event-driven movie recommender server."""


for _command in (
    db_command,
    download_command,
    import_command,
    export_command,
    enrich_command,
    generate_command,
    stats_command,
    api_key_command,
    password_command,
    plugins_command,
    evaluate_command,
    models_command,
):
    main.add_command(_command)
for _entry in entry_points(group=COMMANDS_GROUP):
    main.add_command(_entry.load(), _entry.name)


def run(args: list[str] | None = None) -> Any:
    """Entry point for ``python -m server`` and ``python -m workers``."""
    return main.main(args=args if args is not None else sys.argv[1:], prog_name="movierec")
