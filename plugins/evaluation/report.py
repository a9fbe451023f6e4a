"""Output of an evaluation: the leaderboard table, JSON, per-fold CSV dumps and PNG charts."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from plugins.evaluation.runner import LIST_METRICS, AlgorithmSpec, FoldOutput, FoldResult
from plugins.evaluation.splits import RatingTable

COLUMNS = ("rmse", "mae", "precision", "recall", "ndcg", "hit_rate", "map", "coverage")
# Beyond accuracy, under short headers (every one is in the JSON).
LIST_COLUMNS = {
    "novelty": "novelty",
    "head_share": "head",
    "diversity": "ild",
    "personalization": "personal",
    "calibration": "miscal",
}
# Metrics without "@k" in their names.
UNRANKED = ("rmse", "mae", "coverage", "fit_seconds", *LIST_METRICS)


def _label(row: FoldResult) -> str:
    return AlgorithmSpec(row.algorithm, row.params).label()


def leaderboard(results: Sequence[FoldResult], k: int) -> str:
    """The mean rows as a text table, best first (by RMSE, then by NDCG@k)."""
    means = [row for row in results if row.fold == "mean"]

    def key(row: FoldResult) -> tuple[float, float]:
        rmse = row.rmse if row.rmse is not None else math.inf
        return (rmse, -(row.ndcg or 0.0))

    headers = [
        "algorithm",
        *(c if c in UNRANKED else f"{c}@{k}" for c in COLUMNS),
        *LIST_COLUMNS.values(),
        "fit s",
        "predict s",
    ]
    lines = [
        [
            _label(row),
            *(_number(getattr(row, c)) for c in (*COLUMNS, *LIST_COLUMNS)),
            f"{row.fit_seconds:.2f}",
            f"{row.predict_seconds:.2f}",
        ]
        for row in sorted(means, key=key)
    ]
    widths = [
        max(len(str(cell)) for cell in column) for column in zip(headers, *lines, strict=True)
    ]
    render = [
        " ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in [headers, *lines]
    ]
    return "\n".join([render[0], "-" * len(render[0]), *render[1:]])


def _number(value: float | None) -> str:
    return (
        "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"
    )


def best_params(results: Sequence[FoldResult]) -> dict[str, dict[str, object]]:
    """Per algorithm, the parameters of its best mean row (lowest RMSE, else highest NDCG)."""
    best: dict[str, FoldResult] = {}
    for row in (r for r in results if r.fold == "mean"):
        current = best.get(row.algorithm)
        if current is None or _better(row, current):
            best[row.algorithm] = row
    return {name: dict(row.params) for name, row in best.items()}


def _better(row: FoldResult, other: FoldResult) -> bool:
    if row.rmse is not None and other.rmse is not None:
        return row.rmse < other.rmse
    return (row.ndcg or 0.0) > (other.ndcg or 0.0)


def write_json(results: Sequence[FoldResult], k: int, path: Path) -> None:
    """``{"results": [...]}`` with NaN written as null."""
    rows = [{key: _json_value(value) for key, value in row.to_json(k).items()} for row in results]
    path.write_text(json.dumps({"results": rows}, indent=2))


def _json_value(value: object) -> object:
    return None if isinstance(value, float) and math.isnan(value) else value


def dump_fold(directory: Path, result: FoldResult, output: FoldOutput) -> None:
    """``<label>.fold<N>.predictions.csv`` and ``<label>.fold<N>.top.csv``."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"{_safe(_label(result))}.fold{result.fold}"
    if output.predictions:
        _write_csv(
            directory / f"{stem}.predictions.csv",
            ("user", "movie", "true", "predicted"),
            output.predictions,
        )
    if output.top_lists:
        _write_csv(
            directory / f"{stem}.top.csv", ("user", "rank", "movie", "score"), output.top_lists
        )


def _safe(label: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_=.," else "_" for ch in label)


def _write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def plot_available() -> bool:
    """Whether ``plot`` can run (matplotlib, the ``plot`` extra, imports)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def plot(results: Sequence[FoldResult], table: RatingTable, k: int, directory: Path) -> list[Path]:
    """PNG charts: each metric per fold and algorithm, and the rating distribution."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    folds = [row for row in results if row.fold != "mean"]
    for metric in ("rmse", "mae", "ndcg", "precision", "recall", "fit_seconds", *LIST_METRICS):
        rows = [row for row in folds if getattr(row, metric) is not None]
        if not rows:
            continue
        figure, axes = plt.subplots(figsize=(8, 4.5))
        for label in dict.fromkeys(_label(row) for row in rows):
            mine = [row for row in rows if _label(row) == label]
            axes.plot(
                [row.fold for row in mine],
                [getattr(row, metric) for row in mine],
                marker="o",
                label=label,
            )
        name = metric if metric in UNRANKED else f"{metric}@{k}"
        axes.set(xlabel="fold", ylabel=name, title=f"{name} per fold")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.legend(fontsize="small")
        written.append(_save(figure, directory / f"{name.replace('@', '_at_')}.png"))
    figure, axes = plt.subplots(figsize=(6, 4))
    values, counts = np.unique(table.stars, return_counts=True)
    axes.bar(values, counts, width=0.4)
    axes.set(xlabel="stars", ylabel="ratings", title="rating distribution")
    written.append(_save(figure, directory / "rating_distribution.png"))
    return written


def _save(figure: object, path: Path) -> Path:
    import matplotlib.pyplot as plt

    figure.savefig(path, dpi=100, bbox_inches="tight")  # type: ignore[attr-defined]
    plt.close(figure)  # type: ignore[arg-type]
    return path
