"""The synthetic generator: exact sizes, realistic shape, determinism, learnable structure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from server.datasets import Problems, open_dataset
from server.datasets.synthetic import SyntheticSpec, generate, write_dataset

SPEC = SyntheticSpec(users=300, movies=800, ratings=30_000, seed=3)


def test_sizes_and_distinct_pairs() -> None:
    data = generate(SPEC)
    assert len(data.user) == SPEC.ratings
    keys = data.user * SPEC.movies + data.movie
    assert len(np.unique(keys)) == SPEC.ratings
    per_user = np.bincount(data.user, minlength=SPEC.users)
    assert per_user.min() >= 20  # like MovieLens, every user has at least 20 ratings
    assert data.half_stars.min() >= 1 and data.half_stars.max() <= 10


def test_long_tails() -> None:
    data = generate(SPEC)
    per_movie = np.sort(np.bincount(data.movie, minlength=SPEC.movies))[::-1]
    top_share = per_movie[: SPEC.movies // 10].sum() / SPEC.ratings
    assert top_share > 0.3  # the 10% most popular movies get a large share of the ratings
    per_user = np.bincount(data.user)
    assert per_user.max() > 5 * np.median(per_user)


def test_same_seed_same_data_other_seed_other_data() -> None:
    first, again = generate(SPEC), generate(SPEC)
    assert np.array_equal(first.user, again.user) and np.array_equal(
        first.half_stars, again.half_stars
    )
    other = generate(SyntheticSpec(users=300, movies=800, ratings=30_000, seed=4))
    assert not np.array_equal(first.movie, other.movie)


def test_ratings_have_learnable_structure() -> None:
    """Biases fitted on 80% predict the other 20% clearly better than the global mean."""
    data = generate(SPEC)
    rng = np.random.default_rng(0)
    test = rng.random(len(data.user)) < 0.2
    stars = data.half_stars / 2
    mean = stars[~test].mean()
    movie_sum = np.bincount(data.movie[~test], stars[~test] - mean, SPEC.movies)
    movie_bias = movie_sum / (np.bincount(data.movie[~test], minlength=SPEC.movies) + 10)
    residual = stars[~test] - mean - movie_bias[data.movie[~test]]
    user_bias = np.bincount(data.user[~test], residual, SPEC.users) / (
        np.bincount(data.user[~test], minlength=SPEC.users) + 10
    )
    predicted = mean + movie_bias[data.movie[test]] + user_bias[data.user[test]]
    rmse_biases = np.sqrt(np.mean((predicted - stars[test]) ** 2))
    rmse_mean = np.sqrt(np.mean((mean - stars[test]) ** 2))
    assert rmse_biases < 0.9 * rmse_mean


def test_written_files_import_as_movielens_csv(tmp_path: Path) -> None:
    assert write_dataset(SPEC, tmp_path) == SPEC.ratings
    problems = Problems()
    reader = open_dataset(tmp_path, problems)
    assert reader.format_name == "movielens-csv"
    assert sum(1 for _ in reader.ratings()) == SPEC.ratings
    movies = list(reader.movies())
    assert len(movies) == SPEC.movies and all(m.genres and m.year for m in movies)
    assert problems.count == 0


def test_impossible_density_is_refused() -> None:
    with pytest.raises(ValueError, match="more than half"):
        SyntheticSpec(users=10, movies=10, ratings=60)
