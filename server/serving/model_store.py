"""The models a process holds: loaded lazily from their artifacts (memory-mapped), replaced when
the active version changes."""

from __future__ import annotations

import threading
from pathlib import Path

from plugins.base import Recommender
from plugins.registry import Registry
from server.models import ModelVersion


class ModelStore:
    """One loaded model per algorithm, keyed by its version; thread-safe."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._held: dict[str, tuple[int, Recommender]] = {}
        self._lock = threading.Lock()

    def model(self, version: ModelVersion) -> Recommender:
        """The model of ``version``, loading its artifact the first time it is asked for."""
        held = self._held.get(version.algorithm)
        if held is not None and held[0] == version.number:
            return held[1]
        with self._lock:
            held = self._held.get(version.algorithm)
            if held is None or held[0] != version.number:
                if not version.artifact:
                    raise FileNotFoundError(f"{version.algorithm} {version.number} has no artifact")
                model = self.registry.load(version.algorithm, Path(version.artifact))
                held = (version.number, model)
                self._held[version.algorithm] = held
        return held[1]
