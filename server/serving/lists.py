"""What a process needs to answer with models: the models it holds (loaded lazily from their
artifacts, memory-mapped, replaced when the active version changes), a catalogue of movie titles
and genres, and the functions that turn a model and someone's ratings into a ranked list.

The web processes use this on a cache miss; the workers use the same functions to fill the cache,
so a cached list and a computed one are always the same list.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.orm import Session

from plugins.base import RecommenderBase, UserState
from plugins.registry import Registry
from server.cache.store import CachedList
from server.db import Database
from server.models import Genre, ModelVersion, Movie, MovieGenre, Rating

# Reciprocal-rank fusion constant: how much the top ranks dominate a blend.
RRF_K = 10.0

Model = RecommenderBase[Any]


class ModelStore:
    """One loaded model per algorithm, keyed by its version; thread-safe."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._held: dict[str, tuple[int, Model]] = {}
        self._lock = threading.Lock()

    def model(self, version: ModelVersion) -> Model:
        """The model of ``version``, loading its artifact the first time it is asked for."""
        held = self._held.get(version.algorithm)
        if held is not None and held[0] == version.number:
            return held[1]
        with self._lock:
            held = self._held.get(version.algorithm)
            if held is None or held[0] != version.number:
                if not version.artifact:
                    raise FileNotFoundError(f"{version.algorithm} {version.number} has no artifact")
                model = self.registry.get(version.algorithm).load(Path(version.artifact))
                held = (version.number, model)
                self._held[version.algorithm] = held
        return held[1]


@dataclass(frozen=True)
class MovieRow:
    """What a list shows of a movie."""

    external_id: str
    title: str | None
    genres: frozenset[str]


class Catalogue:
    """Movie ids, titles and genres by internal id, fetched once and kept (movies don't change)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._rows: dict[int, MovieRow] = {}

    def rows(self, ids: list[int]) -> dict[int, MovieRow]:
        """The rows of ``ids`` (unknown ids are left out); the database is read only for movies
        not seen before, so a cached answer needs no database at all."""
        missing = [movie for movie in ids if movie not in self._rows]
        if missing:
            with self.database.transaction() as session:
                self._fetch(session, missing)
        return {movie: self._rows[movie] for movie in ids if movie in self._rows}

    def _fetch(self, session: Session, ids: list[int]) -> None:
        found = session.execute(
            select(Movie.id, Movie.external_id, Movie.title).where(Movie.id.in_(ids))
        ).all()
        genres: dict[int, set[str]] = {}
        for movie, name in session.execute(
            select(MovieGenre.movie_id, Genre.name)
            .join(Genre, Genre.id == MovieGenre.genre_id)
            .where(MovieGenre.movie_id.in_(ids))
        ):
            genres.setdefault(movie, set()).add(name)
        for movie, external_id, title in found:
            self._rows[movie] = MovieRow(external_id, title, frozenset(genres.get(movie, ())))


def user_rating_arrays(
    session: Session, user_id: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """A user's current ratings: internal movie ids and stars."""
    rows = session.execute(
        select(Rating.movie_id, Rating.half_stars).where(Rating.user_id == user_id)
    ).all()
    movies = np.array([movie for movie, _ in rows], np.int64)
    stars = np.array([half for _, half in rows], np.float32) / 2.0
    return movies, stars


def user_state(
    model: Model, user_id: int, movies: npt.NDArray[np.int64], stars: npt.NDArray[np.float32]
) -> UserState:
    """The user's state from their current ratings (fold-in), or as trained when the model
    cannot fold in."""
    if "fold_in" in model.capabilities:
        return model.fold_in(movies, stars)
    return model.user_state(user_id)


def ranked_list(
    model: Model, version: int, state: UserState, length: int, exclude_rated: bool = True
) -> CachedList:
    """The model's top ``length`` for ``state`` (rated movies excluded unless told)."""
    ranked = model.recommend(state, length, exclude_rated=exclude_rated)
    return CachedList(version, model.name, ranked.movies.astype(np.int32), ranked.scores)


def blend(first: CachedList, second: CachedList, weight: float, length: int) -> CachedList:
    """Reciprocal-rank fusion: ``weight`` on ``first``, ``1 - weight`` on ``second``.

    Ranks, not scores, are fused: the two models score on unrelated scales.
    """
    fused: dict[int, float] = {}
    for entry, share in ((first, weight), (second, 1.0 - weight)):
        for rank, movie in enumerate(entry.movies.tolist()):
            fused[movie] = fused.get(movie, 0.0) + share / (RRF_K + rank)
    best = sorted(fused.items(), key=lambda pair: -pair[1])[:length]
    return CachedList(
        first.version,
        f"blend:{first.source}+{second.source}",
        np.array([movie for movie, _ in best], np.int32),
        np.array([score for _, score in best], np.float32),
    )


def similar_list(model: Model, version: int, movie_id: int, length: int) -> CachedList:
    """The movies most similar to ``movie_id`` by ``model`` (positive similarities only)."""
    ranked = model.similar(movie_id, length)
    # No positive similarity is no evidence (a movie nobody rated scores 0 with everything).
    keep = ranked.scores > 0
    return CachedList(
        version, model.name, ranked.movies[keep].astype(np.int32), ranked.scores[keep]
    )
