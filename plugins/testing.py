"""The public conformance suite every algorithm plugin must pass.

Use it from your plugin's tests::

    from plugins.testing import PluginConformance
    from my_package.module import MovieMean

    class TestMovieMean(PluginConformance):
        plugin_class = MovieMean

movierec's own tests run it over every installed entry point, so an installed third-party plugin
is checked automatically. The data is small and synthetic with known structure: ratings come from
latent tastes, and each movie's genres are derived from its latent factors, so collaborative and
content-based algorithms both have something real to find.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from plugins.base import RecommenderBase, Unsupported
from plugins.config import build_config, config_dict
from plugins.data import MovieInfo, Ratings
from plugins.evaluation.metrics import rating_errors, user_top_n
from plugins.fits import FitMemo
from plugins.registry import Registry, validate_plugin_class

GENRES = ("action", "comedy", "drama", "horror", "romance", "scifi", "thriller", "family")


def structured_ratings(
    users: int = 150, movies: int = 120, per_user: int = 40, seed: int = 7
) -> tuple[Ratings, Ratings]:
    """(train, test): each user's ratings split 80/20; stars follow latent tastes plus biases."""
    rng = np.random.default_rng(seed)
    tastes = rng.normal(0, 1, (users, 4))
    traits = rng.normal(0, 1, (movies, 4))
    popularity = rng.zipf(1.6, movies).astype(float)
    chosen_user, chosen_movie = [], []
    for user in range(users):
        picked = rng.choice(movies, per_user, replace=False, p=popularity / popularity.sum())
        chosen_user.extend([user] * per_user)
        chosen_movie.extend(picked.tolist())
    u, m = np.array(chosen_user), np.array(chosen_movie)
    raw = 3.4 + 0.3 * rng.normal(size=users)[u] + 0.4 * rng.normal(size=movies)[m]
    raw += 0.6 * np.einsum("ij,ij->i", tastes[u], traits[m]) + rng.normal(0, 0.3, len(u))
    stars = np.clip(np.round(raw * 2) / 2, 0.5, 5.0)
    times = rng.integers(1_000_000_000, 1_100_000_000, len(u))
    info = {
        int(movie): MovieInfo(
            title=f"Movie {movie}",
            genres=tuple(GENRES[2 * f + int(traits[movie, f] > 0)] for f in range(4)),
        )
        for movie in range(movies)
    }
    test = np.zeros(len(u), bool)
    for user in range(users):
        rows = np.flatnonzero(u == user)
        test[rng.choice(rows, len(rows) // 5, replace=False)] = True
    return (
        Ratings(u[~test] + 1, m[~test] + 1, stars[~test], times[~test], _shift(info)),
        Ratings(u[test] + 1, m[test] + 1, stars[test], times[test], _shift(info)),
    )


def _shift(info: dict[int, MovieInfo]) -> dict[int, MovieInfo]:
    return {movie + 1: value for movie, value in info.items()}


class PluginConformance:
    """Subclass and set ``plugin_class`` (and ``params`` for a non-default configuration)."""

    plugin_class: ClassVar[type[RecommenderBase[Any]]]
    params: ClassVar[dict[str, Any]] = {}
    #: predict: RMSE must beat the global mean's by this factor; rank: NDCG@10 must beat the
    #: expected NDCG of a random ranking by this factor
    rmse_factor: ClassVar[float] = 0.98
    ndcg_factor: ClassVar[float] = 1.5

    @pytest.fixture(scope="class")
    @classmethod
    def algorithm(cls) -> type[RecommenderBase[Any]]:
        """The class under test (override to find it some other way, e.g. by entry point)."""
        return cls.plugin_class

    @pytest.fixture(scope="class")
    @classmethod
    def data(cls) -> tuple[Ratings, Ratings]:
        """Synthetic (train, test) ratings with known structure."""
        return structured_ratings()

    @pytest.fixture(scope="class")
    @classmethod
    def model(
        cls, algorithm: type[RecommenderBase[Any]], data: tuple[Ratings, Ratings]
    ) -> RecommenderBase[Any]:
        """The algorithm fitted on the training part."""
        return algorithm(cls.params).fit(data[0])

    def test_contract(self, algorithm: type[RecommenderBase[Any]]) -> None:
        """The class honours the registry's checks; the default config round-trips."""
        validate_plugin_class(algorithm, algorithm.name)
        instance = algorithm()
        rebuilt = build_config(algorithm.config_class, config_dict(instance.config))
        assert rebuilt == instance.config
        json.dumps(instance.describe())

    def test_scores_known_user(self, model: RecommenderBase[Any]) -> None:
        """Scores are float32, one per movie, and some are finite."""
        data = model.data
        scores = model.score(int(data.user_ids[0]), data.movie_ids)
        assert scores.dtype == np.float32 and scores.shape == (len(data.movie_ids),)
        assert np.isfinite(scores).any()

    def test_catalogue_scores_are_each_movies_score(self, model: RecommenderBase[Any]) -> None:
        """What ``recommend`` ranks (``_score_catalogue``) is the score of every movie, for a
        known person and a folded-in one."""
        data = model.data
        states = [model.user_state(int(data.user_ids[0]))]
        if "fold_in" in model.capabilities:
            states.append(model.fold_in(data.movie_ids[:3], [5.0, 4.0, 1.0]))
        for state in states:
            every = model._score(state, np.arange(len(data.movie_ids), dtype=np.int64))
            np.testing.assert_allclose(model._score_catalogue(state), every, rtol=1e-5, atol=1e-6)

    def test_unknown_user_and_movie(self, model: RecommenderBase[Any]) -> None:
        """Unknown ids give NaN or a fallback, never an exception."""
        data = model.data
        unknown_user, unknown_movie = int(data.user_ids.max()) + 1000, int(data.movie_ids.max()) + 1
        assert model.score(unknown_user, data.movie_ids[:5]).shape == (5,)
        assert np.isnan(model.score(int(data.user_ids[0]), [unknown_movie])).all()
        if "predict" in model.capabilities:
            assert model.predict(unknown_user, data.movie_ids[:5]).shape == (5,)
        if "rank" in model.capabilities:
            model.recommend(unknown_user, 5)
        if "similar" in model.capabilities:
            assert len(model.similar(unknown_movie, 5)) == 0

    def test_recommend_respects_exclusions(self, model: RecommenderBase[Any]) -> None:
        """Never an excluded or already-rated movie; ``n`` beyond the catalogue is fine."""
        if "rank" not in model.capabilities:
            with pytest.raises(Unsupported):
                model.recommend(int(model.data.user_ids[0]), 5)
            return
        data = model.data
        user = int(data.user_ids[0])
        rated = data.movie_ids[data.matrix[0].indices]
        excluded = data.movie_ids[::3]
        ranked = model.recommend(user, len(data.movie_ids) * 2, exclude=excluded)
        assert len(ranked) <= len(data.movie_ids)
        assert not set(ranked.movies.tolist()) & (set(excluded.tolist()) | set(rated.tolist()))
        assert len(set(ranked.movies.tolist())) == len(ranked)
        assert np.all(np.diff(ranked.scores) <= 0)
        assert len(model.recommend(user, 0)) == 0

    def test_similar(self, model: RecommenderBase[Any]) -> None:
        """Similar movies exclude the movie itself (only for the ``similar`` capability)."""
        movie = int(model.data.movie_ids[np.argmax(np.diff(model.data.csc.indptr))])
        if "similar" not in model.capabilities:
            with pytest.raises(Unsupported):
                model.similar(movie, 5)
            return
        similar = model.similar(movie, 5)
        assert 0 < len(similar) <= 5 and movie not in similar.movies.tolist()

    def test_fold_in(self, model: RecommenderBase[Any]) -> None:
        """A folded-in user can be scored and ranked; their movies are not recommended."""
        data = model.data
        movies, stars = data.movie_ids[data.matrix[1].indices], data.matrix[1].data
        if "fold_in" not in model.capabilities:
            with pytest.raises(Unsupported):
                model.fold_in(movies, stars)
            return
        state = model.fold_in(movies, stars)
        assert model.score(state, data.movie_ids).shape == (len(data.movie_ids),)
        if "rank" in model.capabilities:
            ranked = model.recommend(state, 10)
            assert not set(ranked.movies.tolist()) & set(movies.tolist())

    def test_same_seed_same_result(
        self, algorithm: type[RecommenderBase[Any]], model: RecommenderBase[Any]
    ) -> None:
        """Fitting again with the same seed gives the same scores."""
        again = algorithm(self.params).fit(model.data)
        user = int(model.data.user_ids[2])
        np.testing.assert_array_equal(
            model.score(user, model.data.movie_ids), again.score(user, model.data.movie_ids)
        )

    def test_save_and_load(
        self, algorithm: type[RecommenderBase[Any]], model: RecommenderBase[Any], tmp_path: Path
    ) -> None:
        """A saved and loaded model scores exactly like the original; no pickle involved."""
        model.save(tmp_path / "model")
        assert not list((tmp_path / "model").rglob("*.pkl"))
        loaded = algorithm.load(tmp_path / "model")
        for user in model.data.user_ids[:3].tolist():
            np.testing.assert_array_equal(
                model.score(user, model.data.movie_ids), loaded.score(user, model.data.movie_ids)
            )

    def test_loaded_model_folds_in(
        self, algorithm: type[RecommenderBase[Any]], model: RecommenderBase[Any], tmp_path: Path
    ) -> None:
        """A served model is a loaded one (read-only memory maps): folding in must work on it
        exactly as on the fitted model."""
        if "fold_in" not in model.capabilities:
            return
        model.save(tmp_path / "model")
        loaded = algorithm.load(tmp_path / "model")
        row = model.data.matrix[1]
        movies, stars = model.data.movie_ids[row.indices], row.data
        np.testing.assert_allclose(
            loaded.score(loaded.fold_in(movies, stars), model.data.movie_ids),
            model.score(model.fold_in(movies, stars), model.data.movie_ids),
            rtol=1e-5,
        )

    def test_a_kept_fit_is_taken_back(
        self,
        algorithm: type[RecommenderBase[Any]],
        data: tuple[Ratings, Ratings],
        tmp_path: Path,
    ) -> None:
        """Made by a registry that keeps fits (as the workers' retrains are), a second fit on
        the same ratings takes the first back: it scores exactly as the first and folds in
        as the first does."""
        if not algorithm.keeps_fits:
            return
        reused: list[str] = []
        registry = Registry({algorithm.name: algorithm}, [])
        registry.fits = FitMemo(tmp_path / "fits", reused.append)
        fitted = algorithm(self.params, registry).fit(data[0])
        taken = algorithm(self.params, registry).fit(data[0])
        assert reused == [algorithm.name]
        movies = data[0].movie_ids
        for user in data[0].user_ids[:3].tolist():
            np.testing.assert_array_equal(fitted.score(user, movies), taken.score(user, movies))
        if "fold_in" in taken.capabilities:
            row = data[0].matrix[1]
            np.testing.assert_allclose(
                taken.score(taken.fold_in(movies[row.indices], row.data), movies),
                fitted.score(fitted.fold_in(movies[row.indices], row.data), movies),
                rtol=1e-5,
            )

    def test_quality_floor(
        self, model: RecommenderBase[Any], data: tuple[Ratings, Ratings]
    ) -> None:
        """Better than the global mean (predict) and than a random ranking (rank)."""
        test = data[1]
        users, movies, stars = test.coo
        if "predict" in model.capabilities:
            predicted = np.concatenate(
                [
                    model.predict(int(test.user_ids[u]), test.movie_ids[movies[users == u]])
                    for u in np.unique(users)
                ]
            )
            ordered = np.concatenate([stars[users == u] for u in np.unique(users)])
            mean = np.full(len(ordered), model.data.global_mean)
            ours = rating_errors(ordered, np.nan_to_num(predicted, nan=model.data.global_mean))
            assert ours.rmse < self.rmse_factor * rating_errors(ordered, mean).rmse
        if "rank" in model.capabilities:
            ours_ndcg, random_ndcg = _ndcg_against_random(model, test)
            assert ours_ndcg > self.ndcg_factor * random_ndcg


def _ndcg_against_random(model: RecommenderBase[Any], test: Ratings) -> tuple[float, float]:
    """Mean NDCG@10 of the model and of a random ranking of the same candidates."""
    rng = np.random.default_rng(0)
    ours, random = [], []
    users, movies, stars = test.coo
    for u in np.unique(users):
        relevant = set(test.movie_ids[movies[(users == u) & (stars >= 4.0)]].tolist())
        if not relevant:
            continue
        user = int(test.user_ids[u])
        ours.append(user_top_n(model.recommend(user, 10).movies.tolist(), relevant, 10).ndcg)
        known = model.data.user_index(user)
        rated = (
            set()
            if known is None
            else set(model.data.movie_ids[model.data.matrix[known].indices].tolist())
        )
        candidates = [m for m in model.data.movie_ids.tolist() if m not in rated]
        shuffled = rng.permutation(candidates)[:10].tolist()
        random.append(user_top_n(shuffled, relevant, 10).ndcg)
    return float(np.mean(ours)), float(np.mean(random)) + 1e-9
