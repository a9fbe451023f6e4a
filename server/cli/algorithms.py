"""``movierec plugins`` and ``movierec evaluate``: the installed algorithms, and the evaluation
protocol run on dataset files (no database needed)."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import click

from plugins.config import ConfigError, parse_assignments
from plugins.evaluation.report import (
    best_params,
    dump_fold,
    leaderboard,
    plot,
    plot_available,
    write_json,
)
from plugins.evaluation.runner import (
    AlgorithmSpec,
    EvaluationProtocol,
    FoldOutput,
    FoldResult,
    expand_grid,
    run,
)
from plugins.evaluation.splits import Fold, RatingTable, make_folds
from plugins.registry import Registry, UnknownAlgorithm, discover
from server.cli.common import load_settings
from server.datasets import DatasetError, Problems
from server.datasets.table import IdLabels, load_table
from server.serving.evaluation import run_served, served_leaderboard
from server.serving.policy import Policy
from server.serving.rerank import Reranking


def _registry() -> Registry:
    return discover(load_settings().algorithm_allow_list)


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plugins_command(as_json: bool) -> None:
    """List the installed algorithms with their capabilities and default configuration."""
    registry = _registry()
    described = [registry.create(name).describe() for name in registry.names()]
    skipped = [{"name": s.name, "reason": s.reason} for s in registry.skipped]
    if as_json:
        click.echo(json.dumps({"algorithms": described, "skipped": skipped}, indent=2))
        return
    click.echo("algorithm version  [capabilities]\n    default configuration")
    for item in described:
        config = ", ".join(f"{k}={v}" for k, v in item["config"].items())
        click.echo(f"{item['name']} {item['version']}  [{', '.join(item['capabilities'])}]")
        click.echo(f"    {config or '(no parameters)'}")
    for item in skipped:
        click.echo(f"not available: {item['name']}: {item['reason']}", err=True)


def _specs(
    registry: Registry, names: str | None, params: tuple[str, ...], grids: tuple[str, ...]
) -> list[AlgorithmSpec]:
    """One spec per algorithm (with ``--params``), or one per grid point (with ``--grid``)."""
    chosen = [n.strip() for n in names.split(",") if n.strip()] if names else registry.names()
    overrides = {name: parse_assignments(text) for name, text in map(_split_algorithm, params)}
    grid = {name: expand_grid(text) for name, text in map(_split_algorithm, grids)}
    for name in [*chosen, *overrides, *grid]:
        registry.get(name)
    chosen += [name for name in grid if name not in chosen]
    specs = []
    for name in chosen:
        base = overrides.get(name, {})
        for point in grid.get(name, [{}]):
            spec = AlgorithmSpec(name, {**base, **point})
            registry.create(spec.name, spec.params)  # validate the parameters up front
            specs.append(spec)
    return specs


def _split_algorithm(text: str) -> tuple[str, str]:
    name, colon, rest = text.partition(":")
    if not colon:
        raise ConfigError(f"expected ALGORITHM:name=value,..., got {text!r}")
    return name.strip(), rest


def _load(
    data: Path | None, train: Path | None, test: Path | None, problems: Problems
) -> tuple[RatingTable, Fold | None]:
    if (train is None) != (test is None):
        raise click.UsageError("--train and --test go together")
    if train is not None and test is not None:
        if data is not None:
            raise click.UsageError("give DATA or --train/--test, not both")
        labels = IdLabels()
        train_table = load_table(train, problems, labels)
        test_table = load_table(test, problems, labels)
        return train_table.concat(test_table), Fold(1, train_table, test_table)
    if data is None:
        raise click.UsageError("give DATA, or --train and --test")
    return load_table(data, problems), None


@click.command("evaluate")
@click.argument("data", required=False, type=click.Path(path_type=Path))
@click.option("--algorithms", help="Comma-separated names (default: every installed one).")
@click.option("--folds", default=5, show_default=True, help="Folds (kfold, user-holdout).")
@click.option(
    "--split",
    type=click.Choice(["kfold", "user-holdout", "time", "timeline"]),
    default="kfold",
    show_default=True,
)
@click.option(
    "--test-fraction",
    default=0.2,
    show_default=True,
    help="Share held out by user-holdout and time splits.",
)
@click.option("--train", type=click.Path(path_type=Path), help="Training ratings file.")
@click.option("--test", type=click.Path(path_type=Path), help="Test ratings file.")
@click.option("--k", "k", default=10, show_default=True, help="Length of top-N lists.")
@click.option(
    "--relevant",
    default=4.0,
    show_default=True,
    help="Stars that make a test rating relevant for top-N metrics.",
)
@click.option("--seed", default=0, show_default=True)
@click.option("--params", multiple=True, help="ALGORITHM:name=value,... (repeatable)")
@click.option("--grid", multiple=True, help="ALGORITHM:name=v1,v2;name=v1,... (repeatable)")
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="Write results here.")
@click.option("--dump", type=click.Path(path_type=Path), help="Write predictions and top-K CSVs.")
@click.option("--plot", "plot_dir", type=click.Path(path_type=Path), help="Write PNG charts.")
@click.option(
    "--served",
    is_flag=True,
    help="Score what the server would serve each test person (fold-in, cold-start blend, "
    "popularity fallback), by segment: new, cold, warm.",
)
@click.option(
    "--cold-start-ratings",
    type=int,
    default=None,
    help="With --served: the cold-start threshold (default: MOVIEREC_COLD_START_RATINGS).",
)
@click.option(
    "--rerank",
    default=None,
    metavar="CALIBRATION,POPULARITY",
    help="With --served: the re-ranking weights (default: MOVIEREC_RERANK_CALIBRATION and "
    "MOVIEREC_RERANK_POPULARITY).",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def evaluate_command(
    data: Path | None,
    algorithms: str | None,
    folds: int,
    split: str,
    test_fraction: float,
    train: Path | None,
    test: Path | None,
    k: int,
    relevant: float,
    seed: int,
    params: tuple[str, ...],
    grid: tuple[str, ...],
    json_out: Path | None,
    dump: Path | None,
    plot_dir: Path | None,
    served: bool,
    cold_start_ratings: int | None,
    rerank: str | None,
    quiet: bool,
) -> None:
    """Cross-validate algorithms on DATA (any importable dataset) or on --train/--test files."""
    if plot_dir is not None and not plot_available():
        raise click.ClickException("--plot needs matplotlib: pip install 'movierec[plot]'")
    registry = _registry()
    try:
        specs = _specs(registry, algorithms, params, grid)
        problems = Problems()
        table, given = _load(data, train, test, problems)
        fold_list = [given] if given else list(make_folds(table, split, folds, seed, test_fraction))  # type: ignore[arg-type]
    except (ConfigError, UnknownAlgorithm, DatasetError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    if problems.count:
        click.echo(
            f"skipped {problems.count} malformed rows (first: {problems.messages[0]})", err=True
        )
    click.echo(
        f"{len(table):,} ratings, {len(fold_list)} fold(s), {len(specs)} configuration(s)", err=True
    )
    protocol = EvaluationProtocol(k=k, relevant_threshold=relevant, seed=seed)
    if served:
        policy = _policy(cold_start_ratings, rerank)
        _evaluate_served(table, specs, fold_list, registry, policy, protocol, json_out, quiet)
        return
    with click.progressbar(
        length=len(fold_list) * len(specs), label="evaluating", hidden=quiet, file=sys.stderr
    ) as bar:

        def on_fold(result: FoldResult, output: FoldOutput) -> None:
            if dump is not None:
                dump_fold(dump, result, output)
            bar.update(1)

        results = run(table, specs, fold_list, registry, protocol, on_fold)
    _report(results, k, json_out, plot_dir, table, grid)


def _policy(cold_start_ratings: int | None, rerank: str | None) -> Policy:
    """The settings' served policy, with the command's overrides."""
    policy = Policy.from_settings(load_settings())
    if cold_start_ratings is not None:
        policy = replace(policy, cold_start_ratings=cold_start_ratings)
    if rerank is not None:
        try:
            calibration, popularity = (float(part) for part in rerank.split(","))
        except ValueError:
            raise click.BadParameter(
                "give two numbers: CALIBRATION,POPULARITY", param_hint="--rerank"
            ) from None
        policy = replace(policy, reranking=Reranking(calibration, popularity))
    return policy


def _evaluate_served(
    table: RatingTable,
    specs: list[AlgorithmSpec],
    folds: list[Fold],
    registry: Registry,
    policy: Policy,
    protocol: EvaluationProtocol,
    json_out: Path | None,
    quiet: bool,
) -> None:
    with click.progressbar(
        length=len(folds) * len(specs), label="evaluating", hidden=quiet, file=sys.stderr
    ) as bar:
        results = run_served(table, specs, folds, registry, policy, protocol, lambda: bar.update(1))
    click.echo(served_leaderboard(results, protocol.k))
    if json_out is not None:
        json_out.write_text(json.dumps({"served": results, "k": protocol.k}, indent=2))


def _report(
    results: list[FoldResult],
    k: int,
    json_out: Path | None,
    plot_dir: Path | None,
    table: RatingTable,
    grid: tuple[str, ...],
) -> None:
    click.echo(leaderboard(results, k))
    if grid:
        for name, best in best_params(results).items():
            values = ", ".join(f"{key}={value}" for key, value in best.items())
            click.echo(f"best {name}: {values or 'defaults'}")
    if json_out is not None:
        write_json(results, k, json_out)
    if plot_dir is not None:
        for path in plot(results, table, k, plot_dir):
            click.echo(f"wrote {path}", err=True)
