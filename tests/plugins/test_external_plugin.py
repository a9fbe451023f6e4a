"""A separately packaged plugin, installed with pip, is discovered through its one entry point,
passes the conformance suite, and is trained and scored by the evaluation engine."""

from __future__ import annotations

import importlib
import os
import subprocess
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


def test_discovered_by_entry_point(installed: Path) -> None:
    registry = discover()
    assert "movie-mean" in registry.names()
    assert [s.name for s in registry.skipped] == ["broken-example"]
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


def test_a_broken_plugin_is_logged_once_per_process(example_plugin_site: Path) -> None:
    # registries are made often (every request context, worker task and command): the
    # warning must not repeat with each
    script = (
        "import logging; logging.basicConfig(level=logging.WARNING)\n"
        "from plugins.registry import discover\n"
        "for _ in range(3): discover()\n"
    )
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(example_plugin_site), *sys.path])}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("skipping algorithm plugin broken-example") == 1
