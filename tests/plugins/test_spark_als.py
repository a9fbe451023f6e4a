"""``spark-als`` in Spark's local mode: the conformance suite, the same artifact as ``als``, the
id mapping (rows Spark leaves out are zeros), fold-in with Spark's own update, and ranking
quality next to ``als``. Without pyspark (the ``spark`` extra) or Java those tests are skipped,
unless ``MOVIEREC_REQUIRE_SPARK`` is set (as CI does); the plugin is then listed as not
available, which is tested either way."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from plugins.algorithms.implicit_mf import Als, confidence
from plugins.algorithms.popularity import Popularity
from plugins.base import MissingDependency, Ranked, RecommenderBase
from plugins.data import MovieInfo, Ratings
from plugins.evaluation.metrics import user_top_n
from plugins.registry import Skipped, UnknownAlgorithm, discover
from plugins.testing import PluginConformance, structured_ratings
from server.cli.root import main

MODULE = "plugins.algorithms.spark_als"
try:
    from plugins.algorithms.spark_als import SparkAls
except MissingDependency as missing:
    if os.environ.get("MOVIEREC_REQUIRE_SPARK"):
        raise
    SparkAls = None  # type: ignore[assignment, misc]
    WHY = str(missing)
else:
    WHY = ""

needs_spark = pytest.mark.skipif(SparkAls is None, reason=WHY)
HALF_STAR_PERSON = 100_000  # rates only below min_stars: no positive confidence
UNRATED_MOVIE = 100_000  # in the catalogue, rated by nobody
PARAMS = {"min_stars": 1.0}


def with_gaps(train: Ratings) -> Ratings:
    """``train`` plus a person Spark never sees (all half stars, under ``min_stars``) and a
    movie nobody rated, so that both factor matrices have rows missing from Spark's output."""
    users, movies, stars = train.coo
    extra_movies = train.movie_ids[:5]
    return Ratings(
        np.concatenate([train.user_ids[users], np.full(5, HALF_STAR_PERSON)]),
        np.concatenate([train.movie_ids[movies], extra_movies]),
        np.concatenate([stars, np.full(5, 0.5, np.float32)]),
        movie_info={**train.movie_info, UNRATED_MOVIE: MovieInfo(title="Unrated")},
    )


def mean_ndcg(ranked: Callable[[int], Ranked], test: Ratings, k: int = 10) -> float:
    """NDCG@k over the test people with a relevant movie (4 stars or more)."""
    scores = []
    for index, user in enumerate(test.user_ids.tolist()):
        row = test.matrix[index]
        relevant = set(test.movie_ids[row.indices[row.data >= 4.0]].tolist())
        if relevant:
            scores.append(user_top_n(ranked(user).movies.tolist(), relevant, k).ndcg)
    return float(np.mean(scores))


def rated(model: RecommenderBase[Any], user: int) -> tuple[np.ndarray, np.ndarray]:
    """A trained person's movies (external ids) and stars."""
    data = model.data
    row = data.matrix[data.user_index(user)]
    return data.movie_ids[row.indices], row.data


