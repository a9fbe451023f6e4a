"""Docs that cannot drift: every setting and every command of the CLI is in the README, and every
module docs/architecture.md names exists."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import click

from server.cli.root import main
from server.config import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def command_paths(group: click.Group, prefix: str = "movierec") -> list[str]:
    """Every command as typed, groups' subcommands included (``movierec models promote``)."""
    paths = []
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        if isinstance(command, click.Group):
            paths += command_paths(command, path)
        else:
            paths.append(path)
    return paths


def test_every_setting_is_in_the_readme() -> None:
    variables = [ENV_PREFIX + field.name.upper() for field in fields(Settings)]
    assert len(variables) > 20
    assert [name for name in variables if f"`{name}`" not in README] == []


def test_every_command_is_in_the_readme() -> None:
    paths = command_paths(main)
    assert {"movierec serve", "movierec worker", "movierec models rollback"} <= set(paths)
    assert [path for path in paths if f"`{path}" not in README] == []


def test_the_architecture_names_only_files_that_exist() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"`((?:server|workers|plugins|benchmarks|tests)/[\w/.-]+)`", text))
    assert len(named) > 20
    assert sorted(path for path in named if not (ROOT / path).exists()) == []
