"""Fits kept for reuse: a registry holding a ``FitMemo`` (``Registry.fits``) gives a plugin's
``fit`` back an earlier identical fit, one with the same plugin, version, configuration, options
and ratings (by their fingerprint), instead of fitting again.

The workers keep fits while one version of the data lasts, which is what makes a composite's
retrain cheap: ``hybrid``'s components, and the content model every holdout serves beside the
ranker, were fitted on the same ratings by the retrains before it. An entry is written whole
into a temporary directory and renamed into place, so a reader never sees half of one; a
missing or unreadable entry is a fit like any other.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from plugins.base import FitOptions, Recommender
    from plugins.data import Ratings

log = logging.getLogger(__name__)

# Fits are kept only while the disk has this much room: they must never take the room a model
# version needs (one version of each algorithm at 25M ratings keeps about 1 GB).
MIN_FREE_BYTES = 2 << 30


class FitMemo:
    """Fitted models in ``root``, one directory an algorithm and one entry a fit."""

    def __init__(
        self,
        root: Path,
        on_reuse: Callable[[str], None] | None = None,
        min_free_bytes: int = MIN_FREE_BYTES,
    ) -> None:
        self.root = root
        self.on_reuse = on_reuse
        self.min_free_bytes = min_free_bytes

    def place(self, model: Recommender, ratings: Ratings, options: FitOptions) -> Path:
        """Where the fit of ``model`` on ``ratings`` with ``options`` is kept."""
        determined_by = [
            model.version,
            model.describe().get("config", {}),
            dataclasses.asdict(options),
            ratings.fingerprint,
        ]
        key = json.dumps(determined_by, sort_keys=True, default=str).encode()
        return self.root / model.name / hashlib.blake2b(key, digest_size=16).hexdigest()

    def reused(self, name: str) -> None:
        """Note that a fit of ``name`` was given back."""
        log.info("reused a kept fit of %s", name)
        if self.on_reuse is not None:
            self.on_reuse(name)

    def keep(self, place: Path, write: Callable[[Path], None]) -> None:
        """Keep what ``write`` writes into a directory as the entry at ``place``; a failure
        is logged and costs only the reuse."""
        temporary = place.with_name(f".{place.name}.{os.getpid()}.{uuid.uuid4().hex}")
        try:
            temporary.parent.mkdir(parents=True, exist_ok=True)
            if shutil.disk_usage(temporary.parent).free < self.min_free_bytes:
                log.info("not keeping a fit in %s: the disk is nearly full", place)
                return
            write(temporary)
            temporary.rename(place)  # atomic; refused when another process kept it first
        except OSError as error:
            if not place.exists():
                log.warning("could not keep a fit in %s: %s", place, error)
        finally:
            shutil.rmtree(temporary, ignore_errors=True)

    def forget(self, name: str) -> None:
        """Drop every kept fit of ``name``."""
        shutil.rmtree(self.root / name, ignore_errors=True)
