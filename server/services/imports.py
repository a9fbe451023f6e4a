"""Dataset imports asked for while the server runs: the path is checked here, the import itself
runs in a worker (a big dataset takes minutes). Only paths inside the configured import
directory are read: the admin form must not become a way to probe the server's files."""

from __future__ import annotations

from pathlib import Path

from server.datasets import DatasetError, open_dataset
from server.errors import Unavailable
from server.tasks import IMPORT_DATASET, TRAINING_QUEUE, TaskQueue


def importable_path(import_dir: Path, path: str) -> Path:
    """``path`` (absolute, or relative to ``import_dir``) with symlinks and ``..`` resolved;
    ``DatasetError`` unless it lies inside ``import_dir``, with the same message whether or not
    it exists."""
    root = import_dir.resolve()
    shown = path.strip()
    refused = DatasetError(
        f"{shown}: refused: imports are read from {root} only; put the dataset there "
        "(a relative path is taken from it)"
    )
    try:
        resolved = (root / shown).resolve()  # an absolute path replaces the root
    except (OSError, RuntimeError, ValueError):  # a NUL byte, a symlink loop
        raise refused from None
    if not resolved.is_relative_to(root):
        raise refused
    if not root.is_dir():
        raise DatasetError(
            f"{shown}: cannot be imported: the import directory {root} does not exist; "
            "create it and put the dataset there"
        )
    return resolved


def queue_import(tasks: TaskQueue, path: str, import_dir: Path) -> None:
    """Queue the import of the dataset at ``path`` inside ``import_dir``; ``DatasetError`` at
    once when the path is outside it, missing, ambiguous or of an unknown format,
    ``Unavailable`` when the broker is down."""
    resolved = importable_path(import_dir, path)
    open_dataset(resolved)
    if not tasks.send(IMPORT_DATASET, [str(resolved)], TRAINING_QUEUE):
        raise Unavailable(
            "The task broker is not reachable; try again shortly.", code="broker_down"
        )
