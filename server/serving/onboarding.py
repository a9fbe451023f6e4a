"""Which movies a new person is asked to rate: those that tell the model the most.

The candidates are the most rated movies of the genres the person picked (known to many: most
people can answer). Among them, well-liked movies come first: a liked movie is what the rankers
learn a taste from (``ease`` counts only movies rated 3.5 stars or more), so an answer about one
tells them more than an answer about a famous disappointment. The first questions spread over
the picked genres; after that each question follows the answers: the next movie is the known one
most rated by the same people as the movies they liked, and least by those of the movies they
disliked (cosine of raters in the training ratings), so every answer sharpens what the model
knows of their taste instead of repeating what the most popular movies say of everyone::

    value = popularity + LIKING * (standardised liking) + FOLLOW * (closest liked - closest
            disliked) + COVER * (uncovered genre)

``LIKING`` was chosen with ``benchmarks.onboarding`` on ml-latest-small (0.2 and 0.5 gave the
same lead over popularity order, within a fold's spread) and checked on the Kaggle ratings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet

import numpy as np
import numpy.typing as npt

from server.serving.explain import Evidence

# The most rated this many movies (of the picked genres, when they have at least
# ``MIN_CANDIDATES``) are the candidates.
POOL = 300
MIN_CANDIDATES = 50
LIKING = 0.2
FOLLOW = 1.0
COVER = 0.3
LIKED = 4.0
DISLIKED = 2.5


class Questionnaire:
    """The candidates for one set of picked genres, and the next question to ask."""

    def __init__(self, evidence: Evidence, genres: Sequence[str]) -> None:
        traits = evidence.traits
        wanted = [traits.genres.index(name) for name in genres if name in traits.genres]
        eligible = evidence.counts > 0
        if wanted:
            in_genres = traits.shares[:, wanted].sum(axis=1) > 0
            if int(np.count_nonzero(eligible & in_genres)) >= MIN_CANDIDATES:
                eligible &= in_genres
        rows = np.flatnonzero(eligible)
        rows = rows[np.argsort(-evidence.counts[rows], kind="stable")[:POOL]]
        self.similarity = evidence.alike(rows, rows)
        self.movies: npt.NDArray[np.int64] = traits.ids[rows]
        liking = evidence.liking[rows]
        spread = float(liking.std()) or 1.0
        self.prior = traits.popularity[rows] + LIKING * (liking - liking.mean()) / spread
        self.covers = (
            traits.shares[rows][:, wanted] > 0 if wanted else np.zeros((len(rows), 0), bool)
        )
        self.index = {int(movie): i for i, movie in enumerate(self.movies.tolist())}

    def next(
        self,
        answers: Mapping[int, float],
        asked: set[int],
        withheld: AbstractSet[int] = frozenset(),
    ) -> int | None:
        """The next movie to ask about, given the ``answers`` so far (stars by movie) and every
        movie ``asked`` (answered or skipped), never one ``withheld`` (hidden, unavailable or
        deleted: ``server.serving.catalogue``); None when every candidate was asked."""
        value = self.prior.copy()
        liked = [
            self.index[m] for m, stars in answers.items() if m in self.index and stars >= LIKED
        ]
        disliked = [
            self.index[m] for m, stars in answers.items() if m in self.index and stars <= DISLIKED
        ]
        if liked:
            value += FOLLOW * self.similarity[:, liked].max(axis=1)
        if disliked:
            value -= FOLLOW * self.similarity[:, disliked].max(axis=1)
        if self.covers.shape[1]:
            shown = [self.index[m] for m in asked if m in self.index]
            covered = np.asarray(self.covers[shown].any(axis=0), bool)
            if covered.all():
                covered[:] = False  # every picked genre had one: spread over them again
            value += COVER * (self.covers & ~covered).any(axis=1)
        open_ = np.array(
            [movie not in asked and movie not in withheld for movie in self.movies.tolist()]
        )
        if not open_.any():
            return None
        value[~open_] = -np.inf
        return int(self.movies[int(np.argmax(value))])

    def round(
        self,
        answers: Mapping[int, float],
        asked: set[int],
        n: int,
        withheld: AbstractSet[int] = frozenset(),
    ) -> list[int]:
        """The next ``n`` questions shown at once (a page of them), given the answers so far,
        none of them ``withheld``."""
        chosen: list[int] = []
        for _ in range(n):
            movie = self.next(answers, asked | set(chosen), withheld)
            if movie is None:
                break
            chosen.append(movie)
        return chosen
