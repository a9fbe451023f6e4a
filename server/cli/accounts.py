"""``movierec password USERNAME [--admin]``: set a person's password (and make them an admin).

The way to create the first administrator: sign up on the pages (or create the user through the
API), then run this with ``--admin``.
"""

from __future__ import annotations

import click

from server.errors import MovieRecError
from server.services.accounts import set_password


@click.command("password")
@click.argument("username")
@click.option("--admin/--no-admin", default=None, help="Make them an administrator (or not).")
@click.password_option(help="The new password (asked for when not given).")
def password_command(username: str, admin: bool | None, password: str) -> None:
    """Set USERNAME's password for the web pages; with --admin, give them the admin role."""
    from server.cli.root import database_from_settings  # the CLI's root imports this module

    role = None if admin is None else ("admin" if admin else "user")
    database = database_from_settings()
    try:
        with database.transaction() as session:
            set_password(session, username, password, role)
    except MovieRecError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"{username}: password set{'' if role is None else f', role {role}'}")
