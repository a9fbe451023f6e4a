"""What a set of top-N lists is like beyond accuracy: how novel, how popular, how diverse, how
personal and how well calibrated to each person's taste. Pure functions of the lists, the
training ratings' popularity and the movies' genres.

- novelty: mean self-information of a recommended movie, -log2 of the share of training users
  who rated it (Zhou et al., 2010);
- popularity: the mean popularity percentile of recommended movies (1.0: the most rated) and the
  head share, the share of recommendations from the short head: the most rated movies that
  together hold 20 % of the training ratings (Abdollahpouri et al., 2019);
- intra-list diversity: the mean, over lists, of the mean genre distance (1 - Jaccard) between
  the pairs of a list;
- personalization: 1 - the mean overlap (shared movies / list length) of two users' lists;
- calibration: the mean KL divergence between the genre mix of a user's training ratings and
  that of their list, with the list's mix smoothed by alpha = 0.01 (Steck, "Calibrated
  Recommendations", RecSys 2018); 0 is perfectly calibrated.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import numpy.typing as npt

HEAD_SHARE_OF_RATINGS = 0.2
CALIBRATION_ALPHA = 0.01

Genres = Mapping[int, tuple[str, ...]]


@dataclass(frozen=True)
class Popularity:
    """How many training users rated each movie."""

    counts: Mapping[int, int]
    users: int

    @classmethod
    def of(cls, users: npt.ArrayLike, movies: npt.ArrayLike) -> Popularity:
        """From the training ratings' columns."""
        user_col, movie_col = np.asarray(users), np.asarray(movies)
        found, counts = np.unique(movie_col, return_counts=True)
        return cls(
            dict(zip(found.tolist(), counts.tolist(), strict=True)), len(np.unique(user_col))
        )


def novelty(lists: Sequence[Sequence[int]], popularity: Popularity) -> float:
    """Mean -log2(share of users who rated the movie) over every recommendation; a movie nobody
    rated counts as rated by one user."""
    values = [
        -np.log2(max(popularity.counts.get(movie, 0), 1) / popularity.users)
        for ranked in lists
        for movie in ranked
    ]
    return float(np.mean(values)) if values else float("nan")


def popularity_percentile(lists: Sequence[Sequence[int]], popularity: Popularity) -> float:
    """Mean share of rated movies at most as popular as each recommendation (1.0: the most
    rated movie); a movie nobody rated is at 0."""
    counts = np.sort(np.fromiter(popularity.counts.values(), np.int64, len(popularity.counts)))
    if not len(counts):
        return float("nan")
    values = [
        np.searchsorted(counts, popularity.counts.get(movie, 0), side="right") / len(counts)
        for ranked in lists
        for movie in ranked
    ]
    return float(np.mean(values)) if values else float("nan")


def short_head(popularity: Popularity, share: float = HEAD_SHARE_OF_RATINGS) -> set[int]:
    """The most rated movies that together hold ``share`` of the ratings (at least one)."""
    ranked = sorted(popularity.counts.items(), key=lambda item: (-item[1], item[0]))
    total, held = sum(popularity.counts.values()), 0
    head: set[int] = set()
    for movie, count in ranked:
        if head and held >= share * total:
            break
        head.add(movie)
        held += count
    return head


def head_share(lists: Sequence[Sequence[int]], head: set[int]) -> float:
    """The share of recommendations that are in the short head."""
    movies = [movie for ranked in lists for movie in ranked]
    return sum(movie in head for movie in movies) / len(movies) if movies else float("nan")


def intra_list_diversity(lists: Sequence[Sequence[int]], genres: Genres) -> float:
    """Mean over lists (of two or more) of the mean 1 - Jaccard(genres) of their pairs."""
    per_list = []
    for ranked in lists:
        pairs = list(combinations(ranked, 2))
        if pairs:
            per_list.append(np.mean([_genre_distance(a, b, genres) for a, b in pairs]))
    return float(np.mean(per_list)) if per_list else float("nan")


def _genre_distance(a: int, b: int, genres: Genres) -> float:
    first, second = set(genres.get(a, ())), set(genres.get(b, ()))
    union = first | second
    return 1.0 - len(first & second) / len(union) if union else 0.0


def personalization(lists: Sequence[Sequence[int]]) -> float:
    """1 - the mean overlap of two users' lists (shared movies over the longer list's length),
    over every pair of users.

    Counted movie by movie, not pair by pair: a movie on c lists is shared by each pair of
    them, and a pair counts it as 1 over the longer one's length, so with those lists ordered
    by length each one adds its place in that order over its own length (10,000 lists: a sort
    of their entries, where the pairs' sparse products took 1.5 s)."""
    if len(lists) < 2:
        return float("nan")
    lengths = np.array([len(ranked) for ranked in lists], np.int64)
    movies = np.fromiter((movie for ranked in lists for movie in ranked), np.int64, lengths.sum())
    entry_lengths = np.repeat(lengths, lengths).astype(np.float64)
    order = np.lexsort((entry_lengths, movies))
    movies, entry_lengths = movies[order], entry_lengths[order]
    starts = np.flatnonzero(np.r_[True, movies[1:] != movies[:-1]])
    place = np.arange(len(movies)) - np.repeat(starts, np.diff(np.r_[starts, len(movies)]))
    overlap = 2.0 * float((place / entry_lengths).sum())  # each pair both ways round
    pairs = len(lists) * (len(lists) - 1)
    return float(1.0 - overlap / pairs)


def genre_mix(movies: Sequence[int], genres: Genres) -> dict[str, float]:
    """The genre distribution of ``movies``: each movie shared equally by its genres, normalised
    to sum to 1 (empty when no movie has a genre)."""
    mix: dict[str, float] = defaultdict(float)
    for movie in movies:
        names = genres.get(movie, ())
        for name in names:
            mix[name] += 1.0 / len(names)
    total = sum(mix.values())
    return {name: value / total for name, value in mix.items()} if total else {}


def miscalibration(
    rated: Mapping[str, float], recommended: Mapping[str, float], alpha: float = CALIBRATION_ALPHA
) -> float:
    """KL(p || (1 - alpha) q + alpha p) of the rated mix p against the list's mix q."""
    return float(
        sum(
            share * np.log2(share / ((1 - alpha) * recommended.get(name, 0.0) + alpha * share))
            for name, share in rated.items()
            if share > 0
        )
    )


def calibration(
    lists: Mapping[int, Sequence[int]],
    rated_mixes: Mapping[int, Mapping[str, float]],
    genres: Genres,
) -> float:
    """Mean miscalibration over the users with a rated genre mix."""
    values = [
        miscalibration(rated_mixes[user], genre_mix(ranked, genres))
        for user, ranked in lists.items()
        if rated_mixes.get(user)
    ]
    return float(np.mean(values)) if values else float("nan")
