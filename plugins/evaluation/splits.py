"""A table of ratings and the ways to split it into train and test."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from plugins.data import MovieInfo, Ratings

SplitKind = Literal["kfold", "user-holdout", "time", "timeline"]
Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class RatingTable:
    """Ratings as parallel columns (external ids are integers) plus movie metadata."""

    users: npt.NDArray[np.int64]
    movies: npt.NDArray[np.int64]
    stars: npt.NDArray[np.float32]
    timestamps: npt.NDArray[np.int64]
    movie_info: Mapping[int, MovieInfo] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.users)

    def take(self, mask: Mask) -> RatingTable:
        """The rows where ``mask`` is true (same metadata)."""
        return RatingTable(
            self.users[mask],
            self.movies[mask],
            self.stars[mask],
            self.timestamps[mask],
            self.movie_info,
        )

    def concat(self, other: RatingTable) -> RatingTable:
        """These rows followed by ``other``'s; metadata from both (ours wins)."""
        return RatingTable(
            np.concatenate([self.users, other.users]),
            np.concatenate([self.movies, other.movies]),
            np.concatenate([self.stars, other.stars]),
            np.concatenate([self.timestamps, other.timestamps]),
            {**other.movie_info, **self.movie_info},
        )

    def catalogue(self) -> npt.NDArray[np.int64]:
        """Every movie: the rated ones and those only known by their metadata."""
        known = np.fromiter(self.movie_info, np.int64, len(self.movie_info))
        return np.unique(np.concatenate([self.movies, known]))

    def to_ratings(self, catalogue: npt.NDArray[np.int64] | None = None) -> Ratings:
        """Training data; ``catalogue`` adds movies without ratings in these rows."""
        info = dict(self.movie_info)
        for movie in [] if catalogue is None else catalogue.tolist():
            info.setdefault(movie, MovieInfo())
        return Ratings(self.users, self.movies, self.stars, self.timestamps, info)


@dataclass(frozen=True)
class Fold:
    """One train/test split; ``number`` counts from 1."""

    number: int
    train: RatingTable
    test: RatingTable


def kfold(table: RatingTable, folds: int, seed: int) -> Iterator[Fold]:
    """Shuffle the ratings with ``seed`` and cut them into ``folds`` equal parts."""
    if folds < 2:
        raise ValueError("k-fold needs at least 2 folds")
    order = np.random.default_rng(seed).permutation(len(table))
    for number, part in enumerate(np.array_split(order, folds), start=1):
        test = np.zeros(len(table), bool)
        test[part] = True
        yield Fold(number, table.take(~test), table.take(test))


def user_holdout(table: RatingTable, fraction: float, seed: int, folds: int = 1) -> Iterator[Fold]:
    """Per user, a random ``fraction`` of their ratings (at least one, never all) is the test
    set; repeated ``folds`` times with different seeds."""
    for number in range(1, folds + 1):
        rng = np.random.default_rng(seed + number - 1)
        noise = rng.random(len(table))
        order = np.lexsort((noise, table.users))
        users = table.users[order]
        starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
        sizes = np.diff(np.r_[starts, len(users)])
        held = np.where(sizes > 1, np.maximum(1, np.floor(sizes * fraction)), 0).astype(int)
        rank = np.arange(len(users)) - np.repeat(starts, sizes)
        test = np.zeros(len(table), bool)
        test[order] = rank < np.repeat(held, sizes)
        yield Fold(number, table.take(~test), table.take(test))


def time_split(table: RatingTable, fraction: float) -> Iterator[Fold]:
    """The newest ``fraction`` of the ratings (by timestamp) is the test set."""
    order = np.argsort(table.timestamps, kind="stable")
    cut = round(len(table) * (1.0 - fraction))
    test = np.zeros(len(table), bool)
    test[order[cut:]] = True
    yield Fold(1, table.take(~test), table.take(test))


def timeline_split(table: RatingTable, fraction: float, cold_start: int = 5) -> Iterator[Fold]:
    """Each person's future, as a server meets it. The newest ``fraction`` of people (by their
    first rating) are newcomers: every other one is new (all their ratings are test), the rest
    are cold (their first 1 … ``cold_start - 1`` ratings are known, the rest test). Everyone
    else keeps their oldest ratings and is tested on their newest ``fraction`` (at least one,
    never all)."""
    order = person_time_order(table.users, table.timestamps, table.movies)
    users = table.users[order]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    sizes = np.diff(np.r_[starts, len(users)])
    rank = np.arange(len(users)) - np.repeat(starts, sizes)  # 0 = the person's first rating
    first_seen = table.timestamps[order][starts]
    newcomers = np.argsort(-first_seen, kind="stable")[: round(len(starts) * fraction)]
    kept = np.minimum(np.ceil(sizes * (1.0 - fraction)), sizes - 1)  # oldest ratings kept
    known = np.where(sizes > 1, kept, 1).astype(int)
    cold = np.arange(len(newcomers)) % 2 == 1
    known[newcomers[~cold]] = 0
    known[newcomers[cold]] = np.minimum(
        1 + np.arange(cold.sum()) % max(1, cold_start - 1), sizes[newcomers[cold]] - 1
    )
    test = np.zeros(len(table), bool)
    test[order] = rank >= np.repeat(known, sizes)
    yield Fold(1, table.take(~test), table.take(test))


def person_time_order(
    users: npt.NDArray[np.int64], times: npt.NDArray[np.int64], movies: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """``np.lexsort((movies, times, users))``: by person, then time, then movie. One sort of
    a person-and-time key packed into 64 bits when it fits, the few rows that share both
    ordered by movie after it (the three-key sort took 10 s of a 25M-rating holdout, this 1)."""
    if not len(users):
        return np.empty(0, np.int64)
    since = times - times.min()
    shift = int(since.max()).bit_length()
    if shift > 62 or int(users.max() - users.min()) >= 1 << (62 - shift):
        return np.lexsort((movies, times, users))
    key = ((users - users.min()) << np.int64(shift)) | since
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    same = ordered[1:] == ordered[:-1]
    tied = np.flatnonzero(np.r_[same, False] | np.r_[False, same])
    if len(tied):  # runs of one key: in key order either way, so sorted in their places
        rows = order[tied]
        order[tied] = rows[np.lexsort((movies[rows], key[rows]))]
    return order


def sample_test_people(fold: Fold, most: int, seed: int = 0) -> Fold:
    """``fold`` with its test part cut to a random ``most`` of its people (all their test
    ratings kept), the training part untouched: scoring grows with the people scored, so a
    big catalogue's holdout is bounded while the model still learns from everyone."""
    people = np.unique(fold.test.users)
    if len(people) <= most:
        return fold
    chosen = np.random.default_rng(seed).choice(people, size=most, replace=False)
    return Fold(fold.number, fold.train, fold.test.take(np.isin(fold.test.users, chosen)))


def make_folds(
    table: RatingTable, kind: SplitKind, folds: int, seed: int, fraction: float = 0.2
) -> Iterator[Fold]:
    """The folds of one split kind."""
    if kind == "kfold":
        return kfold(table, folds, seed)
    if kind == "user-holdout":
        return user_holdout(table, fraction, seed, folds)
    if kind == "timeline":
        return timeline_split(table, fraction)
    return time_split(table, fraction)
