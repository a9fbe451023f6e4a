"""``Ratings``: the immutable training data every algorithm receives.

Built once per training run from plain arrays (the workers read them from the database, the
evaluation engine from dataset files). External ids are integers; dense indices are positions in
``user_ids`` / ``movie_ids``. Stars are floats (0.5-5.0). No Python loop touches a rating.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

IdArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]
RATING_SCALE = (0.5, 5.0)


@dataclass(frozen=True, slots=True)
class MovieInfo:
    """What content-based algorithms know about a movie."""

    title: str = ""
    year: int | None = None
    genres: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    overview: str = ""


class Ratings:
    """Users x movies ratings as CSR (float32 stars) plus timestamps and movie metadata.

    Movies of ``movies`` that nobody rated are part of the catalogue too (content-based
    algorithms can recommend them). Duplicate (user, movie) pairs keep the last one given.
    """

    def __init__(
        self,
        users: npt.ArrayLike,
        movies: npt.ArrayLike,
        stars: npt.ArrayLike,
        timestamps: npt.ArrayLike | None = None,
        movie_info: Mapping[int, MovieInfo] | None = None,
    ) -> None:
        user_col = np.asarray(users, dtype=np.int64)
        movie_col = np.asarray(movies, dtype=np.int64)
        star_col = np.asarray(stars, dtype=np.float32)
        time_col = (
            np.zeros(len(user_col), np.int64)
            if timestamps is None
            else np.asarray(timestamps, dtype=np.int64)
        )
        if not len(user_col) == len(movie_col) == len(star_col) == len(time_col):
            raise ValueError("users, movies, stars and timestamps must have the same length")
        self.movie_info: Mapping[int, MovieInfo] = dict(movie_info or {})
        catalogue = np.fromiter(self.movie_info.keys(), np.int64, len(self.movie_info))
        self.user_ids, rows = _ids_and_places(user_col)
        self.movie_ids, cols = _ids_and_places(movie_col, catalogue)
        self.matrix, self.times = _to_csr(rows, cols, star_col, time_col, self.shape)

    @classmethod
    def from_matrix(
        cls, user_ids: npt.ArrayLike, movie_ids: npt.ArrayLike, matrix: sp.csr_matrix
    ) -> Ratings:
        """Ratings around an existing CSR matrix whose rows and columns follow the sorted
        ``user_ids`` and ``movie_ids`` (timestamps zero, no metadata)."""
        ratings = cls.__new__(cls)
        ratings.movie_info = {}
        ratings.user_ids = np.asarray(user_ids, dtype=np.int64)
        ratings.movie_ids = np.asarray(movie_ids, dtype=np.int64)
        ratings.matrix = matrix
        ratings.times = sp.csr_matrix(
            (np.zeros(matrix.nnz, np.int64), matrix.indices, matrix.indptr), shape=matrix.shape
        )
        return ratings

    @cached_property
    def signals(self) -> sp.csr_matrix:
        """Feedback besides stars (watched, liked, on a watchlist) as users x movies weights,
        summed per pair; empty unless given by ``with_signals``. Implicit-feedback algorithms
        add it to what stars say; the others may ignore it."""
        return sp.csr_matrix(self.shape, dtype=np.float32)

    def with_signals(
        self, users: npt.ArrayLike, movies: npt.ArrayLike, weights: npt.ArrayLike
    ) -> Ratings:
        """The same ratings with ``signals`` from (user, movie, weight) triples of external
        ids; a pair's weights add up, and a pair of a user or movie not in the ratings is
        dropped (a person with feedback alone is folded in when served)."""
        rows = self.user_indices(users)
        cols = self.movie_indices(movies)
        values = np.asarray(weights, dtype=np.float32)
        keep = (rows >= 0) & (cols >= 0) & (values > 0)
        matrix = sp.csr_matrix(
            (values[keep], (rows[keep], cols[keep])), shape=self.shape, dtype=np.float32
        )
        matrix.sum_duplicates()
        return self.with_signal_matrix(matrix)

    def with_signal_matrix(self, matrix: sp.csr_matrix) -> Ratings:
        """The same ratings with ``matrix`` (users x movies, this shape) as ``signals``."""
        if matrix.shape != self.shape:
            raise ValueError(f"signals of shape {matrix.shape} for ratings of {self.shape}")
        ratings = copy.copy(self)
        ratings.__dict__["signals"] = matrix
        ratings.__dict__.pop("fingerprint", None)
        return ratings

    @cached_property
    def fingerprint(self) -> str:
        """A digest of everything a fit can read (ids, stars, times, feedback, metadata): two
        ``Ratings`` with one fingerprint train the same model. About 0.5 s at 25M ratings."""
        digest = hashlib.blake2b(digest_size=16)
        signals = self.signals
        for array in (
            self.user_ids,
            self.movie_ids,
            self.matrix.indptr,
            self.matrix.indices,
            self.matrix.data,
            self.times.data,
            signals.indptr,
            signals.indices,
            signals.data,
        ):
            digest.update(f"{array.dtype.str}{array.shape}".encode())
            digest.update(np.ascontiguousarray(array).data)
        digest.update(repr(sorted(self.movie_info.items())).encode())
        return digest.hexdigest()

    @property
    def shape(self) -> tuple[int, int]:
        """(number of users, number of movies)."""
        return len(self.user_ids), len(self.movie_ids)

    @property
    def n_ratings(self) -> int:
        """How many ratings (after merging duplicates)."""
        return int(self.matrix.nnz)

    @cached_property
    def global_mean(self) -> float:
        """The mean of every rating (3.5 when there are none)."""
        return float(self.matrix.data.mean()) if self.matrix.nnz else 3.5

    @cached_property
    def csc(self) -> sp.csc_matrix:
        """The same ratings, column-major (fast per-movie access)."""
        return self.matrix.tocsc()

    @cached_property
    def coo(self) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32], FloatArray]:
        """(user index, movie index, stars) of every rating, in CSR order."""
        rows = np.repeat(
            np.arange(self.shape[0], dtype=np.int32), np.diff(self.matrix.indptr)
        ).astype(np.int32)
        return rows, self.matrix.indices.astype(np.int32), self.matrix.data

    def user_index(self, user: int) -> int | None:
        """The dense index of an external user id, or None if unknown."""
        return _index_of(self.user_ids, user)

    def movie_index(self, movie: int) -> int | None:
        """The dense index of an external movie id, or None if unknown."""
        return _index_of(self.movie_ids, movie)

    def movie_indices(self, movies: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Dense indices of external movie ids; -1 where unknown."""
        return _indices_of(self.movie_ids, np.asarray(movies, dtype=np.int64))

    def user_indices(self, users: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Dense indices of external user ids; -1 where unknown."""
        return _indices_of(self.user_ids, np.asarray(users, dtype=np.int64))

    def info(self, movie_index: int) -> MovieInfo:
        """Metadata of a movie by dense index (empty when the data had none)."""
        return self.movie_info.get(int(self.movie_ids[movie_index]), MovieInfo())

    def subset(self, keep: npt.NDArray[np.bool_]) -> Ratings:
        """The ratings where ``keep`` (a mask over ``coo`` order) is true; same catalogue."""
        rows, cols, stars = self.coo
        return Ratings(
            self.user_ids[rows[keep]],
            self.movie_ids[cols[keep]],
            stars[keep],
            self.times.data[keep],
            self.movie_info or {int(m): MovieInfo() for m in self.movie_ids},
        )


# Ids spanning at most this many values are marked in an array that wide (see
# ``_ids_and_places``): 80 MB for a moment at most.
MARKED_SPAN = 16_000_000


def _ids_and_places(
    column: npt.NDArray[np.int64], more: npt.NDArray[np.int64] | None = None
) -> tuple[IdArray, npt.NDArray[np.int64]]:
    """The sorted distinct ids of ``column`` and ``more``, and the place of each of
    ``column``'s among them. Ids of a narrow span (a database's, MovieLens') are marked in an
    array as wide as the span: for 25M ratings a fifth of sorting and searching them."""
    every = column if more is None or not len(more) else np.concatenate([column, more])
    low = int(every.min()) if len(every) else 0
    span = int(every.max()) - low + 1 if len(every) else 0
    if span > MARKED_SPAN:
        ids = np.unique(every)
        return ids, np.searchsorted(ids, column)
    present = np.zeros(span, bool)
    present[every - low] = True
    places = np.cumsum(present, dtype=np.int32) - 1
    return np.flatnonzero(present) + low, places[column - low].astype(np.int64)


def _to_csr(
    rows: npt.NDArray[np.int64],
    cols: npt.NDArray[np.int64],
    stars: FloatArray,
    times: IdArray,
    shape: tuple[int, int],
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """CSR matrices of stars and timestamps with the same structure; the last duplicate wins."""
    key = rows * shape[1] + cols
    order = np.argsort(key, kind="stable")
    key = key[order]
    last = np.ones(len(key), dtype=bool)
    last[:-1] = key[1:] != key[:-1]
    picked = order[last]
    row, col = rows[picked], cols[picked]
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(row, minlength=shape[0]), out=indptr[1:])
    indices = col.astype(np.int32)
    matrix = sp.csr_matrix((stars[picked], indices, indptr), shape=shape)
    time_matrix = sp.csr_matrix((times[picked], indices.copy(), indptr.copy()), shape=shape)
    return matrix, time_matrix


def _index_of(ids: IdArray, value: int) -> int | None:
    position = int(np.searchsorted(ids, value))
    return position if position < len(ids) and ids[position] == value else None


def _indices_of(ids: IdArray, values: IdArray) -> npt.NDArray[np.int64]:
    positions = np.searchsorted(ids, values)
    clipped = np.minimum(positions, max(len(ids) - 1, 0))
    found = (positions < len(ids)) & (ids[clipped] == values) if len(ids) else positions < 0
    return np.where(found, positions, -1).astype(np.int64)
