"""A retrain whose artifact cannot be written (a full disk, a read-only model directory) ends
with the version recorded as failed with a clear error, the previous version still serving, and
no temporary directory left behind."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from plugins.algorithms.popularity import Popularity
from server.db import Database
from server.models import ModelVersion
from tests.conftest import API_KEY
from tests.workers.conftest import ROOT
from workers.context import WorkerContext
from workers.training import RetrainStatus, retrain

ALGORITHM = "popularity"  # the quickest to train; any plugin saves the same way


class FullDiskPopularity(Popularity):
    """Popularity on a disk that fills up during its save: a test plugin, no mock."""

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True)
        (directory / "model.partial").write_bytes(b"\0" * 1000)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(directory / "model.json"))


def models(context: WorkerContext) -> Path:
    return context.settings.models_dir / ALGORITHM


def first_version(seeded: Database, context: WorkerContext) -> None:
    outcome = retrain(context, ALGORITHM)
    assert outcome.status == RetrainStatus.PROMOTED and outcome.version == 1


def assert_failed_cleanly(
    seeded: Database, api: FlaskClient, context: WorkerContext, reason: str
) -> None:
    """Version 2 failed with ``reason``, version 1 still active and serving, nothing left over."""
    with seeded.transaction() as session:
        rows = session.scalars(select(ModelVersion).where(ModelVersion.algorithm == ALGORITHM))
        status = {row.number: (row.status, row.error or "") for row in rows}
    assert status[1][0] == "active" and status[2][0] == "failed", status
    assert f"cannot save the model in {models(context)}: {reason}" in status[2][1]
    response = api.get(
        "/api/v1/users/1/recommendations",
        query_string={"algorithm": ALGORITHM},
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    body = response.get_json()
    assert response.status_code == 200 and body["model_version"] == 1 and body["items"]
    assert sorted(p.name for p in models(context).iterdir() if p.name != "filler") == ["1"]


def test_a_retrain_whose_save_fails_on_a_full_disk(
    seeded: Database, context: WorkerContext, api: FlaskClient
) -> None:
    first_version(seeded, context)
    context.serving.registry.classes[ALGORITHM] = FullDiskPopularity
    outcome = retrain(context, ALGORITHM, force=True)
    assert outcome.status == RetrainStatus.FAILED and outcome.version == 2
    assert outcome.detail.startswith("OSError: [Errno 28] cannot save the model")
    assert_failed_cleanly(seeded, api, context, "No space left on device")


@pytest.fixture
def tiny_filesystem(context: WorkerContext) -> Iterator[Path]:
    """A 1 MB tmpfs as the algorithm's model directory (skipped where mounting is not allowed)."""
    target = models(context)
    target.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(target)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tiny filesystem here: {mounted.stderr.decode().strip()}")
    yield target
    # Lazily: the web app of the test still maps version 1's arrays.
    subprocess.run(["umount", "--lazy", str(target)], check=True)


def fill(directory: Path) -> None:
    """Write zeros until the filesystem is full."""
    with (directory / "filler").open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError as error:
            assert error.errno == errno.ENOSPC


def test_a_retrain_on_a_really_full_disk(
    seeded: Database, context: WorkerContext, api: FlaskClient, tiny_filesystem: Path
) -> None:
    first_version(seeded, context)
    fill(tiny_filesystem)
    outcome = retrain(context, ALGORITHM, force=True)
    assert outcome.status == RetrainStatus.FAILED
    assert_failed_cleanly(seeded, api, context, "No space left on device")


def environment(settings: dict[str, Any]) -> dict[str, str]:
    """The settings as a child process's environment."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MOVIEREC_")}
    for name, value in settings.items():
        text = ",".join(value) if isinstance(value, list | tuple) else str(value)
        environ[f"MOVIEREC_{name.upper()}"] = text
    environ["PYTHONPATH"] = str(ROOT)
    return environ


def without_root_privileges() -> list[str]:
    """A command prefix that makes root obey file modes as anyone else does."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("root ignores file modes and setpriv is not installed")
    dropped = "-dac_override,-dac_read_search"
    return [setpriv, f"--inh-caps={dropped}", f"--bounding-set={dropped}", "--"]


def test_a_retrain_into_a_read_only_model_directory(
    seeded: Database,
    context: WorkerContext,
    api: FlaskClient,
    pipeline_settings: dict[str, Any],
) -> None:
    first_version(seeded, context)
    models(context).chmod(0o500)
    try:
        command = [sys.executable, "-m", "server", "train", ALGORITHM, "--force"]
        result = subprocess.run(
            without_root_privileges() + command,
            env=environment(pipeline_settings),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        models(context).chmod(0o700)
    # The worker's log keeps the traceback; the command ends with the one-line reason.
    last = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 1, result.stderr
    assert last.startswith(f"Error: training {ALGORITHM} failed: PermissionError: [Errno 13]")
    assert_failed_cleanly(seeded, api, context, "Permission denied")


def test_a_retrain_removes_what_a_killed_save_left_behind(
    seeded: Database, context: WorkerContext
) -> None:
    leftover = models(context) / ".7.tmp-99999"
    leftover.mkdir(parents=True)
    (leftover / "model.json").write_text("{")
    first_version(seeded, context)
    assert sorted(p.name for p in models(context).iterdir()) == ["1"]
