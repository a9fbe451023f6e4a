"""Behaviour of individual algorithms beyond the conformance suite, and regressions."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from plugins.algorithms.implicit_mf import confidence
from plugins.algorithms.neighbours import neighbour_lists
from plugins.base import top_n
from plugins.data import MovieInfo, Ratings
from plugins.registry import discover
from plugins.testing import structured_ratings


def test_confidence_weights_leave_the_training_matrix_untouched() -> None:
    # Regression: dropping low ratings once edited the shared CSR arrays in place, corrupting
    # the data every later algorithm of the same run saw.
    train, _ = structured_ratings()
    before = (train.matrix.indptr.copy(), train.matrix.indices.copy(), train.matrix.data.copy())
    weights = confidence(train, "binary", min_stars=3.5)
    assert weights.nnz == int((train.matrix.data >= 3.5).sum())
    for original, now in zip(
        before, (train.matrix.indptr, train.matrix.indices, train.matrix.data), strict=True
    ):
        np.testing.assert_array_equal(original, now)


def test_duplicate_ratings_keep_the_last_one() -> None:
    ratings = Ratings([1, 1, 2], [10, 10, 10], [1.0, 4.5, 3.0])
    assert ratings.n_ratings == 2
    assert ratings.matrix[0, 0] == 4.5


def test_knn_item_prediction_is_the_weighted_neighbour_mean() -> None:
    # two users, three movies; item-based, plain ratings, no shrinkage: user 1's prediction for
    # movie 3 is the similarity-weighted mean of their ratings of movies 1 and 2
    ratings = Ratings([1, 1, 2, 2, 2, 3, 3], [1, 2, 1, 2, 3, 1, 3], [5, 3, 4, 2, 4, 2, 1])
    model = discover({"knn-item"}).create(
        "knn-item", {"similarity": "cosine", "variant": "basic", "shrinkage": 0, "k": 2}
    )
    model.fit(ratings)
    # cosine over common raters: movie 3 vs 1 -> users 2, 3: (4*4 + 1*2) / (|4,1| * |4,2|)
    sim_31 = (4 * 4 + 1 * 2) / (np.hypot(4, 1) * np.hypot(4, 2))
    sim_32 = 1.0  # only user 2 rated both: (4*2) / (4 * 2)
    expected = (sim_31 * 5 + sim_32 * 3) / (sim_31 + sim_32)
    assert model.predict(1, [3])[0] == np.float32(expected)


def _similarity_by_hand(x: np.ndarray, y: np.ndarray, kind: str, shrink: float) -> float:
    """One pair's similarity over its common raters, from the textbook formulas."""
    n = len(x)
    if kind == "msd":
        return float(1 / (1 + np.mean((x - y) ** 2)))
    if kind == "pearson":
        x, y = x - x.mean(), y - y.mean()
    den = np.sqrt((x @ x) * (y @ y))
    value = float(x @ y / den) if den > 0 else 0.0
    return value * (n - 1) / (n - 1 + shrink)


@pytest.mark.parametrize("kind", ["cosine", "pearson", "msd"])
def test_neighbour_lists_are_the_best_similarities_of_every_pair(kind: str) -> None:
    # 30 people rate 12 movies at random; each movie's list must be its `width` most similar
    # movies of a positive similarity, best first, as computed pair by pair.
    rng = np.random.default_rng(3)
    dense = np.where(rng.random((30, 12)) < 0.5, rng.uniform(0.5, 5, (30, 12)), 0.0)
    matrix = sp.csr_matrix(dense)
    width, shrink = 4, 5.0
    lists = neighbour_lists(matrix.tocsc(), matrix, kind, shrink, 2, width)
    for a in range(12):
        expected = {}
        for b in range(12):
            common = (dense[:, a] > 0) & (dense[:, b] > 0)
            if b != a and common.sum() >= 2:
                value = _similarity_by_hand(dense[common, a], dense[common, b], kind, shrink)
                if value > 0:
                    expected[b] = value
        best = sorted(expected, key=lambda b: -expected[b])[:width]
        row = lists[a]
        assert row.indices.tolist() == best
        np.testing.assert_allclose(row.data, [expected[b] for b in best], rtol=1e-5)


