"""A separately packaged plugin, installed with pip, is discovered through its one entry point,
passes the conformance suite, and is trained and scored by the evaluation engine."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from plugins.base import RecommenderBase
from plugins.evaluation.runner import AlgorithmSpec, EvaluationProtocol, run
from plugins.evaluation.splits import RatingTable, kfold
from plugins.registry import discover
from plugins.testing import PluginConformance, structured_ratings


@pytest.fixture(scope="module")
def installed(example_plugin_site: Path) -> Iterator[Path]:
    """The example distribution, pip-installed into a private directory, on sys.path."""
    sys.path.insert(0, str(example_plugin_site))
    importlib.invalidate_caches()
    yield example_plugin_site
    sys.path.remove(str(example_plugin_site))
    for name in [m for m in sys.modules if m.startswith("movierec_example")]:
        del sys.modules[name]


def test_discovered_by_entry_point(installed: Path, caplog: pytest.LogCaptureFixture) -> None:
    registry = discover()
    assert "movie-mean" in registry.names()
    assert [s.name for s in registry.skipped] == ["broken-example"]
    assert "skipping algorithm plugin broken-example" in caplog.text
    assert registry.get("movie-mean").__module__ == "movierec_example.mean"
    assert discover(allow={"svd"}).names() == ["svd"]


def test_evaluated_like_a_built_in(installed: Path) -> None:
    train, _test = structured_ratings()
    users, movies, stars = train.coo
    table = RatingTable(
        train.user_ids[users], train.movie_ids[movies], stars, train.times.data, train.movie_info
    )
    folds = list(kfold(table, 3, seed=1))
    results = run(table, [AlgorithmSpec("movie-mean")], folds, discover(), EvaluationProtocol())
    mean = next(row for row in results if row.fold == "mean")
    assert mean.rmse is not None and mean.rmse < 1.2
    assert mean.ndcg is not None


class TestExamplePluginConformance(PluginConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def algorithm(cls, installed: Path) -> type[RecommenderBase[Any]]:  # type: ignore[override]
        return discover().get("movie-mean")
