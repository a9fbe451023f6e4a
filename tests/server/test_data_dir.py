"""The data directory is its owner's alone: the SQLite file (and its -wal), the keys and the
directory itself are created unreadable to anyone else."""

from __future__ import annotations

import stat
from pathlib import Path

from server import create_app
from server.db import Database


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_directory_and_its_secrets_are_private(tmp_path: Path) -> None:
    data = tmp_path / "fresh" / "data"
    database = Database(f"sqlite:///{data / 'movierec.db'}")
    with database.transaction() as session:
        session.connection().exec_driver_sql("CREATE TABLE probe (x INTEGER)")
    create_app({"data_dir": data, "database_url": database.engine.url.render_as_string()})
    assert mode(data) == 0o700
    for name in ("movierec.db", "movierec.db-wal", "api_key", "secret_key"):
        assert mode(data / name) == 0o600, name
    database.dispose()
