"""The data directory is its owner's alone: the SQLite file (and its -wal), the keys and the
directory itself are created unreadable to anyone else; processes starting together agree on
one secret."""

from __future__ import annotations

import multiprocessing
import stat
from pathlib import Path
from typing import Any

from server import create_app
from server.config import read_or_create_secret
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


def _secret_once(path: Path, start: Any) -> tuple[str, bool]:
    start.wait()  # every process at once, as gunicorn's workers start
    return read_or_create_secret(path)


def test_processes_starting_together_share_one_whole_secret(tmp_path: Path) -> None:
    path = tmp_path / "data" / "secret_key"
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, context.Pool(6) as pool:
        start = manager.Barrier(6)
        answers = pool.starmap(_secret_once, [(path, start)] * 6)
    secrets_read = {secret for secret, _ in answers}
    assert len(secrets_read) == 1 and len(secrets_read.pop()) > 20
    assert sum(created for _, created in answers) == 1
    assert mode(path) == 0o600
    assert [entry.name for entry in path.parent.iterdir()] == ["secret_key"]  # nothing left
