"""Dataset imports asked for while the server runs: the path is checked here, the import itself
runs in a worker (a big dataset takes minutes)."""

from __future__ import annotations

from pathlib import Path

from server.datasets import open_dataset
from server.errors import Unavailable
from server.tasks import IMPORT_DATASET, TRAINING_QUEUE, TaskQueue


def queue_import(tasks: TaskQueue, path: str) -> None:
    """Queue the import of the dataset at ``path``; ``DatasetError`` (or ``OSError``) at once
    when the path is wrong or its format unknown, ``Unavailable`` when the broker is down."""
    open_dataset(Path(path))
    if not tasks.send(IMPORT_DATASET, [path], TRAINING_QUEUE):
        raise Unavailable(
            "The task broker is not reachable; try again shortly.", code="broker_down"
        )
