"""The algorithm contract. A plugin implements ``_fit`` and ``_score``; the base class derives
``recommend``, ``predict``, ``similar``, ``fold_in``, ``save`` and ``load`` from a few hooks.

docs/plugins.md walks through a complete plugin; tests/plugins/example_plugin is one, packaged
with the one ``[project.entry-points."movierec.algorithms"]`` line that installs it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Generic,
    Literal,
    Protocol,
    Self,
    cast,
    runtime_checkable,
)

import numba
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from plugins.config import ConfigT, build_config, config_dict
from plugins.data import RATING_SCALE, FloatArray, IdArray, Ratings

if TYPE_CHECKING:
    from plugins.registry import Registry

Capability = Literal["predict", "rank", "similar", "fold_in"]
CAPABILITIES: frozenset[str] = frozenset({"predict", "rank", "similar", "fold_in"})
IndexArray = npt.NDArray[np.int64]
ARTIFACT_FORMAT = 1


class NotFitted(RuntimeError):
    """The model was used before ``fit`` or ``load``."""


class Unsupported(NotImplementedError):
    """The algorithm does not declare the capability that was used."""


class MissingDependency(ImportError):
    """An optional package the plugin needs is not installed; raised on import, with what to
    install in the message. The registry reports it once, as information, and skips the plugin
    (any other failure to load is a warning)."""


@dataclass(frozen=True)
class FitOptions:
    """Per-run options that are not part of an algorithm's configuration."""

    seed: int = 0


@dataclass(frozen=True)
class UserState:
    """What scoring knows about one user: dense training index (None for an unknown or
    folded-in user), the movies they rated (dense indices) with stars, their feedback besides
    stars, and a plugin's own representation (e.g. a factor vector) in ``extra``."""

    index: int | None
    rated: IndexArray
    stars: FloatArray
    extra: Any = None
    # Feedback besides stars: movies (dense indices) and their summed weights (``Ratings.signals``).
    signal_items: IndexArray = field(default_factory=lambda: np.empty(0, np.int64))
    signal_weights: FloatArray = field(default_factory=lambda: np.empty(0, np.float32))


@dataclass(frozen=True)
class Ranked:
    """A ranked list: external movie ids with their scores, best first."""

    movies: IdArray
    scores: FloatArray

    def __len__(self) -> int:
        return len(self.movies)

    def pairs(self) -> list[tuple[int, float]]:
        """``[(movie_id, score), ...]`` as Python numbers."""
        return [(int(m), float(s)) for m, s in zip(self.movies, self.scores, strict=True)]


@runtime_checkable
class Recommender(Protocol):
    """What the server, the workers and the evaluation engine rely on: the registry loads only
    classes whose instances have every member here. ``RecommenderBase`` implements it all."""

    name: ClassVar[str]
    version: ClassVar[str]
    capabilities: ClassVar[frozenset[str]]

    def __init__(self, config: Any = None, registry: Registry | None = None) -> None: ...
    def fit(self, ratings: Ratings, options: FitOptions | None = None) -> Self: ...
    def describe(self) -> dict[str, Any]: ...
    def user_state(self, user: int | UserState) -> UserState: ...
    def fold_in(
        self,
        movies: npt.ArrayLike,
        stars: npt.ArrayLike,
        signal_movies: npt.ArrayLike | None = None,
        signal_weights: npt.ArrayLike | None = None,
    ) -> UserState: ...
    def predict(self, user: int | UserState, movies: npt.ArrayLike) -> FloatArray: ...
    def recommend(
        self,
        user: int | UserState,
        n: int,
        exclude: npt.ArrayLike | None = None,
        exclude_rated: bool = True,
    ) -> Ranked: ...
    def similar(self, movie: int, n: int) -> Ranked: ...
    def trained_rating_count(self, user: int) -> int | None: ...
    def known_movies(self) -> IdArray: ...
    def save(self, directory: Path) -> None: ...
    @classmethod
    def load(cls, directory: Path, registry: Registry | None = None) -> Self: ...


