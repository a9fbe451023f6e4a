"""The served policy: which model answers a person, and how their list is made from it.

One function, ``served_list``, turns a ranker (the champion of the person's segment, or a pinned
algorithm), the content model and someone's current ratings into their list. The read path, the
precompute workers, the worker's holdout and ``movierec evaluate --served`` all call it, so what
is measured is what is served.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property

import numpy as np
import numpy.typing as npt

from plugins.base import Recommender, UserState
from server.cache.lists import CachedList
from server.config import Settings
from server.serving.rerank import POOL, MovieTraits, Reranking, rerank

# Reciprocal-rank fusion constant: how much the top ranks dominate a blend.
RRF_K = 10.0
# The algorithm blended into the lists of people with few ratings.
CONTENT = "content"


class Segment(StrEnum):
    """People by how much the model can know of them."""

    NEW = "new"  # no ratings
    COLD = "cold"  # fewer than the cold-start setting
    WARM = "warm"


SEGMENTS = tuple(Segment)


@dataclass(frozen=True)
class Policy:
    """The settings of the served policy: below ``cold_start_ratings`` ratings a list is
    blended with content-based results; ``reranking`` weighs calibration and popularity."""

    cold_start_ratings: int = 5
    reranking: Reranking = field(default_factory=Reranking)

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        """The policy the server runs with."""
        weights = Reranking(settings.rerank_calibration, settings.rerank_popularity)
        return cls(settings.cold_start_ratings, weights)


def segment_of(rating_count: int, cold_start_ratings: int) -> Segment:
    """The segment of a person with ``rating_count`` ratings."""
    if rating_count == 0:
        return Segment.NEW
    return Segment.COLD if rating_count < cold_start_ratings else Segment.WARM


def _no_movies() -> npt.NDArray[np.int64]:
    return np.empty(0, np.int64)


def _no_weights() -> npt.NDArray[np.float32]:
    return np.empty(0, np.float32)


@dataclass(frozen=True)
class RatedMovies:
    """What a person has told us: their ratings (internal movie ids and stars), the movies of
    their positive feedback with its summed weight (``MOVIEREC_FEEDBACK_WEIGHTS``), and the
    movies never to be in their lists (watched, liked, or not interested). ``stamp`` is the
    newest of their changes (an outbox event id, 0 for none) read before the rest, when asked
    for (``server.services.ratings.newest_changes``): a list computed from this carries it."""

    movies: npt.NDArray[np.int64]
    stars: npt.NDArray[np.float32]
    signal_movies: npt.NDArray[np.int64] = field(default_factory=_no_movies)
    signal_weights: npt.NDArray[np.float32] = field(default_factory=_no_weights)
    excluded: npt.NDArray[np.int64] = field(default_factory=_no_movies)
    stamp: int = 0

    def __len__(self) -> int:
        """How many ratings."""
        return len(self.movies)

    @cached_property
    def evidence(self) -> int:
        """How many movies the person said something positive or rated: their segment's
        count (a person with likes but no stars is not new). Asked several times for each
        list: counted once."""
        movies = self.movies
        if not len(self.signal_movies) and bool(np.all(movies[1:] > movies[:-1])):
            return len(movies)  # distinct already (stored ratings come sorted by movie)
        return len(np.union1d(movies, self.signal_movies))

    @property
    def seen(self) -> npt.NDArray[np.int64]:
        """Every movie kept out of their lists: rated, or in ``excluded``."""
        return np.union1d(self.movies, self.excluded)


NO_RATINGS = RatedMovies(np.empty(0, np.int64), np.empty(0, np.float32))


@dataclass(frozen=True)
class Served:
    """A model as it serves: the fitted model and its version number."""

    model: Recommender
    version: int


def is_personal(model: Recommender) -> bool:
    """Whether the model's lists depend on the person. A model that is not (popularity) serves
    people with no ratings too; a personal one has nothing to go on for them."""
    return bool(getattr(model, "personal", True))


def user_state(model: Recommender, user_id: int, rated: RatedMovies) -> UserState:
    """The person's state from their current ratings (fold-in), or as trained when the model
    cannot fold in."""
    if "fold_in" in model.capabilities:
        return model.fold_in(rated.movies, rated.stars, rated.signal_movies, rated.signal_weights)
    return model.user_state(user_id)


def ranked_list(
    served: Served,
    state: UserState,
    length: int,
    exclude_rated: bool = True,
    excluded: npt.NDArray[np.int64] | None = None,
) -> CachedList:
    """The model's top ``length`` for ``state``: rated movies excluded unless told, and
    ``excluded`` ones (watched, or not wanted) always."""
    ranked = served.model.recommend(state, length, exclude=excluded, exclude_rated=exclude_rated)
    return CachedList(
        served.version, served.model.name, ranked.movies.astype(np.int32), ranked.scores
    )


def blend(first: CachedList, second: CachedList, weight: float, length: int) -> CachedList:
    """Reciprocal-rank fusion: ``weight`` on ``first``, ``1 - weight`` on ``second``; the
    version is ``second``'s (the ranker's).

    Ranks, not scores, are fused: the two models score on unrelated scales.
    """
    fused: dict[int, float] = {}
    for entry, share in ((first, weight), (second, 1.0 - weight)):
        for rank, movie in enumerate(entry.movies.tolist()):
            fused[movie] = fused.get(movie, 0.0) + share / (RRF_K + rank)
    best = sorted(fused.items(), key=lambda pair: -pair[1])[:length]
    return CachedList(
        second.version,
        f"blend:{first.source}+{second.source}",
        np.array([movie for movie, _ in best], np.int32),
        np.array([score for _, score in best], np.float32),
    )


def served_list(
    ranker: Served,
    content: Served | None,
    traits: MovieTraits | None,
    user_id: int,
    rated: RatedMovies,
    length: int,
    policy: Policy,
    exclude_rated: bool = True,
    prefer_trained: bool = False,
) -> CachedList | None:
    """A person's top ``length`` from ``ranker`` and their current ratings; None when the ranker
    has nothing to go on (a personal model and no ratings, or an empty list): the caller's
    fallback answers.

    Ratings are folded in (with ``prefer_trained``, the trained state is used when the model saw
    as many ratings as they have: right after training, no fold-in is needed). Below the
    policy's ``cold_start_ratings`` the list is blended with ``content``'s: a few ratings say
    more about taste through metadata than through co-ratings. Then the re-ranking stage runs
    (``server.serving.rerank``, with ``traits``). Lists are built from the models' top ``POOL``
    whatever ``length``, so a measured top 10 is the top 10 of a cached list.
    """
    entry = _unranked(
        ranker, content, user_id, rated, max(length, POOL), policy, exclude_rated, prefer_trained
    )
    if entry is None or len(entry) == 0:
        return None  # none of their movies is known to the model
    if traits is not None and len(rated) > 0 and policy.reranking.active:
        entry = rerank(entry, rated.movies, traits, policy.reranking)
    return entry.head(length)


def _unranked(
    ranker: Served,
    content: Served | None,
    user_id: int,
    rated: RatedMovies,
    pool: int,
    policy: Policy,
    exclude_rated: bool,
    prefer_trained: bool,
) -> CachedList | None:
    """The model's list before re-ranking (blended when the person is cold)."""
    model = ranker.model
    excluded = rated.excluded
    if not is_personal(model):
        state = user_state(model, user_id, rated)
        return ranked_list(ranker, state, pool, exclude_rated, excluded)
    if rated.evidence == 0:
        return None
    if (
        prefer_trained
        and len(rated.signal_movies) == 0  # the trained state is the stars' alone
        and model.trained_rating_count(user_id) == len(rated)
    ):
        state = model.user_state(user_id)
    else:
        state = user_state(model, user_id, rated)
    entry = ranked_list(ranker, state, pool, exclude_rated, excluded)
    cold, count = policy.cold_start_ratings, rated.evidence
    # Content similarity reads stars: someone with feedback alone gets the ranker's list.
    if count < cold and len(rated) > 0 and content is not None and content.model.name != model.name:
        content_state = content.model.fold_in(rated.movies, rated.stars)
        by_content = ranked_list(content, content_state, pool, exclude_rated, excluded)
        entry = blend(by_content, entry, 1.0 - count / cold, pool)
    return entry
