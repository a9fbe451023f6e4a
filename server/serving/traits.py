"""What re-ranking and explaining need of each model version, built once per process: the
movies' traits with popularity from the ratings the model was trained on (the same artifact in
every process, so workers and web processes re-rank and explain alike), who rated each movie,
and the genres from the database."""

from __future__ import annotations

import threading

import numpy as np
import scipy.sparse as sp

from plugins.base import Recommender
from plugins.data import Ratings
from server.models import ModelVersion
from server.serving.explain import Evidence
from server.serving.model_store import HeldPerVersion
from server.serving.movie_directory import MovieDirectory


class EvidenceStore:
    """The evidence of each algorithm's version held; built on first use, thread-safe."""

    def __init__(self, movies: MovieDirectory) -> None:
        self.movies = movies
        self._evidence: HeldPerVersion[Evidence] = HeldPerVersion()
        self._counting: set[tuple[str, int]] = set()  # versions whose table a thread counts
        self._lock = threading.Lock()

    def of(self, version: ModelVersion, model: Recommender) -> Evidence:
        """The evidence of ``model``, ``version``'s."""
        return self._evidence.get(version, lambda: self._build(model))

    def tabled(self, version: ModelVersion, model: Recommender) -> Evidence:
        """The evidence of ``model`` with its most rated movies' co-raters counted ahead
        (``Evidence.tabled``), held from now on: for a process about to explain many lists."""
        evidence = self.of(version, model)
        if evidence.table is None:
            evidence = evidence.tabled()
            self._evidence.put(version, evidence)
        return evidence

    def profiled(self, version: ModelVersion, model: Recommender) -> Evidence:
        """``tabled``'s evidence with each person's rated movies at hand too
        (``Evidence.profiled``), held from now on: for a process about to explain many
        similar lists."""
        evidence = self.tabled(version, model)
        if evidence.profiles is None:
            evidence = evidence.profiled()
            self._evidence.put(version, evidence)
        return evidence

    def tabled_soon(self, version: ModelVersion, model: Recommender) -> None:
        """Count the table of ``tabled`` in a thread of its own, unless it is held or being
        counted: for a process that explains lists as they come (the live lane), which keeps
        answering without it meanwhile instead of stopping for seconds at a new version
        (the count lets go of the GIL)."""
        if self.of(version, model).table is not None:
            return
        key = (version.algorithm, version.number)
        with self._lock:
            if key in self._counting:
                return
            self._counting.add(key)

        def count() -> None:
            try:
                self.tabled(version, model)
            finally:
                with self._lock:
                    self._counting.discard(key)

        threading.Thread(target=count, name=f"table-{version.algorithm}", daemon=True).start()

    def release(self) -> None:
        """Let go of every version's evidence held (each is built again when next asked for)."""
        self._evidence.clear()

    def _build(self, model: Recommender) -> Evidence:
        data = getattr(model, "data", None)  # a plugin not built on RecommenderBase may lack it
        if isinstance(data, Ratings):
            ids, stars = data.movie_ids, data.csc
        else:
            ids = model.known_movies()
            stars = sp.csc_matrix((1, len(ids)), dtype=np.float32)
        config = model.describe().get("config", {})
        return Evidence.build(
            ids,
            stars,
            self.movies.every_genre(),
            self.movies.genre_ids(),
            trending=float(config.get("half_life_days") or 0) > 0,
        )