class RecommenderBase(Generic[ConfigT]):
    """Base of every algorithm; subclasses set the class attributes and implement the hooks."""

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    capabilities: ClassVar[frozenset[str]] = frozenset({"rank"})
    config_class: ClassVar[type[Any]]
    #: Whether a registry that keeps fits (``Registry.fits``) keeps this plugin's: a composite
    #: says no, since its components are kept themselves and keeping it would copy them.
    keeps_fits: ClassVar[bool] = True

    def __init__(
        self, config: ConfigT | Mapping[str, Any] | None = None, registry: Registry | None = None
    ) -> None:
        if config is None or isinstance(config, Mapping):
            config = build_config(self.config_class, config or {})
        self.config: ConfigT = cast(ConfigT, config)
        # The registry this model was made by: composite plugins find their components there,
        # so the server's allow-list holds for those too (None: made directly, not by a registry).
        self.registry = registry
        self._data: Ratings | None = None

    # -- hooks for subclasses -------------------------------------------------------------

    def _fit(self, ratings: Ratings, options: FitOptions) -> None:
        raise NotImplementedError

    def _score(self, state: UserState, items: IndexArray) -> FloatArray:
        """Scores of dense ``items`` for a user, higher is better; NaN where it cannot score."""
        raise NotImplementedError

    def _score_catalogue(self, state: UserState) -> FloatArray:
        """Scores of every movie, in dense order (what ``recommend`` ranks): ``_score`` of
        them all unless a plugin has a cheaper way."""
        return self._score(state, np.arange(self.data.shape[1], dtype=np.int64))

    def _predict(self, state: UserState, items: IndexArray) -> FloatArray:
        """Predicted stars; by default the scores (right for rating models)."""
        return self._score(state, items)

    def _user_extra(self, state: UserState) -> Any:
        """A plugin's representation of a user from ``state`` (known or folded in)."""
        return None

    def _similar_scores(self, item: int) -> FloatArray:
        """Similarity of dense ``item`` to every movie (for the ``similar`` capability)."""
        raise Unsupported(f"{self.name} cannot find similar movies")

    def _state_arrays(self) -> dict[str, np.ndarray]:
        """The learned arrays to save."""
        return {}

    def _restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Take back what ``_state_arrays`` saved."""

    def _save_files(self, directory: Path) -> None:
        """Write what is not an array (component models, a booster's JSON) into ``directory``."""

    def _load_files(self, directory: Path) -> None:
        """Read back what ``_save_files`` wrote (after ``_restore``)."""

    # -- the public API -------------------------------------------------------------------

    @property
    def data(self) -> Ratings:
        """The training data (after ``fit`` or ``load``)."""
        if self._data is None:
            raise NotFitted(f"{self.name} is not fitted")
        return self._data

    @property
    def is_fitted(self) -> bool:
        """Whether ``fit`` or ``load`` ran."""
        return self._data is not None

    def fit(self, ratings: Ratings, options: FitOptions | None = None) -> Self:
        """Learn from ``ratings``; returns self. Made by a registry that keeps fits, it takes
        back an identical earlier fit when there is one, and keeps its own otherwise."""
        options = options or FitOptions()
        fits = self.registry.fits if self.registry is not None and self.keeps_fits else None
        place = fits.place(self, ratings, options) if fits is not None else None
        if fits is not None and place is not None and self._take_kept(place, ratings):
            fits.reused(self.name)
            return self
        self._data = ratings
        self._fit(ratings, options)
        if fits is not None and place is not None:
            fits.keep(place, lambda directory: self._write(directory, {}))
        return self

    def user_state(self, user: int | UserState) -> UserState:
        """The state of an external user id (empty for an unknown user)."""
        if isinstance(user, UserState):
            return user
        index = self.data.user_index(user)
        if index is None:
            return self.empty_state()
        matrix, signals = self.data.matrix, self.data.signals
        start, end = matrix.indptr[index], matrix.indptr[index + 1]
        first, last = signals.indptr[index], signals.indptr[index + 1]
        state = UserState(
            index,
            matrix.indices[start:end].astype(np.int64),
            matrix.data[start:end],
            signal_items=signals.indices[first:last].astype(np.int64),
            signal_weights=signals.data[first:last].astype(np.float32),
        )
        return replace(state, extra=self._user_extra(state))

    def empty_state(self) -> UserState:
        """The state of a user the model knows nothing about."""
        empty = UserState(None, np.empty(0, np.int64), np.empty(0, np.float32))
        return UserState(None, empty.rated, empty.stars, self._user_extra(empty))

    def fold_in(
        self,
        movies: npt.ArrayLike,
        stars: npt.ArrayLike,
        signal_movies: npt.ArrayLike | None = None,
        signal_weights: npt.ArrayLike | None = None,
    ) -> UserState:
        """A user state from someone's current ratings (and feedback besides stars: movies
        with their weights), without retraining."""
        self._require("fold_in")
        items = self.data.movie_indices(movies)
        values = np.asarray(stars, dtype=np.float32)
        known = items >= 0
        signalled = self.data.movie_indices(
            np.asarray([] if signal_movies is None else signal_movies)
        )
        weights = np.asarray([] if signal_weights is None else signal_weights, dtype=np.float32)
        if len(signalled) != len(weights):
            raise ValueError("signal_movies and signal_weights must have the same length")
        signal_known = signalled >= 0
        state = UserState(
            None,
            items[known],
            values[known],
            signal_items=signalled[signal_known],
            signal_weights=weights[signal_known],
        )
        return replace(state, extra=self._user_extra(state))

    def score(self, user: int | UserState, movies: npt.ArrayLike) -> FloatArray:
        """Scores of external ``movies`` for ``user``; NaN where the model cannot score."""
        return self._on_movies(self._score, self.user_state(user), movies)

    def predict(self, user: int | UserState, movies: npt.ArrayLike) -> FloatArray:
        """Predicted stars (clipped to the rating scale); NaN where the model cannot predict."""
        self._require("predict")
        predicted = self._on_movies(self._predict, self.user_state(user), movies)
        return np.clip(predicted, *RATING_SCALE)

    def recommend(
        self,
        user: int | UserState,
        n: int,
        exclude: npt.ArrayLike | None = None,
        exclude_rated: bool = True,
    ) -> Ranked:
        """The ``n`` best movies for ``user``, never one in ``exclude`` (nor, by default, one the
        user rated); fewer when fewer can be scored."""
        self._require("rank")
        state = self.user_state(user)
        scores = self._score_catalogue(state)
        blocked = self.data.movie_indices(np.asarray(exclude if exclude is not None else []))
        if exclude_rated:
            blocked = np.concatenate([blocked, state.rated])
        return self._top(scores, blocked, n)

    def similar(self, movie: int, n: int) -> Ranked:
        """The ``n`` movies most similar to ``movie`` (empty for an unknown movie)."""
        self._require("similar")
        index = self.data.movie_index(movie)
        if index is None:
            return self._top(np.empty(0, np.float32), np.empty(0, np.int64), 0)
        return self._top(self._similar_scores(index), np.array([index]), n)

    def trained_rating_count(self, user: int) -> int | None:
        """How many ratings of external user ``user`` the model was trained on (None: a user it
        does not know)."""
        index = self.data.user_index(user)
        if index is None:
            return None
        indptr = self.data.matrix.indptr
        return int(indptr[index + 1] - indptr[index])

    def known_movies(self) -> IdArray:
        """The external ids of every movie the model can score."""
        return self.data.movie_ids

    def describe(self) -> dict[str, Any]:
        """Name, version, capabilities and configuration, JSON-ready."""
        return {
            "name": self.name,
            "version": self.version,
            "capabilities": sorted(self.capabilities),
            "config": config_dict(self.config),
        }

    def save(self, directory: Path) -> None:
        """Write the model to ``directory``: ``model.json`` and one ``.npy`` per array."""
        self._write(directory, _data_arrays(self.data))

    def _write(self, directory: Path, data: Mapping[str, np.ndarray]) -> None:
        """What was learned, with ``data``'s arrays, in ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        arrays = {f"data.{key}": value for key, value in data.items()}
        arrays |= {f"model.{key}": value for key, value in self._state_arrays().items()}
        for key, value in arrays.items():
            np.save(directory / f"{key}.npy", np.ascontiguousarray(value), allow_pickle=False)
        self._save_files(directory)
        meta = {"format": ARTIFACT_FORMAT, **self.describe(), "arrays": sorted(arrays)}
        (directory / "model.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, directory: Path, registry: Registry | None = None) -> Self:
        """A model saved by ``save``; arrays are memory-mapped read-only, never unpickled."""
        meta, arrays = cls._read(directory)
        model = cls(meta["config"], registry)
        data = {k[5:]: v for k, v in arrays.items() if k.startswith("data.")}
        model._take(directory, arrays, _data_from_arrays(data))
        return model

    @classmethod
    def _read(cls, directory: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The metadata and memory-mapped arrays that ``_write`` left in ``directory``."""
        meta = json.loads((directory / "model.json").read_text())
        if meta.get("name") != cls.name or meta.get("version") != cls.version:
            raise ValueError(
                f"{directory} holds {meta.get('name')} {meta.get('version')}, "
                f"not {cls.name} {cls.version}"
            )
        arrays = {
            key: np.load(directory / f"{key}.npy", mmap_mode="r", allow_pickle=False)
            for key in meta["arrays"]
        }
        return meta, arrays

    def _take(self, directory: Path, arrays: Mapping[str, np.ndarray], data: Ratings) -> None:
        """Become the model read from ``directory``, trained on ``data``."""
        self._data = data
        self._restore({k[6:]: v for k, v in arrays.items() if k.startswith("model.")})
        self._load_files(directory)

    def _take_kept(self, directory: Path, ratings: Ratings) -> bool:
        """Become the fit kept in ``directory`` (of these ``ratings``); False when there is
        none, or it cannot be read (another process dropped it meanwhile)."""
        try:
            _, arrays = self._read(directory)
            self._take(directory, arrays, ratings)
        except (OSError, ValueError, KeyError):
            self._data = None
            return False
        return True

    # -- helpers --------------------------------------------------------------------------

    def _require(self, capability: str) -> None:
        if capability not in self.capabilities:
            raise Unsupported(f"{self.name} does not support {capability}")

    def _on_movies(self, hook: Any, state: UserState, movies: npt.ArrayLike) -> FloatArray:
        items = self.data.movie_indices(np.atleast_1d(np.asarray(movies, dtype=np.int64)))
        out = np.full(len(items), np.nan, dtype=np.float32)
        known = items >= 0
        if known.any():
            out[known] = hook(state, items[known])
        return out

    def _top(self, scores: FloatArray, blocked: IndexArray, n: int) -> Ranked:
        """The best ``n`` scorable movies, excluding ``blocked`` dense indices."""
        return top_n(scores, n, self.data.movie_ids, blocked)


def top_n(values: FloatArray, n: int, ids: IdArray, blocked: IndexArray | None = None) -> Ranked:
    """The ``n`` largest finite ``values`` (as float32) but those of ``blocked`` places, as a
    ranked list of ``ids`` (ties: lower index)."""
    if n <= 0:
        return Ranked(np.empty(0, np.int64), np.empty(0, np.float32))
    values = np.asarray(values, np.float32)
    banned = np.empty(0, np.int64) if blocked is None else np.asarray(blocked, np.int64)
    chosen = _best_places(values, banned, n)
    order = chosen[np.lexsort((chosen, -values[chosen]))]
    return Ranked(ids[order].astype(np.int64), values[order])


@numba.njit(cache=True)
def _best_places(values, blocked, n):  # type: ignore[no-untyped-def]
    """The places of the ``n`` largest finite ``values`` not ``blocked``, in no order (ties:
    lower place). One pass keeping the best so far in a heap whose root is the worst of them:
    a list is picked from every movie's score for every person served, and a full partition
    (plus the passes to mask NaNs and blocked movies first) took three times as long."""
    banned = np.zeros(len(values), np.bool_)
    for place in blocked:
        if 0 <= place < len(values):
            banned[place] = True
    kept_values = np.empty(min(n, len(values)), np.float32)
    kept = np.empty(len(kept_values), np.int64)
    size = 0
    for i in range(len(values)):
        value = values[i]
        if not np.isfinite(value) or banned[i]:
            continue
        if size < len(kept):  # room left: sift the newcomer up from the bottom
            j = size
            size += 1
            while j > 0:
                parent = (j - 1) >> 1
                if _worse(kept_values[parent], kept[parent], value, i):
                    break
                kept_values[j], kept[j] = kept_values[parent], kept[parent]
                j = parent
        elif _worse(kept_values[0], kept[0], value, i):  # replaces the worst: sift it down
            j = 0
            while 2 * j + 1 < size:
                child = 2 * j + 1
                if child + 1 < size and _worse(
                    kept_values[child + 1], kept[child + 1], kept_values[child], kept[child]
                ):
                    child += 1
                if not _worse(kept_values[child], kept[child], value, i):
                    break
                kept_values[j], kept[j] = kept_values[child], kept[child]
                j = child
        else:
            continue
        kept_values[j], kept[j] = value, i
    return kept[:size]


@numba.njit(cache=True, inline="always")
def _worse(value, place, other_value, other_place):  # type: ignore[no-untyped-def]
    """Whether (``value``, ``place``) ranks below the other: a lower value, or a tie at a later
    place."""
    return value < other_value or (value == other_value and place > other_place)


def _data_arrays(data: Ratings) -> dict[str, np.ndarray]:
    matrix = data.matrix
    arrays = {
        "user_ids": data.user_ids,
        "movie_ids": data.movie_ids,
        "indptr": matrix.indptr,
        "indices": matrix.indices,
        "stars": matrix.data,
    }
    if data.signals.nnz:
        signals = data.signals
        arrays |= {
            "signal_indptr": signals.indptr,
            "signal_indices": signals.indices,
            "signal_weights": signals.data,
        }
    return arrays


def _data_from_arrays(arrays: Mapping[str, np.ndarray]) -> Ratings:
    """Ratings rebuilt from saved arrays (no timestamps or metadata: serving needs neither)."""
    shape = (len(arrays["user_ids"]), len(arrays["movie_ids"]))
    matrix = sp.csr_matrix((arrays["stars"], arrays["indices"], arrays["indptr"]), shape=shape)
    ratings = Ratings.from_matrix(arrays["user_ids"], arrays["movie_ids"], matrix)
    if "signal_weights" not in arrays:  # no feedback besides stars (or an older artifact)
        return ratings
    signals = sp.csr_matrix(
        (arrays["signal_weights"], arrays["signal_indices"], arrays["signal_indptr"]), shape=shape
    )
    return ratings.with_signal_matrix(signals)
