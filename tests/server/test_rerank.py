"""The re-ranking stage, on lists small enough to follow by hand."""

from __future__ import annotations

import numpy as np
import pytest

from server.cache.lists import CachedList
from server.config import Settings, SettingsError
from server.serving.rerank import (
    CALIBRATION_ALPHA,
    MovieTraits,
    Reranking,
    _greedy_places,
    rerank,
)

GENRES = {1: ("Drama",), 2: ("Drama",), 3: ("Drama",), 4: ("Comedy",), 5: ("Comedy", "Drama")}
COUNTS = {1: 100, 2: 50, 3: 9, 4: 3, 5: 0}


def traits() -> MovieTraits:
    return MovieTraits.build(list(COUNTS), list(COUNTS.values()), GENRES)


def test_movies_are_found_by_id_whether_the_ids_are_dense_or_sparse() -> None:
    counts = [3, 2, 1]
    for ids in ([2, 5, 7], [2, 5, 10**9]):  # by an array indexed by id, and by a search
        known = MovieTraits.build(ids, counts, {})
        wanted = [7 if ids[2] == 7 else 10**9, -3, 0, 2, 6, 5, 10**12]
        assert known.rows(wanted).tolist() == [2, -1, -1, 0, -1, 1, -1]
    assert MovieTraits.build([], [], {}).rows([1, 2]).tolist() == [-1, -1]


def listed(*movies: int) -> CachedList:
    scores = np.linspace(1.0, 0.5, len(movies)).astype(np.float32)
    return CachedList(3, "ease", np.array(movies, np.int32), scores, 7)


def test_traits_hold_genre_shares_and_log_scaled_popularity() -> None:
    known = traits()
    rows = known.rows([5, 1, 42])
    assert rows.tolist()[2] == -1  # not known here
    assert known.shares[rows[0]].tolist() == pytest.approx([0.5, 0.5])  # Comedy, Drama
    assert known.popularity[rows[1]] == pytest.approx(1.0)  # the most rated
    assert known.popularity[known.rows([3])[0]] == pytest.approx(np.log(10) / np.log(101))
    assert known.mix([1, 4]).tolist() == pytest.approx([0.5, 0.5])
    assert known.mix([42]).tolist() == [0.0, 0.0]


def test_calibration_brings_the_persons_genre_mix_into_the_top() -> None:
    entry = listed(1, 2, 3, 4)  # the model's order: three dramas, then a comedy
    plain = rerank(entry, [1, 4], traits(), Reranking(0.0, 0.0))
    assert plain is entry  # nothing to do
    # Half comedy, half drama: the comedy moves up to second place once calibration weighs.
    calibrated = rerank(entry, [2, 4], traits(), Reranking(0.5, 0.0))
    assert calibrated.movies.tolist() == [1, 4, 2, 3]
    assert calibrated.scores.tolist() == entry.scores[[0, 3, 1, 2]].tolist()  # the model's
    assert (calibrated.version, calibrated.source, calibrated.generation) == (3, "ease", 7)
    # Someone whose rated movies have no genres: calibration has nothing to aim at.
    assert rerank(entry, [42], traits(), Reranking(0.5, 0.0)).movies.tolist() == [1, 2, 3, 4]


def test_the_popularity_penalty_lets_less_rated_movies_up_and_depth_bounds_it() -> None:
    entry = listed(1, 2, 3, 4)
    penalised = rerank(entry, [5], traits(), Reranking(0.0, 1.0))
    # relevance 1/log2(rank + 2) minus popularity: 1.0-1.0, 0.63-0.85, 0.50-0.50, 0.43-0.30
    assert penalised.movies.tolist() == [4, 3, 1, 2]
    assert rerank(entry, [5], traits(), Reranking(0.0, 1.0), depth=1).movies.tolist() == [
        4,
        1,
        2,
        3,
    ]


def test_weights_out_of_range_are_refused() -> None:
    with pytest.raises(SettingsError, match="RERANK_CALIBRATION"):
        Settings.load({"rerank_calibration": 1.0})
    with pytest.raises(SettingsError, match="RERANK_POPULARITY"):
        Settings.load({"rerank_popularity": -0.1})


def _greedy_by_hand(
    base: np.ndarray, shares: np.ndarray, target: np.ndarray, calibration: float, places: int
) -> list[int]:
    """Each place: the open row of the best base value less calibration x KL(target || the
    smoothed mix the list would have with it), every genre's term summed anew."""
    chosen: list[int] = []
    held = np.zeros(shares.shape[1])
    for place in range(places):
        values = []
        for row in range(len(base)):
            mix = (held + shares[row]) / (place + 1)
            smoothed = (1 - CALIBRATION_ALPHA) * mix + CALIBRATION_ALPHA * target
            wanted = target > 0
            divergence = np.sum(target[wanted] * np.log2(target[wanted] / smoothed[wanted]))
            values.append(-np.inf if row in chosen else base[row] - calibration * divergence)
        chosen.append(int(np.argmax(values)))
        held += shares[chosen[-1]]
    return chosen


def test_the_greedy_places_are_the_objectives_best_one_after_another() -> None:
    rng = np.random.default_rng(7)
    for _ in range(40):
        rows, genres = int(rng.integers(2, 40)), int(rng.integers(1, 12))
        shares = np.zeros((rows, genres))
        for row in range(rows):
            own = rng.choice(genres, int(rng.integers(0, min(3, genres) + 1)), replace=False)
            shares[row, own] = 1.0 / max(len(own), 1)
        target = rng.dirichlet(np.ones(genres)) * (rng.random(genres) < 0.7)
        target = target / target.sum() if target.sum() > 0 else target
        base = 1.0 / np.log2(np.arange(rows) + 2.0) - 0.2 * rng.random(rows)
        places = min(10, rows)
        got = _greedy_places(base, shares, target, 0.6, places).tolist()
        assert got == _greedy_by_hand(base, shares, target, 0.6, places)
