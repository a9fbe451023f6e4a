"""The models a process holds: loaded lazily from their artifacts (memory-mapped, from a local
copy when they are in S3: ``server.artifacts``), replaced when the active version changes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from plugins.base import Recommender
from plugins.registry import Registry
from server.artifacts import ArtifactStore, ArtifactUnavailable
from server.models import ModelVersion

T = TypeVar("T")


class HeldPerVersion(Generic[T]):
    """One value per algorithm, built on first use and kept while its version is the one asked
    for (a new version replaces it); thread-safe, built once even when asked for concurrently."""

    def __init__(self) -> None:
        self._held: dict[str, tuple[int, T]] = {}
        self._lock = threading.Lock()

    def get(self, version: ModelVersion, build: Callable[[], T]) -> T:
        """The value of ``version``, from ``build()`` the first time."""
        held = self._held.get(version.algorithm)
        if held is not None and held[0] == version.number:
            return held[1]
        with self._lock:
            held = self._held.get(version.algorithm)
            if held is None or held[0] != version.number:
                held = (version.number, build())
                self._held[version.algorithm] = held
        return held[1]

    def clear(self) -> None:
        """Hold nothing: each value is built again when next asked for."""
        with self._lock:
            self._held.clear()

    def put(self, version: ModelVersion, value: T) -> None:
        """Hold ``value`` as ``version``'s from now on, unless a newer version's is held by
        now (``value`` may have been built while a newer version came in)."""
        with self._lock:
            held = self._held.get(version.algorithm)
            if held is None or held[0] <= version.number:
                self._held[version.algorithm] = (version.number, value)


class ModelStore:
    """One loaded model per algorithm, keyed by its version, from ``artifacts``; thread-safe."""

    def __init__(self, registry: Registry, artifacts: ArtifactStore) -> None:
        self.registry = registry
        self.artifacts = artifacts
        self._models: HeldPerVersion[Recommender] = HeldPerVersion()

    def model(self, version: ModelVersion) -> Recommender:
        """The model of ``version``, loading its artifact the first time it is asked for;
        ``ArtifactUnavailable`` (nothing held: the next call tries again) when it cannot be had
        whole."""

        def load() -> Recommender:
            if not version.artifact:
                raise ArtifactUnavailable(f"{version.algorithm} {version.number} has no artifact")
            return self.registry.load(version.algorithm, self.artifacts.fetch(version.artifact))

        return self._models.get(version, load)

    def release(self) -> None:
        """Let go of every model held (each is loaded again when next asked for)."""
        self._models.clear()
