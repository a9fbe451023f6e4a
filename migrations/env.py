"""Alembic environment. Run it through ``movierec db upgrade`` (or ``server.migrate``), which
passes the configured database URL; it imports only ``server.db`` and ``server.models``."""

from __future__ import annotations

from alembic import context

import server.models  # noqa: F401  (registers every table on the metadata)
from server.db import Base, make_engine

config = context.config
url = config.get_main_option("sqlalchemy.url")
if not url:
    raise SystemExit("No database URL: run migrations with 'movierec db upgrade'.")


def run_offline() -> None:
    """Write the SQL instead of running it (``movierec db upgrade --sql``)."""
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Run the migrations on the database."""
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER much
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
