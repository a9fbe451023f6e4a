"""Counting who rated both of two movies, which explanations rest on: the compiled count is the
sparse product's, and the table of the most rated movies' pairs changes no count."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from server.cache.lists import CachedList
from server.serving.explain import (
    Evidence,
    _best_in_rows,
    co_rated,
    co_rating_table,
    counted_through_people,
    explain_alike,
)


def ratings(people: int = 400, movies: int = 300, seed: int = 0) -> sp.csc_matrix:
    """Stars with a popular head: a few movies most people rated, a long tail."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, movies + 1) ** 0.8
    columns = [
        rng.choice(movies, 25, replace=False, p=weights / weights.sum()) for _ in range(people)
    ]
    rows = np.repeat(np.arange(people), 25)
    stars = rng.integers(1, 11, people * 25) / 2.0
    return sp.csc_matrix((stars, (rows, np.concatenate(columns))), shape=(people, movies))


def evidence(stars: sp.csc_matrix) -> Evidence:
    ids = np.arange(stars.shape[1], dtype=np.int64)
    return Evidence.build(ids, stars, {}, {}, trending=False)


def test_counts_of_raters_in_common_are_the_sparse_products() -> None:
    stars = ratings()
    raters = (stars > 0).astype(np.float64).tocsc()
    rng = np.random.default_rng(1)
    for wide, narrow in ((100, 50), (7, 130), (1, 1), (0, 3)):  # 130: more than one 64-bit pass
        first = rng.choice(300, wide, replace=False).astype(np.int64)
        second = rng.choice(300, narrow, replace=False).astype(np.int64)
        counted = co_rated(raters.indptr, raters.indices, raters.shape[0], first, second)
        assert np.array_equal(counted, (raters[:, first].T @ raters[:, second]).toarray())


def test_the_table_of_the_most_rated_changes_no_count_nor_cosine() -> None:
    plain = evidence(ratings())
    tabled = plain.tabled(size=40)  # a head of 40 movies, the rest counted as before
    assert tabled.table is not None and (tabled.table.place >= 0).sum() == 40
    most_rated = np.argsort(-plain.counts, kind="stable")[:40]
    assert set(np.flatnonzero(tabled.table.place >= 0)) == set(most_rated.tolist())
    rng = np.random.default_rng(2)
    for _ in range(20):
        first = rng.choice(300, 60, replace=False).astype(np.int64)
        second = rng.choice(300, 30, replace=False).astype(np.int64)
        assert np.array_equal(tabled.co_rated(first, second), plain.co_rated(first, second))
        assert np.array_equal(tabled.alike(first, second), plain.alike(first, second))
    head = most_rated[:10].astype(np.int64)  # pairs all in the table
    assert np.array_equal(tabled.co_rated(head, head), plain.co_rated(head, head))


def test_movies_rated_by_few_are_left_out_of_the_table_and_counted_as_before() -> None:
    plain = evidence(ratings())
    tabled = plain.tabled(size=300, min_raters=20)  # every movie, but the rarely rated
    assert tabled.table is not None
    assert set(np.flatnonzero(tabled.table.place >= 0)) == set(np.flatnonzero(plain.counts >= 20))
    assert 0 < (plain.counts < 20).sum() < 300  # the data has both kinds
    everything = np.arange(300, dtype=np.int64)
    assert np.array_equal(
        tabled.co_rated(everything, everything), plain.co_rated(everything, everything)
    )


def test_the_table_is_the_sparse_product_whatever_its_bands() -> None:
    raters = (ratings() > 0).astype(np.float64).tocsc()
    head = np.argsort(-np.diff(raters.indptr), kind="stable")[:70]
    profiles = sp.csr_matrix(raters[:, head])
    profiles.sort_indices()
    expected = (raters[:, head].T @ raters[:, head]).toarray()
    for band in (1, 7, 64, 70, 500):  # bands that split the rows unevenly, and one for all
        table = co_rating_table(profiles.indptr, profiles.indices, 70, band)
        assert table.dtype == np.float32 and np.array_equal(table, expected)


def test_the_most_alike_are_the_best_of_every_cosine_as_far_as_the_floor() -> None:
    plain = evidence(ratings(seed=3))
    rng = np.random.default_rng(4)
    for source in (plain, plain.tabled(size=40)):
        for keep, floor, wide, narrow in ((2, 0.1, 60, 30), (1, 0.3, 50, 20), (3, 0.0, 40, 2)):
            first = rng.choice(300, wide, replace=False).astype(np.int64)
            second = rng.choice(300, narrow, replace=False).astype(np.int64)
            every = plain.alike(first, second)
            expected = np.argsort(-every, axis=1, kind="stable")[:, :keep]
            cosines = np.take_along_axis(every, expected, axis=1)
            best, similarity = source.most_alike(first, second, keep, floor)
            reached = cosines >= floor
            assert np.array_equal(similarity >= floor, reached)
            assert np.array_equal(np.where(reached, best, -1), np.where(reached, expected, -1))
            assert np.allclose(np.where(reached, similarity, 0), np.where(reached, cosines, 0))


def test_a_similar_list_names_how_many_rated_both_with_or_without_the_table() -> None:
    stars = ratings(seed=5)
    raters = (stars > 0).astype(np.float64).tocsc()
    plain = evidence(stars)
    listed = np.array([0, 3, 150, 7, 299, 40], np.int32)  # head and tail movies alike
    for movie in (2, 250):  # one in the table's head, one far out of it
        expected = (raters[:, listed].T @ raters[:, [movie]]).toarray().ravel()
        entry = CachedList(
            1, "knn-item", listed, np.linspace(1, 0.5, len(listed), dtype=np.float32)
        )
        for source in (plain, plain.tabled(size=40), plain.tabled(size=40).profiled()):
            reasons = explain_alike(entry, movie, source).reasons
            assert reasons is not None
            assert reasons.refs[:, 0].tolist() == [movie] * len(listed)
            assert reasons.refs[:, 1].tolist() == expected.astype(int).tolist()


def test_counted_through_the_raters_own_movies_or_theirs_the_counts_are_the_same() -> None:
    stars = ratings(seed=6)
    raters = (stars > 0).astype(np.float64).tocsc()
    plain = evidence(stars)
    profiled = plain.tabled(size=40).profiled()
    rng = np.random.default_rng(7)
    for movie in [*range(0, 300, 7), 299]:  # head movies walk the others, tail ones people
        others = rng.choice(300, 30, replace=False).astype(np.int64)
        expected = (raters[:, others].T @ raters[:, [movie]]).toarray().ravel()
        assert np.array_equal(profiled.rated_both(movie, others), expected)
        assert np.array_equal(plain.rated_both(movie, others), expected)
        people = raters.indices[raters.indptr[movie] : raters.indptr[movie + 1]]
        profiles = raters.tocsr()
        through = counted_through_people(profiles.indptr, profiles.indices, people, others, 300)
        assert np.array_equal(through, expected)


def test_each_rows_best_places_are_a_stable_sorts_first() -> None:
    rng = np.random.default_rng(4)
    for shape, keep in (((30, 50), 2), ((5, 3), 2), ((4, 1), 2), ((3, 8), 8), ((0, 5), 2)):
        values = rng.integers(0, 4, shape).astype(np.float64)  # many ties
        values[values == 3] = -np.inf
        places, best = _best_in_rows(values, keep)
        expected = np.argsort(-values, axis=1, kind="stable")[:, :keep]
        assert np.array_equal(places, expected)
        assert np.array_equal(best, np.take_along_axis(values, expected, axis=1))
