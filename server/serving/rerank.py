"""The re-ranking stage of the served policy: calibration towards the person's genre mix and a
popularity penalty, applied where lists are computed (so cached lists carry it).

Greedy, as in Steck's "Calibrated Recommendations" (RecSys 2018): position after position, take
the candidate maximising ``(1 - c)·relevance - c·KL(p ‖ q) - b·popularity`` (``c``: the
calibration weight, ``b``: the popularity weight), where ``p`` is the genre mix of the person's
rated movies, ``q`` the genre mix of the list so far with the candidate (smoothed by 0.01 of
``p``, as the calibration metric is), relevance the candidate's place in the
model's list (1/log2(rank + 2): scale-free, so one weight suits every model) and popularity
log(1 + ratings) / log(1 + the most rated movie's ratings), in [0, 1]: a percentile would put
every candidate of a list near 1. The first picks do not depend on how many follow, so a
cached list of 100 and a measured top 10 agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property

import numba
import numpy as np
import numpy.typing as npt

from plugins.evaluation.beyond_accuracy import CALIBRATION_ALPHA
from server.cache.lists import CachedList

# The model's top this many are the candidates; the first ``DEPTH`` places are re-ranked.
POOL = 100
DEPTH = 20
# Movies are found by id in an array indexed by id while the largest id is at most this many
# times the number of movies (database ids are dense), else by a binary search.
DENSE_IDS = 16


@dataclass(frozen=True)
class Reranking:
    """The weights of calibration and of the popularity penalty (0 and 0: off)."""

    calibration: float = 0.0
    popularity: float = 0.0

    @property
    def active(self) -> bool:
        """Whether the stage changes anything."""
        return self.calibration > 0 or self.popularity > 0


@dataclass(frozen=True)
class MovieTraits:
    """What re-ranking knows of each movie: its genre shares (a row summing to 1, or zeros for
    a movie without genres) and its log-scaled popularity (1.0: the most rated)."""

    ids: npt.NDArray[np.int64]  # sorted
    shares: npt.NDArray[np.float32]
    popularity: npt.NDArray[np.float32]
    genres: tuple[str, ...]  # the columns of ``shares``

    @classmethod
    def build(
        cls,
        ids: npt.ArrayLike,
        counts: npt.ArrayLike,
        genres: Mapping[int, Iterable[str]],
    ) -> MovieTraits:
        """From movie ids, their rating counts and their genres."""
        movie_ids = np.asarray(ids, np.int64)
        order = np.argsort(movie_ids, kind="stable")
        movie_ids, rating_counts = movie_ids[order], np.asarray(counts, np.float64)[order]
        names = sorted({name for movie in movie_ids.tolist() for name in genres.get(movie, ())})
        column = {name: index for index, name in enumerate(names)}
        shares = np.zeros((len(movie_ids), max(len(names), 1)), np.float32)
        for row, movie in enumerate(movie_ids.tolist()):
            own = [column[name] for name in set(genres.get(movie, ()))]
            if own:
                shares[row, own] = 1.0 / len(own)
        most = np.log1p(rating_counts.max()) if len(rating_counts) else 0.0
        popularity = (np.log1p(rating_counts) / most if most > 0 else rating_counts * 0.0).astype(
            np.float32
        )
        return cls(movie_ids, shares, popularity, tuple(names))

    def rows(self, movies: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Row of each movie, -1 for a movie not known here."""
        wanted = np.asarray(movies, np.int64)
        if self._row_of_id is not None:
            return _rows_by_id(self._row_of_id, wanted)  # type: ignore[no-any-return]
        if not len(self.ids):
            return np.full(len(wanted), -1, np.int64)
        found = np.minimum(np.searchsorted(self.ids, wanted), len(self.ids) - 1)
        return np.where(self.ids[found] == wanted, found, -1)

    @cached_property
    def _row_of_id(self) -> npt.NDArray[np.int64] | None:
        """Each movie's row at its id (-1 between), when the ids are dense enough: a person's
        movies are looked up several times for every list computed."""
        if not len(self.ids) or self.ids[0] < 0 or self.ids[-1] > DENSE_IDS * len(self.ids):
            return None
        row_of_id = np.full(int(self.ids[-1]) + 1, -1, np.int64)
        row_of_id[self.ids] = np.arange(len(self.ids))
        return row_of_id

    def mix(self, movies: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """The genre mix of ``movies`` (sums to 1; zeros when none has a genre)."""
        rows = self.rows(movies)
        total = self.shares[rows[rows >= 0]].sum(axis=0, dtype=np.float64)
        weight = float(total.sum())
        return np.asarray(total / weight if weight > 0 else total, np.float64)


@numba.njit(cache=True)
def _rows_by_id(row_of_id, wanted):  # type: ignore[no-untyped-def]
    rows = np.full(len(wanted), -1, np.int64)
    for i in range(len(wanted)):
        if 0 <= wanted[i] < len(row_of_id):
            rows[i] = row_of_id[wanted[i]]
    return rows


def rerank(
    entry: CachedList,
    rated_movies: npt.ArrayLike,
    traits: MovieTraits,
    weights: Reranking,
    depth: int = DEPTH,
) -> CachedList:
    """``entry`` with its first ``depth`` places chosen greedily (see the module); the rest keep
    the model's order. Scores stay the model's."""
    target = traits.mix(rated_movies)
    calibration = weights.calibration if target.sum() > 0 else 0.0
    if not (calibration > 0 or weights.popularity > 0) or len(entry) < 2:
        return entry
    rows = traits.rows(entry.movies)
    shares = np.where((rows >= 0)[:, None], traits.shares[rows], 0.0)
    popularity = np.where(rows >= 0, traits.popularity[rows], 0.0)
    relevance = 1.0 / np.log2(np.arange(len(entry)) + 2.0)
    base = (1.0 - calibration) * relevance - weights.popularity * popularity
    chosen = _greedy_places(
        base, np.asarray(shares, np.float64), target, calibration, min(depth, len(entry))
    )
    open_ = np.ones(len(entry), bool)
    open_[chosen] = False
    order = np.concatenate([chosen, np.flatnonzero(open_)])
    return CachedList(
        entry.version, entry.source, entry.movies[order], entry.scores[order], entry.generation
    )


@numba.njit(cache=True)
def _greedy_places(  # type: ignore[no-untyped-def]
    base, shares, target, calibration, places
):
    """The rows picked for the first ``places`` places, one after another: each the open row
    maximising its ``base`` value minus ``calibration`` x the KL divergence of ``target`` from
    the (smoothed) genre mix the list would have with it. Every person's precomputed list goes
    through this loop, so it is compiled; and since a movie has few genres, each place sums the
    divergence of the list as it is once, and each row changes only its own genres' terms."""
    rows, genres = shares.shape
    chosen = np.empty(places, np.int64)
    open_ = np.ones(rows, np.bool_)
    held = np.zeros(genres)
    as_is = np.zeros(genres)  # each genre's divergence term without the row
    for place in range(places):
        total = 0.0
        if calibration > 0:
            for genre in range(genres):
                wanted = target[genre]
                if wanted > 0:
                    as_is[genre] = _term(wanted, held[genre] / (place + 1))
                    total += as_is[genre]
        best, best_value = -1, -np.inf
        for row in range(rows):
            if not open_[row]:
                continue
            value = base[row]
            if calibration > 0:
                divergence = total
                for genre in range(genres):
                    wanted, share = target[genre], shares[row, genre]
                    if wanted > 0 and share > 0:
                        mix = (held[genre] + share) / (place + 1)
                        divergence += _term(wanted, mix) - as_is[genre]
                value -= calibration * divergence
            if value > best_value:
                best, best_value = row, value
        chosen[place] = best
        open_[best] = False
        held += shares[best]
    return chosen


@numba.njit(cache=True)
def _term(wanted, mix):  # type: ignore[no-untyped-def]
    """One genre's term of the KL divergence of the wanted mix from the smoothed list mix."""
    smoothed = (1.0 - CALIBRATION_ALPHA) * mix + CALIBRATION_ALPHA * wanted
    return wanted * np.log2(wanted / smoothed)
