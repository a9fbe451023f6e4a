"""The migrations build exactly the models' schema, and go down and up again."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import CheckConstraint, inspect

from server.db import Base, Database, make_engine
from server.migrate import current_revision, downgrade, head_revision, upgrade


def test_schema_at_head_matches_the_models(database_url: str) -> None:
    assert current_revision(database_url) == head_revision(database_url)
    engine = make_engine(database_url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == []


def test_constraints_live_in_the_database(database: Database) -> None:
    checks = {check["name"] for check in inspect(database.engine).get_check_constraints("ratings")}
    assert "ck_ratings_half_stars_range" in checks
    model_checks = {
        c.name
        for c in Base.metadata.tables["ratings"].constraints
        if isinstance(c, CheckConstraint)
    }
    assert model_checks == checks


def test_downgrade_to_base_and_upgrade_again(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/roundtrip.db"
    upgrade(url)
    downgrade(url, "base")
    assert current_revision(url) is None
    upgrade(url)
    assert current_revision(url) == head_revision(url)
