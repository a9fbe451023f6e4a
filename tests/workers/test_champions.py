"""``default_algorithm = auto``: each segment of people is served by the active ranker whose
served holdout beats popularity's by the most; the choice is recorded, shown and rolled back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from server import create_app
from server.cli.root import main as cli
from server.datasets import open_dataset
from server.datasets.importer import import_dataset
from server.datasets.synthetic import SyntheticSpec, write_dataset
from server.db import Database
from server.models import ModelStatus, ModelVersion
from server.services import champions
from tests.conftest import get_ok

pytestmark = pytest.mark.usefixtures("auto_database")


@pytest.fixture
def auto_database(database: Database, tmp_path: Path) -> Database:
    """300 people, 300 movies, 15,000 ratings: enough for the holdout to tell models apart."""
    path = tmp_path / "synthetic"
    write_dataset(SyntheticSpec(users=300, movies=300, ratings=15_000, seed=11), path)
    import_dataset(database, open_dataset(path))
    return database


@pytest.fixture
def auto(pipeline_settings: dict[str, Any]) -> FlaskClient:
    return create_app(pipeline_settings | {"default_algorithm": "auto"}).test_client()


def version(algorithm: str, served: dict[str, Any]) -> ModelVersion:
    return ModelVersion(
        algorithm=algorithm, number=1, status=ModelStatus.ACTIVE, metrics={"served": served}
    )


def figures(ndcg: float, popular: float, users: int = 100) -> dict[str, float]:
    return {"ndcg@10": ndcg, "popularity_ndcg@10": popular, "users": users}


def test_the_champion_beats_popularity_by_the_most_on_its_own_holdout() -> None:
    active = {
        # ease has the best NDCG on warm people but a harder holdout: als lifts more.
        "ease": version("ease", {"warm": figures(0.30, 0.25), "all": figures(0.3, 0.25)}),
        "als": version("als", {"warm": figures(0.20, 0.10), "all": figures(0.2, 0.1)}),
        # Worse than popularity on cold people; too few new people to judge by.
        "knn-item": version(
            "knn-item",
            {"cold": figures(0.1, 0.2), "new": figures(0.9, 0.1, users=3)},
        ),
    }
    choice = champions.choose(active)
    assert choice["warm"]["algorithm"] == "als" and "2.00x popularity" in choice["warm"]["reason"]
    assert choice["cold"]["algorithm"] == "popularity"
    assert "knn-item" in choice["cold"]["reason"]
    assert champions.Segment.NEW not in champions.leaderboard(active)
    assert choice["new"]["algorithm"] == "popularity"
    assert champions.choose({})["warm"]["algorithm"] == "popularity"
    # A personal model leaves new people to popularity: it is no candidate for them.
    fallback_only = figures(0.3, 0.3) | {"own_share": 0.0}
    assert not champions.leaderboard({"als": version("als", {"new": fallback_only})})


def test_auto_serves_each_segment_by_its_champion_and_rolls_back(
    train: Callable[..., Any],
    auto: FlaskClient,
    auth: dict[str, str],
    pipeline_settings: dict[str, Any],
) -> None:
    environ = {
        "MOVIEREC_DATABASE_URL": pipeline_settings["database_url"],
        "MOVIEREC_REDIS_URL": pipeline_settings["redis_url"],
        "MOVIEREC_DATA_DIR": str(pipeline_settings["data_dir"]),
    }
    before = get_ok(auto, "/api/v1/users/5/recommendations", n=5)
    assert before["source"] == "fallback:popularity"  # nothing trained, nothing chosen
    assert [o.status for o in train("popularity")] == ["promoted"]
    first = get_ok(auto, "/api/v1/champions")
    assert {s["champion"] for s in first["segments"].values()} == {"popularity"}
    assert [o.status for o in train("ease")] == ["promoted"]
    shown = get_ok(auto, "/api/v1/champions")
    warm = shown["segments"]["warm"]
    assert shown["generation"] > first["generation"] and warm["champion"] == "ease", shown
    best = warm["candidates"][0]
    assert best["algorithm"] == "ease" and best["lift"] > 1.0 and best["users"] >= 20
    # A warm person's list, precomputed under this champion set, is ease's.
    listed = get_ok(auto, "/api/v1/users/5/recommendations", n=5)
    assert listed["source"] == "ease" and listed["cached"]
    pinned = get_ok(auto, "/api/v1/users/5/recommendations", n=5, algorithm="popularity")
    assert pinned["source"] == "popularity"
    # A new person is served by the new segment's champion (popularity: nobody beats it).
    assert auto.post("/api/v1/users", json={"id": "newbie"}, headers=auth).status_code == 201
    fresh = get_ok(auto, "/api/v1/users/newbie/recommendations", n=5)
    assert fresh["source"] == shown["segments"]["new"]["champion"] == "popularity"

    result = CliRunner().invoke(cli, ["models", "champions", "--roll-back"], env=environ)
    assert result.exit_code == 0, result.output
    assert "rolled back to set" in result.output and "warm  popularity" in result.output
    after = get_ok(auto, "/api/v1/users/5/recommendations", n=5)
    assert after["source"] == "popularity" and not after["cached"]  # ease's list went stale
    again = CliRunner().invoke(cli, ["models", "champions", "--json"], env=environ)
    assert '"champion": "popularity"' in again.output