@needs_spark
class TestSparkAls(PluginConformance):
    """The public suite, plus what makes the artifact ``als``'s and the factors Spark's."""

    plugin_class = SparkAls
    params = PARAMS

    @pytest.fixture(scope="class")
    @classmethod
    def data(cls) -> tuple[Ratings, Ratings]:
        train, test = structured_ratings()
        return with_gaps(train), test

    @pytest.fixture(scope="class")
    @classmethod
    def als(cls, data: tuple[Ratings, Ratings]) -> Als:
        return Als(PARAMS).fit(data[0])

    def test_rows_spark_leaves_out_are_zero_and_only_those(self, model: SparkAls) -> None:
        weights = confidence(model.data, model.config.weighting, model.config.min_stars)
        seen_users = np.diff(weights.indptr) > 0
        seen_movies = np.diff(weights.tocsc().indptr) > 0
        assert not seen_users[model.data.user_index(HALF_STAR_PERSON)]
        assert not seen_movies[model.data.movie_index(UNRATED_MOVIE)]
        np.testing.assert_array_equal(model.user_factors.any(axis=1), seen_users)
        np.testing.assert_array_equal(model.item_factors.any(axis=1), seen_movies)

    def test_folding_in_a_trained_person_gives_their_spark_vector(self, model: SparkAls) -> None:
        # Spark's last step solves each user against the final item factors: the same solve
        # from the same ratings must land on the same vector (a wrong id mapping would not).
        for user in model.data.user_ids[:20].tolist():
            folded = model.fold_in(*rated(model, user))
            trained = model.user_factors[model.data.user_index(user)]
            np.testing.assert_allclose(folded.extra, trained, rtol=1e-4, atol=1e-5)
        assert not model.fold_in(*rated(model, HALF_STAR_PERSON)).extra.any()

    def test_artifact_has_the_layout_of_als(
        self, model: SparkAls, als: Als, tmp_path: Path
    ) -> None:
        model.save(tmp_path / "spark")
        als.save(tmp_path / "als")
        files = {path.name for path in (tmp_path / "spark").iterdir()}
        assert files == {path.name for path in (tmp_path / "als").iterdir()}
        for name in sorted(files - {"model.json"}):
            ours, theirs = (np.load(tmp_path / d / name) for d in ("spark", "als"))
            assert (ours.shape, ours.dtype) == (theirs.shape, theirs.dtype), name
        meta = json.loads((tmp_path / "spark" / "model.json").read_text())
        assert meta["arrays"] == json.loads((tmp_path / "als" / "model.json").read_text())["arrays"]
        loaded = SparkAls.load(tmp_path / "spark")
        np.testing.assert_array_equal(loaded.user_factors, model.user_factors)
        np.testing.assert_array_equal(loaded.item_factors, model.item_factors)

    def test_ranking_quality_is_close_to_als(
        self, model: SparkAls, als: Als, data: tuple[Ratings, Ratings]
    ) -> None:
        train, test = data
        popularity = Popularity().fit(train)
        ours = mean_ndcg(lambda user: model.recommend(user, 10), test)
        theirs = mean_ndcg(lambda user: als.recommend(user, 10), test)
        baseline = mean_ndcg(lambda user: popularity.recommend(user, 10), test)
        assert ours >= 0.9 * theirs and ours >= 1.25 * baseline, (ours, theirs, baseline)

    def test_a_new_person_folded_in_gets_recommendations_as_good(
        self, model: SparkAls, als: Als, data: tuple[Ratings, Ratings]
    ) -> None:
        train, test = data
        popularity = Popularity().fit(train)

        def folded(recommender: RecommenderBase[Any]) -> Callable[[int], Ranked]:
            return lambda user: recommender.recommend(recommender.fold_in(*rated(model, user)), 10)

        ours, theirs = mean_ndcg(folded(model), test), mean_ndcg(folded(als), test)
        baseline = mean_ndcg(folded(popularity), test)
        assert ours >= 0.9 * theirs and ours >= 1.25 * baseline, (ours, theirs, baseline)


def plugins_listing_without(monkeypatch: pytest.MonkeyPatch) -> tuple[Any, str]:
    """``discover()`` and ``movierec plugins``'s error output with the module imported anew."""
    monkeypatch.delitem(sys.modules, MODULE, raising=False)  # restored after the test
    registry = discover()
    listed = CliRunner().invoke(main, ["plugins"])
    assert listed.exit_code == 0
    return registry, listed.stderr


def test_without_the_extra_it_is_listed_as_not_available(monkeypatch: pytest.MonkeyPatch) -> None:
    find_spec = importlib.util.find_spec

    def without_spark(name: str, package: str | None = None) -> Any:
        return None if name in ("pyspark", "pyarrow") else find_spec(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", without_spark)
    registry, errors = plugins_listing_without(monkeypatch)
    reason = "spark-als needs pyspark and pyarrow: pip install 'movierec[spark]'"
    assert registry.skipped == [Skipped("spark-als", f"MissingDependency: {reason}")]
    assert "als" in registry.names() and "spark-als" not in registry.names()
    assert f"not available: spark-als: MissingDependency: {reason}" in errors
    with pytest.raises(UnknownAlgorithm, match=r"'spark-als' is installed but cannot load"):
        registry.get("spark-als")


def test_without_java_it_is_listed_as_not_available(monkeypatch: pytest.MonkeyPatch) -> None:
    if importlib.util.find_spec("pyspark") is None or importlib.util.find_spec("pyarrow") is None:
        pytest.skip("the Java check comes after the pyspark check")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr(shutil, "which", lambda name, *args, **kwargs: None)
    registry, errors = plugins_listing_without(monkeypatch)
    assert [skipped.name for skipped in registry.skipped] == ["spark-als"]
    assert "spark-als needs a Java runtime" in registry.skipped[0].reason
    assert "not available: spark-als" in errors
