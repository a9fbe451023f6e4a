"""Imports asked for from the admin page: only from the import directory, and every ending of
the worker's run (a bad file, a path outside, a database that fails) recorded and shown."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from server import create_app
from server.config import Settings
from server.db import Database, now
from server.services.accounts import set_password
from tests.conftest import FIXTURES
from tests.server.test_web import PASSWORD, csrf_token, log_in, sign_up
from workers.context import build_context
from workers.imports import run_import


@pytest.fixture
def imports(tmp_path: Path) -> Path:
    """The import directory, holding a copy of the ml-latest fixture."""
    directory = tmp_path / "imports"
    shutil.copytree(FIXTURES / "ml-latest", directory / "ml-latest")
    return directory


@pytest.fixture
def import_settings(settings: dict[str, Any], imports: Path) -> dict[str, Any]:
    return settings | {"import_dir": imports}


@pytest.fixture
def admin(import_settings: dict[str, Any], database: Database) -> FlaskClient:
    """A client signed in as an admin."""
    client = create_app(import_settings).test_client()
    sign_up(client, "ada")
    with database.transaction() as session:
        set_password(session, "ada", PASSWORD, role="admin")
    log_in(client, "ada")  # a new password ends the account's sessions
    return client


def ask_import(client: FlaskClient, path: str) -> str:
    """Post the admin page's import form; the page it leads to."""
    response = client.post(
        "/admin/import",
        data={"csrf_token": csrf_token(client, "/admin"), "path": path},
        follow_redirects=True,
    )
    return response.get_data(as_text=True)


def flashed(page: str, path: str) -> str:
    """The flashed message about ``path``, with the path itself taken out."""
    start = page.index(f"{path}: ")
    return page[start + len(path) : page.index("<", start)]


def test_the_admin_page_imports_only_from_its_import_directory(
    admin: FlaskClient, imports: Path, tmp_path: Path
) -> None:
    assert str(imports) in admin.get("/admin").get_data(as_text=True)
    (imports / "link").symlink_to(FIXTURES / "ml-latest")
    outside_existing = str(FIXTURES / "ml-latest")
    refusals = {
        path: flashed(ask_import(admin, path), path)
        for path in (
            outside_existing,
            "/no/such/dataset",
            "../../" + str(FIXTURES / "ml-latest"),
            "link",
            "ml-latest/../../x",
        )
    }
    assert len(set(refusals.values())) == 1, refusals  # the same whether or not it exists
    assert f"refused: imports are read from {imports} only" in refusals[outside_existing]
    assert "no such file" in ask_import(admin, "missing")
    assert "Import queued" in ask_import(admin, "ml-latest")
    assert "Import queued" in ask_import(admin, str(imports / "ml-latest"))


def test_a_missing_import_directory_is_said_on_the_page(admin: FlaskClient, imports: Path) -> None:
    shutil.rmtree(imports)
    assert "which does not exist yet" in admin.get("/admin").get_data(as_text=True)
    assert "the import directory" in ask_import(admin, "ml-latest")


def test_every_failure_of_an_import_is_recorded_and_shown(
    admin: FlaskClient, import_settings: dict[str, Any], imports: Path, tmp_path: Path
) -> None:
    context = build_context(Settings.load(import_settings))
    latin1 = imports / "latin1"
    shutil.copytree(imports / "ml-latest", latin1)
    with (latin1 / "ratings.csv").open("ab") as handle:
        handle.write(b"9,Am\xe9lie,4.0,100\r\n")
    report = run_import(context, str(latin1))
    assert report["status"] == "failed" and "is not UTF-8" in report["error"]
    assert context.coordination.last_import() == report
    page = admin.get("/admin").get_data(as_text=True)
    assert "<strong>failed</strong>" in page and "ratings.csv:8: byte 0xe9" in page

    outside = run_import(context, str(FIXTURES / "ml-latest"))
    assert outside["status"] == "failed" and "refused" in outside["error"]

    # A database without the schema: the failure is not the dataset's, and is shown all the same.
    unmigrated = f"sqlite:///{tmp_path / 'unmigrated.db'}"
    broken = Settings.load(import_settings | {"database_url": unmigrated})
    failed = run_import(build_context(broken), str(imports / "ml-latest"))
    assert failed["status"] == "failed"
    assert failed["error"].startswith("OperationalError: no such table")
    assert context.coordination.last_import() == failed


def test_a_finished_import_shows_what_it_skipped(
    admin: FlaskClient, import_settings: dict[str, Any], imports: Path
) -> None:
    report = run_import(build_context(Settings.load(import_settings)), str(imports / "ml-latest"))
    assert report["status"] == "done" and report["added"]["ratings"] == 5
    page = admin.get("/admin").get_data(as_text=True)
    assert "skipped 1 malformed rows" in page and "rating &#39;6.0&#39; is not" in page


def test_a_running_import_shows_its_progress_and_when_its_worker_died(
    admin: FlaskClient, import_settings: dict[str, Any]
) -> None:
    coordination = build_context(Settings.load(import_settings)).coordination
    report = {"path": "/x", "status": "running", "checked": 150_000, "written": 50_000}
    coordination.record_import(report | {"started_at": now() - 30, "updated_at": now() - 2})
    page = admin.get("/admin").get_data(as_text=True)
    assert "150000 ratings checked, 50000 written" in page and "must have stopped" not in page
    coordination.record_import(report | {"started_at": now() - 3600, "updated_at": now() - 3000})
    assert "its worker must have stopped" in admin.get("/admin").get_data(as_text=True)
