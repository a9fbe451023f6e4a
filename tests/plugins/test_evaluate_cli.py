"""``movierec evaluate`` and ``movierec plugins`` on generated data and MovieLens-style files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from server.cli.root import main
from server.datasets.synthetic import SyntheticSpec, generate, write_dataset

SPEC = SyntheticSpec(users=120, movies=150, ratings=5000, seed=4)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synthetic")
    write_dataset(SPEC, out)
    return out


def evaluate(*args: str) -> Result:
    return CliRunner().invoke(main, ["evaluate", "--quiet", *args])


def test_kfold_leaderboard_json_dump_and_plots(dataset: Path, tmp_path: Path) -> None:
    result = evaluate(
        str(dataset),
        "--algorithms",
        "baseline,popularity",
        "--folds",
        "2",
        "--json",
        str(tmp_path / "out.json"),
        "--dump",
        str(tmp_path / "dump"),
        "--plot",
        str(tmp_path / "plots"),
    )
    assert result.exit_code == 0, result.output
    assert "baseline" in result.output and "ndcg@10" in result.output
    assert "novelty" in result.output and "miscal" in result.output
    rows = json.loads((tmp_path / "out.json").read_text())["results"]
    assert {(r["algorithm"], r["fold"]) for r in rows} == {
        (name, fold) for name in ("baseline", "popularity") for fold in (1, 2, "mean")
    }
    expected = {
        "algorithm",
        "params",
        "fold",
        "rmse",
        "mae",
        "mse",
        "precision@10",
        "recall@10",
        "ndcg@10",
        "hit_rate@10",
        "map@10",
        "coverage",
        "novelty",
        "popularity_percentile",
        "head_share",
        "diversity",
        "personalization",
        "calibration",
        "fit_seconds",
        "predict_seconds",
    }
    assert expected <= set(rows[0])
    popularity = next(r for r in rows if r["algorithm"] == "popularity")
    assert popularity["rmse"] is None and popularity["ndcg@10"] is not None
    # One list for everybody, minus what each has rated: barely personal.
    assert popularity["personalization"] < 0.5 and 0 < popularity["popularity_percentile"] <= 1
    assert 0 < popularity["diversity"] <= 1 and popularity["calibration"] > 0
    dumped = sorted(p.name for p in (tmp_path / "dump").iterdir())
    assert "baseline.fold1.predictions.csv" in dumped and "popularity.fold2.top.csv" in dumped
    assert "baseline.fold1.top.csv" not in dumped  # a rating model: it does not rank
    header = (tmp_path / "dump" / "popularity.fold1.top.csv").read_text().splitlines()[0]
    assert header == "user,rank,movie,score"
    assert (tmp_path / "plots" / "rmse.png").stat().st_size > 0
    assert (tmp_path / "plots" / "calibration.png").stat().st_size > 0


def test_dumped_predictions_recompute_the_reported_rmse(dataset: Path, tmp_path: Path) -> None:
    result = evaluate(
        str(dataset),
        "--algorithms",
        "svd",
        "--folds",
        "2",
        "--json",
        str(tmp_path / "out.json"),
        "--dump",
        str(tmp_path),
    )
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "out.json").read_text())["results"]
    data = np.loadtxt(tmp_path / "svd.fold1.predictions.csv", delimiter=",", skiprows=1)
    rmse = float(np.sqrt(np.mean((data[:, 2] - data[:, 3]) ** 2)))
    assert rmse == pytest.approx(next(r["rmse"] for r in rows if r["fold"] == 1), rel=1e-5)


def test_train_and_test_files(tmp_path: Path) -> None:
    data = generate(SPEC)
    order = np.argsort(data.timestamp)
    cut = int(len(order) * 0.8)
    for name, rows in (("u1.base", order[:cut]), ("u1.test", order[cut:])):
        lines = [
            f"{data.user[i] + 1}\t{data.movie[i] + 1}\t{(data.half_stars[i] + 1) // 2}\t"
            f"{data.timestamp[i]}"
            for i in rows
        ]
        (tmp_path / name).write_text("\n".join(lines) + "\n")
    result = evaluate(
        "--train",
        str(tmp_path / "u1.base"),
        "--test",
        str(tmp_path / "u1.test"),
        "--algorithms",
        "baseline,knn-item",
    )
    assert result.exit_code == 0, result.output
    assert "knn-item" in result.output


def test_grid_reports_best_parameters(dataset: Path) -> None:
    result = evaluate(
        str(dataset),
        "--algorithms",
        "baseline",
        "--folds",
        "2",
        "--grid",
        "baseline:reg_item=1,25;epochs=2",
    )
    assert result.exit_code == 0, result.output
    assert "baseline(epochs=2,reg_item=1)" in result.output
    assert "best baseline: reg_item=" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--algorithms", "nope"], "unknown algorithm 'nope'"),
        (["--params", "svd:n_factor=3"], "unknown parameter 'n_factor'"),
        (["--params", "svd:epochs=-1"], "epochs >= 0"),
        (["--grid", "svd:reg"], "expected name=value"),
    ],
)
def test_bad_options_are_clear_errors(dataset: Path, args: list[str], message: str) -> None:
    result = evaluate(str(dataset), *args)
    assert result.exit_code == 1
    assert message in result.output


def test_missing_inputs_are_usage_errors(tmp_path: Path) -> None:
    assert evaluate("--train", str(tmp_path / "x")).exit_code == 2
    assert evaluate().exit_code == 2
    missing = evaluate(str(tmp_path / "absent"))
    assert missing.exit_code == 1 and "no such file" in missing.output


def test_plugins_lists_every_built_in() -> None:
    result = CliRunner().invoke(main, ["plugins", "--json"])
    assert result.exit_code == 0
    names = {item["name"] for item in json.loads(result.output)["algorithms"]}
    assert {"svd", "knn-item", "als", "ease", "content"} <= names


def without(packages: list[str], tmp_path: Path) -> dict[str, str]:
    """An environment where importing each of ``packages`` fails as if it were not installed."""
    shadow = tmp_path / "shadow"
    for package in packages:
        (shadow / package).mkdir(parents=True)
        (shadow / package / "__init__.py").write_text(
            f"raise ImportError(\"No module named '{package}'\")\n"
        )
    return os.environ | {"PYTHONPATH": os.pathsep.join([str(shadow), *sys.path])}


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "server", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def test_optional_packages_missing_are_said_up_front_with_what_to_install(
    dataset: Path, tmp_path: Path
) -> None:
    env = without(["matplotlib", "xgboost"], tmp_path)
    plotted = run_cli("evaluate", str(dataset), "--plot", str(tmp_path / "plots"), env=env)
    assert plotted.returncode == 1
    assert "--plot needs matplotlib: pip install 'movierec[plot]'" in plotted.stderr
    assert "ratings" not in plotted.stderr  # refused before the data was read
    stacked = run_cli("evaluate", str(dataset), "--algorithms", "gbm", env=env)
    assert stacked.returncode == 1
    assert "'gbm' is installed but cannot load" in stacked.stderr
    assert "pip install 'movierec[gbm]'" in stacked.stderr
    assert "Traceback" not in plotted.stderr + stacked.stderr


def test_plugins_has_a_header_and_names_a_missing_plugin_once(tmp_path: Path) -> None:
    listed = run_cli("plugins", env=without(["xgboost"], tmp_path))
    assert listed.returncode == 0
    assert listed.stdout.splitlines()[0].startswith("algorithm version  [capabilities]")
    assert "gbm" not in listed.stdout
    about_gbm = [line for line in listed.stderr.splitlines() if "gbm" in line]
    assert len(about_gbm) == 1 and "pip install 'movierec[gbm]'" in about_gbm[0]
