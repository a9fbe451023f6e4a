"""The import directions of docs/architecture.md: plugins import neither server nor workers; server
never imports workers; migrations/env.py imports only server.db and server.models."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def top_level(modules: set[str]) -> set[str]:
    return {module.split(".")[0] for module in modules}


@pytest.mark.parametrize(
    ("package", "forbidden"), [("plugins", {"server", "workers"}), ("server", {"workers"})]
)
def test_packages_respect_import_directions(package: str, forbidden: set[str]) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files
    offenders = {
        str(f.relative_to(ROOT)): top_level(imported_modules(f)) & forbidden for f in files
    }
    assert {f: bad for f, bad in offenders.items() if bad} == {}


def test_migrations_env_imports_only_db_and_models() -> None:
    ours = {
        m
        for m in imported_modules(ROOT / "migrations" / "env.py")
        if top_level({m}) <= {"server", "plugins", "workers"}
    }
    assert ours == {"server.db", "server.models"}


def modules_under(*parts: str) -> list[Path]:
    files = sorted((ROOT.joinpath(*parts)).rglob("*.py"))
    assert files, parts
    return files


@pytest.mark.parametrize(
    "room",
    [("server", "services"), ("server", "serving"), ("server", "cache"), ("workers",)],
)
def test_services_serving_cache_and_workers_import_no_flask(room: tuple[str, ...]) -> None:
    offenders = {
        str(f.relative_to(ROOT)): bad
        for f in modules_under(*room)
        if (bad := top_level(imported_modules(f)) & {"flask", "flask_login", "flask_wtf"})
    }
    assert offenders == {}


def api_view_modules() -> set[str]:
    """The modules of server/api that define a blueprint (views), as dotted names."""
    return {
        ".".join(f.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for f in modules_under("server", "api")
        if "Blueprint(" in f.read_text()
    }


def test_web_and_cli_import_no_api_view_module() -> None:
    views = api_view_modules()
    assert {"server.api", "server.api.ratings", "server.api.recommendations"} <= views
    offenders = {
        str(f.relative_to(ROOT)): bad
        for f in [*modules_under("server", "web"), *modules_under("server", "cli")]
        if (bad := imported_modules(f) & views)
    }
    assert offenders == {}


def entry_point_modules() -> set[Path]:
    """The files that may import the CLI: its own modules, the ``__main__`` modules, and the
    modules pyproject.toml names as entry points of commands."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    named = [*pyproject["project"]["scripts"].values()]
    named += pyproject["project"]["entry-points"]["movierec.commands"].values()
    files = {ROOT / (value.split(":")[0].replace(".", "/") + ".py") for value in named}
    files |= set(modules_under("server", "cli"))
    return files | {ROOT / "server" / "__main__.py", ROOT / "workers" / "__main__.py"}


def test_nothing_imports_the_cli_but_the_entry_points() -> None:
    allowed = entry_point_modules()
    offenders = {
        str(f.relative_to(ROOT))
        for package in ("server", "workers", "plugins", "benchmarks")
        for f in modules_under(package)
        if f not in allowed
        and any(m == "server.cli" or m.startswith("server.cli.") for m in imported_modules(f))
    }
    assert offenders == set()
