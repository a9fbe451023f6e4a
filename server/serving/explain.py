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
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Evidence:
    """What explaining a version's lists (and choosing onboarding questions) needs: the movies'
    traits, who rated each movie (the model's training ratings, column-major), how well liked
    each movie is, and the database id of each traits genre."""

    traits: MovieTraits
    raters: sp.csc_matrix  # training users x traits movies, 1 where rated
    counts: npt.NDArray[np.float64]
    liking: npt.NDArray[np.float64]  # mean stars, shrunk (weighted rating, LIKING_VOTES)
    genre_ids: npt.NDArray[np.int32]
    trending: bool  # a non-personal model that decays old ratings

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
        raters = sp.csc_matrix(stars, copy=True)
        raters.data = np.ones_like(raters.data)
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
        together = (self.raters[:, first].T @ self.raters[:, second]).toarray()
        norms = np.sqrt(np.outer(self.counts[first], self.counts[second]))
        return np.asarray(np.divide(together, norms, out=np.zeros_like(together), where=norms > 0))


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
    similarity = evidence.alike(rows[candidates], liked_rows)
    best = np.argsort(-similarity, axis=1, kind="stable")[:, :2]
    for place, movie_row in enumerate(candidates.tolist()):
        chosen = [j for j in best[place].tolist() if similarity[place, j] >= MIN_SIMILARITY]
        if not chosen:
            continue
        kinds[movie_row] = Why.BECAUSE
        refs[movie_row, : len(chosen)] = liked_movies[chosen]
        half_stars[movie_row, : len(chosen)] = np.round(liked_stars[chosen] * 2)


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
    top = max(min(LIKED_STARS, float(stars.max())), float(np.median(stars)))
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
            both = evidence.raters[:, rows[known]].T @ evidence.raters[:, [own]]
            refs[known, 1] = np.asarray(both.toarray()).ravel().astype(np.int32)
    kinds = np.full(len(entry), Why.ALIKE, np.uint8)
    return entry.explained(Reasons(kinds, refs, np.zeros((len(entry), 2), np.uint8)))


def explain_popular(entry: CachedList, genre_ids: list[int]) -> CachedList:
    """A popular list: ``popular_in`` the genre of ``genre_ids`` (one per movie, -1 for none)
    each movie was picked for, else ``popular``."""
    chosen = np.asarray(genre_ids, np.int32)
    kinds = np.where(chosen >= 0, Why.POPULAR_IN, Why.POPULAR).astype(np.uint8)
    refs = np.stack([chosen, np.full(len(chosen), -1, np.int32)], axis=1)
    return entry.explained(Reasons(kinds, refs, np.zeros((len(entry), 2), np.uint8)))
