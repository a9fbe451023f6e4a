"""``movierec password USERNAME [--admin]`` and ``movierec api-key``: credentials.

``password`` is the way to create the first administrator: sign up on the pages (or create the
user through the API), then run it with ``--admin``.
"""

from __future__ import annotations

import click

from server.auth import configured_api_keys
from server.cli.common import load_settings, migrated_database, reported
from server.services.accounts import set_password


@click.command("password")
@click.argument("username")
@click.option("--admin/--no-admin", default=None, help="Make them an administrator (or not).")
@click.password_option(help="The new password (asked for when not given).")
def password_command(username: str, admin: bool | None, password: str) -> None:
    """Set USERNAME's password for the web pages; with --admin, give them the admin role."""
    role = None if admin is None else ("admin" if admin else "user")
    database = migrated_database()
    with reported(), database.transaction() as session:
        set_password(session, username, password, role)
    click.echo(f"{username}: password set{'' if role is None else f', role {role}'}")


@click.command("api-key")
def api_key_command() -> None:
    """Print the API key of the write endpoints (generating the stored one if needed)."""
    keys, _created = configured_api_keys(load_settings())
    click.echo(keys[0])