def test_neighbour_lists_cut_ties_at_the_width_in_the_order_first_seen() -> None:
    # Everyone gives every movie the same stars: every pair's cosine is 1, so each list holds
    # the first `width` other movies, in column order.
    matrix = sp.csr_matrix(np.full((5, 9), 3.0))
    lists = neighbour_lists(matrix.tocsc(), matrix, "cosine", 0.0, 1, 3)
    assert lists[0].indices.tolist() == [1, 2, 3]
    assert lists[4].indices.tolist() == [0, 1, 2]
    np.testing.assert_allclose(lists.data, 1.0, rtol=1e-6)


@pytest.mark.parametrize("name", ["knn-item", "knn-user"])
def test_knn_similarities_count_only_the_newest_ratings_within_max_profile(name: str) -> None:
    """knn-item counts each person's newest ``max_profile`` ratings, knn-user each movie's
    newest raters: the same neighbours as the data cut to those ratings beforehand."""
    train, _ = structured_ratings()
    users, movies, stars = train.coo
    times = train.times.data
    owner = users if name == "knn-item" else movies
    order = np.lexsort((-times, owner))  # each owner's ratings, newest first
    place = np.arange(len(order)) - np.searchsorted(owner[order], owner[order])
    kept = np.zeros(len(order), bool)
    kept[order[place < 8]] = True
    assert 0 < kept.sum() < len(kept)
    cut = Ratings(
        train.user_ids[users[kept]],
        train.movie_ids[movies[kept]],
        stars[kept],
        times[kept],
        train.movie_info,
    )
    cosine = {"similarity": "cosine", "variant": "basic"}
    capped = pairs(discover().create(name, cosine | {"max_profile": 8}).fit(train))
    assert capped and capped == pairs(discover().create(name, cosine).fit(cut))
    assert capped != pairs(discover().create(name, cosine).fit(train))


def pairs(model: object) -> dict[tuple[int, int], float]:
    """A k-NN model's neighbour lists by external ids: (entity, neighbour) -> similarity."""
    data = model.data  # type: ignore[attr-defined]
    ids = data.user_ids if model.user_based else data.movie_ids  # type: ignore[attr-defined]
    lists = model.neighbours.tocoo()  # type: ignore[attr-defined]
    return {
        (int(ids[row]), int(ids[col])): float(sim)
        for row, col, sim in zip(lists.row, lists.col, lists.data, strict=True)
    }


def test_popularity_weighted_rating_by_hand() -> None:
    # movie 1: five 4-star votes; movie 2: one 5-star vote; m = 3 votes, C = overall mean
    ratings = Ratings([1, 2, 3, 4, 5, 6], [1, 1, 1, 1, 1, 2], [4, 4, 4, 4, 4, 5])
    model = discover({"popularity"}).create("popularity", {"min_votes": 3}).fit(ratings)
    overall = 25 / 6
    expected = [(5 * 4 + 3 * overall) / 8, (1 * 5 + 3 * overall) / 4]
    np.testing.assert_allclose(model.score(1, [1, 2]), expected, rtol=1e-6)
    assert model.recommend(99, 2).movies.tolist() == [2, 1]  # 4.375 > 4.0625


def test_gbm_learns_a_persons_taste_for_genres() -> None:
    # Half the people love genre A and dislike B, half the reverse: every movie's mean is the
    # same, so only the person's taste for the movie's genres tells their stars apart. Person 0
    # loves A; of movies they did not rate, an A movie must be predicted well above a B movie.
    pytest.importorskip("xgboost")
    rng = np.random.default_rng(0)
    info = {m: MovieInfo(title=f"m{m}", genres=("A",) if m < 20 else ("B",)) for m in range(40)}
    users, movies, stars = [], [], []
    for user in range(80):
        likes_a = user % 2 == 0
        for movie in rng.choice(40, 12, replace=False).tolist():
            if user == 0 and movie in (5, 25):
                continue  # held out: predicted below
            loved = (movie < 20) == likes_a
            users.append(user)
            movies.append(movie)
            stars.append(float(np.clip((4.5 if loved else 1.5) + rng.normal(0, 0.3), 0.5, 5)))
    ratings = Ratings(users, movies, stars, movie_info=info)
    model = discover({"gbm", "baseline"}).create("gbm", {"components": "baseline", "trees": 100})
    model.fit(ratings)
    liked, disliked = model.predict(0, [5, 25])
    assert liked - disliked > 1.5


