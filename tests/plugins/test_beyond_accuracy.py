"""The beyond-accuracy metrics against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from plugins.evaluation.beyond_accuracy import (
    Popularity,
    calibration,
    genre_mix,
    head_share,
    intra_list_diversity,
    miscalibration,
    novelty,
    personalization,
    popularity_percentile,
    short_head,
)

# Four users; movie 10 rated by three, 20 by two, 30 by one.
POPULARITY = Popularity.of([1, 1, 2, 2, 3, 4], [10, 20, 10, 30, 10, 20])
GENRES = {10: ("Action", "Drama"), 20: ("Drama",), 30: ("Comedy",)}


def test_popularity_counts_users_per_movie() -> None:
    assert POPULARITY.counts == {10: 3, 20: 2, 30: 1} and POPULARITY.users == 4


def test_novelty_is_the_mean_self_information() -> None:
    assert novelty([[10, 30]], POPULARITY) == pytest.approx((-math.log2(3 / 4) + 2) / 2)
    assert novelty([[99]], POPULARITY) == pytest.approx(2.0)  # unrated: as if one user rated it


def test_popularity_percentile_and_the_short_head() -> None:
    assert popularity_percentile([[10, 30]], POPULARITY) == pytest.approx((1 + 1 / 3) / 2)
    assert short_head(POPULARITY) == {10}  # 3 of 6 ratings already pass 20 %
    assert head_share([[10, 30], [20, 10]], {10}) == pytest.approx(0.5)


def test_intra_list_diversity_by_genre_jaccard() -> None:
    # (10, 20): 1 - 1/2; (10, 30): 1; (20, 30): 1
    assert intra_list_diversity([[10, 20, 30]], GENRES) == pytest.approx(2.5 / 3)
    assert intra_list_diversity([[10]], GENRES) != intra_list_diversity([[10]], GENRES)  # NaN


def test_personalization_is_one_minus_the_mean_overlap() -> None:
    assert personalization([[1, 2], [1, 3], [4, 5]]) == pytest.approx(1 - (1 / 2) / 3)
    assert personalization([[1, 2], [1, 2]]) == pytest.approx(0.0)


def test_personalization_counts_every_pair_over_the_longer_list() -> None:
    # Lists of unequal lengths (an empty one too): the movie-by-movie count is the mean over
    # every pair of users of shared movies over the longer list's length.
    rng = np.random.default_rng(5)
    for _ in range(20):
        lists = [rng.choice(30, int(rng.integers(0, 9)), replace=False).tolist() for _ in range(25)]
        overlaps = [
            len(set(a) & set(b)) / max(len(a), len(b), 1)
            for i, a in enumerate(lists)
            for j, b in enumerate(lists)
            if i != j
        ]
        assert personalization(lists) == pytest.approx(1 - np.mean(overlaps), abs=1e-12)


def test_calibration_is_steck_s_smoothed_kl_divergence() -> None:
    assert genre_mix([10, 20], GENRES) == pytest.approx({"Action": 0.25, "Drama": 0.75})
    rated = {"Action": 0.5, "Drama": 0.5}
    expected = 0.5 * math.log2(0.5 / 0.995) + 0.5 * math.log2(0.5 / 0.005)
    assert miscalibration(rated, {"Action": 1.0}) == pytest.approx(expected)
    assert miscalibration(rated, rated) == pytest.approx(0.0)
    lists = {1: [10], 2: [30]}
    mixes = {1: {"Action": 0.5, "Drama": 0.5}, 2: {}}  # user 2 rated nothing with a genre
    assert calibration(lists, mixes, GENRES) == pytest.approx(0.0)
