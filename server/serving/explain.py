"""Why each movie is on someone's list, computed with the list and cached with it (a cached read
renders what is stored: explanations cost nothing at read time).

- ``because``: the one or two of the person's highly rated movies it is most like, by who rated
  both (cosine of the two movies' raters in the model's training ratings), when that is at least
  ``MIN_SIMILARITY``;
- ``new``: nobody had rated it when the model was trained (content-based picks);
- from a list that is the same for everyone (popularity): ``trending`` (a time-decayed
  popularity), ``popular_in`` a genre the person rates most, or ``popular``;
- otherwise ``similar_people``: a personal model ranked it high from people of similar taste.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

import numba
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from plugins.algorithms.popularity import weighted_rating
from plugins.base import Recommender
from server.cache.lists import CachedList, Reasons, Why
from server.serving.policy import RatedMovies, is_personal
from server.serving.rerank import MovieTraits

# Below this cosine of their raters, two movies are not "alike" enough to explain one another.
MIN_SIMILARITY = 0.1
# Stars that make a rated movie one the person liked; at most this many of them are compared.
LIKED_STARS = 4.0
MAX_LIKED = 50
# A movie's mean stars are shrunk towards everyone's mean as if it had this many more ratings.
LIKING_VOTES = 10.0
# How many of the most rated movies ``Evidence.tabled`` counts the co-raters of, pair by pair,
# ahead: 6,000 x 6,000 counts are 144 MB, held by each process that precomputes lists. Lists
# are mostly made of them (``ease`` models its 6,000 most rated movies), so with the table a
# precompute counts raters only for pairs with a rarer liked movie (9 ms a person at 5M ratings
# without any table, most of a precompute; at 25M the counts left took 0.56 ms a person with
# 3,000 movies tabled and 0.20 ms with 6,000).
TABLED_MOVIES = 6_000
# Movies rated by fewer people are not tabled: their raters are walked in no time, and a small
# catalogue's long tail would fill the table for nothing.
TABLE_MIN_RATERS = 20
# The table's rows counted in one pass over everyone's ratings (256 x 6,000 counts: 6 MB).
TABLE_BAND = 256


@dataclass(frozen=True)
class CoRaters:
    """How many people rated both of two movies, for every pair of the most rated ones."""

    place: npt.NDArray[np.int64]  # each traits row's place in ``counts``; -1: not tabled
    counts: npt.NDArray[np.float32]  # exact: integers far below float32's 2**24


@dataclass(frozen=True)
class Evidence:
    """What explaining a version's lists (and choosing onboarding questions) needs: the movies'
    traits, who rated each movie (the model's training ratings, column-major), how well liked
    each movie is, and the database id of each traits genre."""

    traits: MovieTraits
    raters: sp.csc_matrix  # training users x traits movies, 1 (int8) where rated
    counts: npt.NDArray[np.float64]
    liking: npt.NDArray[np.float64]  # mean stars, shrunk (weighted rating, LIKING_VOTES)
    genre_ids: npt.NDArray[np.int32]
    trending: bool  # a non-personal model that decays old ratings
    table: CoRaters | None = None  # see ``tabled``
    profiles: sp.csr_matrix | None = None  # ``raters`` row-major, see ``profiled``

    @classmethod
    def build(
        cls,
        ids: npt.NDArray[np.int64],
        stars: sp.csc_matrix,
        genres: Mapping[int, Iterable[str]],
        genre_ids: Mapping[str, int],
        trending: bool,
    ) -> Evidence:
        """From the sorted movie ids, the training stars (users x those movies), each movie's
        genres and the database id of each genre."""
        # Who rated what is all explanations read: one byte a rating beside the stars' index
        # arrays, shared rather than copied (neither is written; 175 MB less at 25M ratings).
        ones = np.ones(stars.nnz, np.int8)
        raters = sp.csc_matrix((ones, stars.indices, stars.indptr), shape=stars.shape, copy=False)
        counts = np.diff(raters.indptr).astype(np.float64)
        sums = np.asarray(stars.sum(axis=0), np.float64).ravel()
        means = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
        traits = MovieTraits.build(ids, counts, genres)
        return cls(
            traits,
            raters,
            counts,
            weighted_rating(counts, means, LIKING_VOTES),
            np.array([genre_ids.get(name, -1) for name in traits.genres], np.int32),
            trending,
        )

    def alike(
        self, first: npt.NDArray[np.int64], second: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.float64]:
        """Cosine of the raters of each traits row of ``first`` and each of ``second``: how
        much the same people rated both."""
        norms = np.sqrt(np.outer(self.counts[first], self.counts[second]))
        return _cosine(self.co_rated(first, second), norms)

    def most_alike(
        self, first: npt.NDArray[np.int64], second: npt.NDArray[np.int64], keep: int, floor: float
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """For each traits row of ``first``, the ``keep`` places in ``second`` most alike it,
        best first (ties to the earlier place), and their cosines: the ranking of
        ``alike(first, second)`` as far as it reaches ``floor``, whatever lies below it.

        Counts only the pairs that can matter: a pair's cosine is at most the square root of
        its smaller rater count over its larger, so a pair the table does not hold is counted
        only when that bound reaches both ``floor`` and the row's ``keep``-th best cosine the
        table gave. Lists are mostly of popular movies and the table holds most pairs, so the
        costly pairs (a popular movie, whose raters are walked, and a rarer one) mostly drop."""
        sizes, other_sizes = self.counts[first], self.counts[second]
        norms = np.sqrt(np.outer(sizes, other_sizes))
        tabled = self._tabled(first, second)
        similarity = _cosine(self._from_table(first, second), norms)
        known = np.outer(tabled[0], tabled[1])
        kth = np.full(len(first), -np.inf)
        if len(second) >= keep:
            kth = _best_in_rows(np.where(known, similarity, -np.inf), keep)[1][:, -1]
        reach = _cosine(np.minimum.outer(sizes, other_sizes), norms)
        wanted = ~known & (norms > 0) & (reach >= np.maximum(kth, floor)[:, None])
        for part in (tabled[0], ~tabled[0]):  # a tabled row wants untabled columns alone
            rows = np.flatnonzero(part & wanted.any(axis=1))
            columns = np.flatnonzero((wanted & part[:, None]).any(axis=0))
            if len(rows) and len(columns):
                block = np.ix_(rows, columns)
                counted = self._count(first[rows], second[columns])
                similarity[block] = _cosine(counted, norms[block])
        return _best_in_rows(similarity, keep)  # type: ignore[no-any-return]

    def co_rated(
        self, first: npt.NDArray[np.int64], second: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.float64]:
        """How many people rated both traits rows ``first[i]`` and ``second[j]``: read from
        the table where it holds both, counted (``co_rated``) for the other pairs."""
        rows, columns = self._tabled(first, second)
        counts = self._from_table(first, second)
        counts[~rows] = self._count(first[~rows], second)
        counts[np.ix_(rows, ~columns)] = self._count(first[rows], second[~columns])
        return counts

    def _tabled(
        self, first: npt.NDArray[np.int64], second: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """Which of ``first`` and which of ``second`` the table holds."""
        if self.table is None:
            return np.zeros(len(first), bool), np.zeros(len(second), bool)
        return self.table.place[first] >= 0, self.table.place[second] >= 0

    def _from_table(
        self, first: npt.NDArray[np.int64], second: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.float64]:
        """The counts of the pairs the table holds; 0 for the others."""
        if self.table is None:
            return np.zeros((len(first), len(second)))
        place = self.table.place
        return _read_table(self.table.counts, place[first], place[second])  # type: ignore[no-any-return]

    def _count(
        self, first: npt.NDArray[np.int64], second: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.float64]:
        if not len(first) or not len(second):  # the kernel would still mark second's raters
            return np.zeros((len(first), len(second)))
        raters = self.raters
        return co_rated(raters.indptr, raters.indices, raters.shape[0], first, second)  # type: ignore[no-any-return]

    def tabled(self, size: int = TABLED_MOVIES, min_raters: float = TABLE_MIN_RATERS) -> Evidence:
        """The same evidence with the co-raters of its ``size`` most rated movies counted
        ahead, of those rated by at least ``min_raters`` people: for a process about to explain
        many people's lists (a precompute), not for one person's (the table takes seconds to
        count at millions of ratings)."""
        head = np.argsort(-self.counts, kind="stable")[:size]
        head = head[self.counts[head] >= min_raters]
        profiles = sp.csr_matrix(self.raters[:, head])  # each person's places in the table
        profiles.sort_indices()
        counts = co_rating_table(profiles.indptr, profiles.indices, len(head), TABLE_BAND)
        place = np.full(len(self.counts), -1, np.int64)
        place[head] = np.arange(len(head))
        return replace(self, table=CoRaters(place, counts))

    def profiled(self) -> Evidence:
        """The same evidence with each person's rated movies at hand (``raters`` row-major,
        as much memory again): for a process about to explain many similar lists."""
        return replace(self, profiles=sp.csr_matrix(self.raters))

    def rated_both(self, movie: int, others: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """How many people rated both traits row ``movie`` and each of ``others``: as
        ``co_rated``, but with the profiles at hand (``profiled``) a movie whose raters rated
        fewer movies in all than the others' raters that would be walked is counted through
        its raters' own movies. The movies similar to a rarely rated one are mostly popular,
        and walking their raters costs far more than walking the few who rated it."""
        own = np.array([movie], np.int64)
        if self.profiles is not None:
            rows, columns = self._tabled(others, own)
            walked = others if not columns[0] else others[~rows]  # pairs the table lacks
            start, stop = self.raters.indptr[movie], self.raters.indptr[movie + 1]
            raters = self.raters.indices[start:stop]
            if np.diff(self.profiles.indptr)[raters].sum() < self.counts[walked].sum():
                profiles = self.profiles
                return counted_through_people(  # type: ignore[no-any-return]
                    profiles.indptr, profiles.indices, raters, others, profiles.shape[1]
                )
        return self.co_rated(others, own)[:, 0]


def _cosine(
    together: npt.NDArray[np.float64], norms: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    return np.asarray(np.divide(together, norms, out=np.zeros_like(together), where=norms > 0))


# De Bruijn sequence for the index of a 64-bit word's lowest set bit, and its table.
_DE_BRUIJN = np.uint64(0x03F79D71B4CA8B09)
_BIT_OF = np.zeros(64, np.int64)
for _bit in range(64):
    _BIT_OF[((1 << _bit) * 0x03F79D71B4CA8B09 % 2**64) >> 58] = _bit


@numba.njit(cache=True)
def co_rated(  # type: ignore[no-untyped-def]
    indptr, indices, people, first, second
):
    """How many people rated both movie ``first[i]`` and movie ``second[j]``, for every pair:
    the columns of a people x movies CSC matrix of ratings (``indptr``, ``indices``).

    The same counts as the sparse product of the two column slices, without building either:
    each person who rated a movie of ``second`` gets a bit for it (64 movies a pass), and each
    rater of a movie of ``first`` adds their bits. A list's explanations ask 100 x 50 pairs for
    every person of a precompute, so this is its hot loop."""
    counts = np.zeros((len(first), len(second)))
    marks = np.zeros(people, np.uint64)
    for start in range(0, len(second), 64):
        stop = min(start + 64, len(second))
        for j in range(start, stop):
            bit = np.uint64(1) << np.uint64(j - start)
            for p in range(indptr[second[j]], indptr[second[j] + 1]):
                marks[indices[p]] |= bit
        for i in range(len(first)):
            for p in range(indptr[first[i]], indptr[first[i] + 1]):
                mark = marks[indices[p]]
                while mark:
                    lowest = mark & (~mark + np.uint64(1))
                    counts[i, start + _BIT_OF[(lowest * _DE_BRUIJN) >> np.uint64(58)]] += 1
                    mark ^= lowest
        for j in range(start, stop):
            for p in range(indptr[second[j]], indptr[second[j] + 1]):
                marks[indices[p]] = 0
    return counts


@numba.njit(cache=True)
def _best_in_rows(values, keep):  # type: ignore[no-untyped-def]
    """The places of each row's ``keep`` largest values (all when fewer), largest first, ties
    to the earlier place, and those values: a stable sort of each row, cut, without sorting
    the rest (a list's 100 rows of 50 cosines, twice a person)."""
    rows, width = values.shape
    keep = min(keep, width)
    places = np.empty((rows, keep), np.int64)
    best = np.empty((rows, keep), values.dtype)
    for i in range(rows):
        size = 0
        for j in range(width):
            value = values[i, j]
            if size == keep:
                if not value > best[i, keep - 1]:
                    continue
                k = keep - 1  # the last one drops out
            else:
                k = size
                size += 1
            while k > 0 and value > best[i, k - 1]:
                best[i, k], places[i, k] = best[i, k - 1], places[i, k - 1]
                k -= 1
            best[i, k], places[i, k] = value, j
    return places, best


@numba.njit(cache=True)
def _read_table(table, rows, columns):  # type: ignore[no-untyped-def]
    """``table[rows[i], columns[j]]`` for every pair of places both at least 0; 0 for the
    others. One pass, where indexing a block out of the table and into the counts took three
    (7.8 % of a precompute at 25M)."""
    counts = np.zeros((len(rows), len(columns)))
    for i in range(len(rows)):
        if rows[i] < 0:
            continue
        line = table[rows[i]]
        for j in range(len(columns)):
            if columns[j] >= 0:
                counts[i, j] = line[columns[j]]
    return counts


@numba.njit(cache=True, nogil=True)
def co_rating_table(indptr, indices, size, band):  # type: ignore[no-untyped-def]
    """How many people rated both of every two of ``size`` movies: a people x movies CSR
    matrix of ratings (``indptr``, ``indices`` sorted within each person), every pair of each
    person's movies counted once (the lower place's row, then mirrored).

    Seven times faster than scipy's sparse product at 25M ratings (2.2 s against 15.3 s for
    3,000 movies): the counts go straight into the dense table, ``band`` rows of it at a time
    so the rows being written stay in the processor's cache (each band walks every person
    again, from their first movie in the band). Releases the GIL: a live worker counts it in
    a thread while it goes on refreshing lists."""
    counts = np.zeros((size, size), np.float32)
    for low in range(0, size, band):
        high = min(low + band, size)
        for person in range(len(indptr) - 1):
            start, stop = indptr[person], indptr[person + 1]
            p = start + np.searchsorted(indices[start:stop], low)
            while p < stop and indices[p] < high:
                row = counts[indices[p]]
                for q in range(p, stop):
                    row[indices[q]] += 1
                p += 1
    for first in range(size):
        for second in range(first + 1, size):
            counts[second, first] = counts[first, second]
    return counts


@numba.njit(cache=True)
def counted_through_people(indptr, indices, people, movies, width):  # type: ignore[no-untyped-def]
    """How many of ``people`` rated each of ``movies``: each person's movies (a people x
    movies CSR matrix, ``indptr``, ``indices``, ``width`` movies) walked once."""
    place = np.full(width, -1, np.int64)
    for k in range(len(movies)):
        place[movies[k]] = k
    counts = np.zeros(len(movies))
    for person in people:
        for p in range(indptr[person], indptr[person + 1]):
            k = place[indices[p]]
            if k >= 0:
                counts[k] += 1
    return counts


def explain(
    entry: CachedList, rated: RatedMovies, evidence: Evidence, model: Recommender
) -> CachedList:
    """``entry`` with each movie's reason (see the module)."""
    rows = evidence.traits.rows(entry.movies)
    known = rows >= 0
    counts = np.where(known, evidence.counts[np.maximum(rows, 0)], 0.0)
    n = len(entry)
    refs = np.full((n, 2), -1, np.int32)
    half_stars = np.zeros((n, 2), np.uint8)
    if is_personal(model):
        kinds = np.full(n, Why.SIMILAR_PEOPLE, np.uint8)
        _because(kinds, refs, half_stars, rows, rated, evidence)
    else:
        kinds = np.full(n, Why.TRENDING if evidence.trending else Why.POPULAR, np.uint8)
        _popular_in(kinds, refs, rows, rated, evidence)
    kinds[counts == 0] = Why.NEW
    return entry.explained(Reasons(kinds, refs, half_stars))


def _because(
    kinds: npt.NDArray[np.uint8],
    refs: npt.NDArray[np.int32],
    half_stars: npt.NDArray[np.uint8],
    rows: npt.NDArray[np.int64],
    rated: RatedMovies,
    evidence: Evidence,
) -> None:
    liked = _liked(rated, evidence.traits)
    candidates = np.flatnonzero(rows >= 0)
    if not len(liked[0]) or not len(candidates):
        return
    liked_rows, liked_movies, liked_stars = liked
    best, similarity = evidence.most_alike(rows[candidates], liked_rows, 2, MIN_SIMILARITY)
    kept = similarity >= MIN_SIMILARITY  # best first: kept as a prefix
    explained = kept[:, 0]
    movie_rows = candidates[explained]
    width = best.shape[1]
    kinds[movie_rows] = Why.BECAUSE
    refs[movie_rows, :width] = np.where(kept, liked_movies[best], -1)[explained]
    half_stars[movie_rows, :width] = np.where(kept, np.round(liked_stars[best] * 2), 0)[explained]


def _liked(
    rated: RatedMovies, traits: MovieTraits
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """The person's best-rated movies the model knows (those of ``LIKED_STARS`` or more, else
    their best), best first: traits rows, movie ids, stars."""
    rows = traits.rows(rated.movies)
    keep = rows >= 0
    if not keep.any():
        empty = np.empty(0, np.int64)
        return empty, empty, np.empty(0, np.float32)
    stars = rated.stars[keep]
    top = min(LIKED_STARS, float(stars.max()))
    if np.count_nonzero(stars > top) * 2 >= len(stars):  # else the median is at most ``top``
        top = max(top, float(np.median(stars)))
    order = np.argsort(-stars, kind="stable")
    order = order[stars[order] >= top][:MAX_LIKED]
    return rows[keep][order], rated.movies[keep][order].astype(np.int64), stars[order]


def _popular_in(
    kinds: npt.NDArray[np.uint8],
    refs: npt.NDArray[np.int32],
    rows: npt.NDArray[np.int64],
    rated: RatedMovies,
    evidence: Evidence,
) -> None:
    """Name the genre of each movie the person rates most, if they rated any of its genres."""
    mix = evidence.traits.mix(rated.movies)
    known = np.flatnonzero(rows >= 0)
    if not mix.any() or not len(known):
        return
    weight = evidence.traits.shares[rows[known]] * mix
    genre = weight.argmax(axis=1)
    shared = weight[np.arange(len(known)), genre] > 0
    kinds[known[shared]] = Why.POPULAR_IN
    refs[known[shared], 0] = evidence.genre_ids[genre[shared]]


def explain_alike(entry: CachedList, movie: int, evidence: Evidence | None) -> CachedList:
    """A similar-movies list whose every movie names ``movie`` and how many people rated both
    (-1 when unknown); the genres they share are read from the movies when shown."""
    refs = np.full((len(entry), 2), -1, np.int32)
    refs[:, 0] = movie
    if evidence is not None:
        rows = evidence.traits.rows(entry.movies)
        own = evidence.traits.rows([movie])[0]
        known = rows >= 0
        if own >= 0 and known.any():
            refs[known, 1] = evidence.rated_both(own, rows[known]).astype(np.int32)
    kinds = np.full(len(entry), Why.ALIKE, np.uint8)
    return entry.explained(Reasons(kinds, refs, np.zeros((len(entry), 2), np.uint8)))


def explain_popular(entry: CachedList, genre_ids: list[int]) -> CachedList:
    """A popular list: ``popular_in`` the genre of ``genre_ids`` (one per movie, -1 for none)
    each movie was picked for, else ``popular``."""
    chosen = np.asarray(genre_ids, np.int32)
    kinds = np.where(chosen >= 0, Why.POPULAR_IN, Why.POPULAR).astype(np.uint8)
    refs = np.stack([chosen, np.full(len(chosen), -1, np.int32)], axis=1)
    return entry.explained(Reasons(kinds, refs, np.zeros((len(entry), 2), np.uint8)))