def test_ease_keeps_its_weights_row_major_and_scores_as_the_matrix_product() -> None:
    # A person's scores add up rows of the weights; the inverse comes back column-major, which
    # made each row a strided walk (the 25M holdout spent 60 s there).
    train, _ = structured_ratings()
    model = discover({"ease"}).create("ease", {"max_items": 50}).fit(train)
    weights = model.weights  # type: ignore[attr-defined]
    assert weights.flags.c_contiguous
    user = int(train.user_ids[0])
    row = train.matrix[0]
    liked = row.indices[row.data >= 3.5]
    slots = model.slot[liked]  # type: ignore[attr-defined]
    expected = weights[slots[slots < len(weights)]].sum(axis=0)
    scores = model.score(user, train.movie_ids)
    modelled = model.slot < len(weights)  # type: ignore[attr-defined]
    np.testing.assert_allclose(
        scores[modelled], expected[model.slot[modelled]], rtol=1e-5, atol=1e-6
    )  # type: ignore[attr-defined]
    assert np.isnan(scores[~modelled]).all() and (~modelled).any()


def test_ratings_index_ids_of_any_span_alike() -> None:
    # Narrow spans of ids are marked in an array, wide ones sorted: the same matrix either way.
    users, movies, stars = [5, 3, 5, 9], [20, 10, 10, 40], [4.0, 3.0, 2.5, 5.0]
    narrow = Ratings(users, movies, stars, movie_info={30: MovieInfo(title="unrated")})
    wide = Ratings(
        [u * 10**12 for u in users],
        [m * 10**12 for m in movies],
        stars,
        movie_info={30 * 10**12: MovieInfo(title="unrated")},
    )
    assert narrow.user_ids.tolist() == [3, 5, 9] and narrow.movie_ids.tolist() == [10, 20, 30, 40]
    np.testing.assert_array_equal(wide.user_ids, narrow.user_ids * 10**12)
    np.testing.assert_array_equal(wide.movie_ids, narrow.movie_ids * 10**12)
    assert (narrow.matrix != wide.matrix).nnz == 0
    assert narrow.matrix[1, 0] == 2.5 and narrow.matrix[1, 1] == 4.0


@pytest.mark.parametrize("n", [1, 5, 40, 400])
def test_a_top_list_is_the_best_finite_unblocked_scores_ties_to_the_lower_place(n: int) -> None:
    rng = np.random.default_rng(n)
    for _ in range(20):
        values = rng.integers(0, 12, 300).astype(np.float32)  # many ties, at the cut too
        values[rng.random(300) < 0.3] = np.nan
        values[rng.random(300) < 0.05] = -np.inf
        values[rng.random(300) < 0.05] = np.inf  # not a score either
        blocked = rng.integers(-5, 310, 40)  # out-of-range places are ignored
        ids = np.arange(300) * 7 + 3
        ranked = top_n(values, n, ids, blocked)
        allowed = np.isfinite(values)
        allowed[blocked[(blocked >= 0) & (blocked < 300)]] = False
        places = np.flatnonzero(allowed)
        expected = sorted(places.tolist(), key=lambda place: (-values[place], place))[:n]
        assert ranked.movies.tolist() == ids[expected].tolist()
        np.testing.assert_array_equal(ranked.scores, values[expected])
    assert len(top_n(np.full(5, np.nan, np.float32), 3, np.arange(5)).movies) == 0
    assert len(top_n(np.ones(5, np.float32), 0, np.arange(5)).movies) == 0
