"""The import directions of docs/architecture.md: plugins import neither server nor workers; server
never imports workers; migrations/env.py imports only server.db and server.models."""

from __future__ import annotations

import ast
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
