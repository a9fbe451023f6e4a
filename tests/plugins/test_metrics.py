"""Metrics against values computed by hand, and the splits' guarantees."""

from __future__ import annotations

import math

import numpy as np
import pytest

from plugins.evaluation.metrics import rating_errors, summarize_top_n, user_top_n
from plugins.evaluation.splits import (
    RatingTable,
    kfold,
    person_time_order,
    time_split,
    user_holdout,
)


def test_rating_errors_by_hand() -> None:
    errors = rating_errors([3.0, 4.0, 5.0], [2.5, 4.0, 5.5])
    assert errors.mse == pytest.approx(0.5 / 3)
    assert errors.rmse == pytest.approx(math.sqrt(0.5 / 3))
    assert errors.mae == pytest.approx(1 / 3)


def test_top_n_by_hand() -> None:
    # hits at ranks 2 and 5 of 5; three relevant movies
    result = user_top_n([1, 2, 3, 4, 5], {2, 5, 9}, k=5)
    assert result.precision == pytest.approx(2 / 5)
    assert result.recall == pytest.approx(2 / 3)
    dcg = 1 / math.log2(3) + 1 / math.log2(6)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert result.ndcg == pytest.approx(dcg / ideal)
    assert result.average_precision == pytest.approx((1 / 2 + 2 / 5) / 3)
    assert result.hit == 1.0


def test_top_n_ideal_dcg_is_capped_at_k() -> None:
    perfect = user_top_n([7, 8], {7, 8, 9, 10}, k=2)
    assert perfect.ndcg == pytest.approx(1.0)
    assert perfect.average_precision == pytest.approx(1.0)
    assert perfect.recall == pytest.approx(0.5)


def test_short_list_and_no_hit() -> None:
    result = user_top_n([4], {1}, k=10)
    assert (result.precision, result.recall, result.ndcg, result.hit) == (0, 0, 0, 0)


def test_summary_means_and_coverage() -> None:
    users = [user_top_n([1, 2], {1}, 2), user_top_n([3, 4], {9}, 2)]
    summary = summarize_top_n(users, {1, 2, 3, 4}, catalogue_size=10)
    assert summary.hit_rate == 0.5
    assert summary.precision == pytest.approx(0.25)
    assert summary.coverage == pytest.approx(0.4)
    assert summary.users == 2


def _table(n: int = 200) -> RatingTable:
    rng = np.random.default_rng(3)
    return RatingTable(
        rng.integers(1, 20, n),
        rng.integers(1, 50, n),
        rng.integers(1, 11, n).astype(np.float32) / 2,
        np.arange(n, dtype=np.int64),
    )


def test_kfold_tests_every_rating_exactly_once() -> None:
    table = _table()
    folds = list(kfold(table, 5, seed=1))
    tested = np.concatenate([fold.test.timestamps for fold in folds])
    assert sorted(tested.tolist()) == list(range(len(table)))
    assert all(len(f.train) + len(f.test) == len(table) for f in folds)
    again = list(kfold(table, 5, seed=1))
    assert np.array_equal(again[0].test.timestamps, folds[0].test.timestamps)


def test_user_holdout_keeps_each_user_in_training() -> None:
    fold = next(user_holdout(_table(), 0.3, seed=0))
    assert set(fold.test.users.tolist()) <= set(fold.train.users.tolist())


def test_time_split_tests_the_newest() -> None:
    fold = next(time_split(_table(), 0.25))
    assert fold.test.timestamps.min() > fold.train.timestamps.max()
    assert len(fold.test) == 50


@pytest.mark.parametrize("span", [1_000, 2**40, 2**61])
def test_the_person_time_order_is_the_three_key_sort(span: int) -> None:
    # Ties of person and time (ordered by movie) are common in MovieLens; a span of times too
    # wide to pack beside the person takes the three-key sort itself.
    rng = np.random.default_rng(span % 97)
    users = rng.integers(0, 50, 5_000)
    times = rng.integers(0, 200, 5_000) * (span // 200) - span // 2  # 200 distinct times
    movies = rng.permutation(5_000).astype(np.int64)
    expected = np.lexsort((movies, times, users))
    assert np.array_equal(person_time_order(users, times, movies), expected)
