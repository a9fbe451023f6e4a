"""Discover algorithms through the entry-point group ``movierec.algorithms``.

Built-ins are declared in movierec's own pyproject.toml exactly like third-party plugins. A plugin
that cannot be imported or does not honour the contract is logged and skipped: one bad plugin
must never take the server or a worker down.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass, is_dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

from plugins.base import CAPABILITIES, MissingDependency, Recommender, RecommenderBase
from plugins.config import build_config
from plugins.fits import FitMemo

GROUP = "movierec.algorithms"
log = logging.getLogger(__name__)


class UnknownAlgorithm(LookupError):
    """No installed (and allowed) algorithm has that name."""


@dataclass(frozen=True)
class Skipped:
    """A plugin that was found but not loaded, and why."""

    name: str
    reason: str


class Registry:
    """The loaded algorithm classes by name, plus the ones skipped and why."""

    def __init__(self, classes: Mapping[str, type[Recommender]], skipped: list[Skipped]) -> None:
        self.classes = dict(sorted(classes.items()))
        self.skipped = skipped
        # Where the models this registry makes keep their fits for reuse (None: nowhere).
        self.fits: FitMemo | None = None

    def names(self) -> list[str]:
        """Names of the loaded algorithms, sorted."""
        return list(self.classes)

    def get(self, name: str) -> type[Recommender]:
        """The class registered as ``name``."""
        try:
            return self.classes[name]
        except KeyError:
            for skipped in self.skipped:
                if skipped.name == name:
                    raise UnknownAlgorithm(
                        f"algorithm {name!r} is installed but cannot load: {skipped.reason}"
                    ) from None
            known = ", ".join(self.classes) or "none"
            raise UnknownAlgorithm(f"unknown algorithm {name!r} (installed: {known})") from None

    def create(self, name: str, params: Mapping[str, Any] | None = None) -> Recommender:
        """A new, unfitted instance of ``name`` configured with ``params``."""
        return self.get(name)(params or {}, self)

    def load(self, name: str, directory: Path) -> Recommender:
        """The model of ``name`` saved in ``directory``."""
        return self.get(name).load(directory, self)


def discover(allow: Collection[str] | None = None) -> Registry:
    """Load every plugin of the entry-point group (only those in ``allow`` when given)."""
    classes: dict[str, type[Recommender]] = {}
    skipped: list[Skipped] = []
    for entry in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        if allow is not None and entry.name not in allow:
            continue
        try:
            classes[entry.name] = load_plugin(entry)
        except Exception as error:  # log and skip: any failure of third-party code
            skipped.append(Skipped(entry.name, f"{type(error).__name__}: {error}"))
            _report_once(entry, error)
    return Registry(classes, skipped)


_REPORTED: set[str] = set()


def _report_once(entry: EntryPoint, error: Exception) -> None:
    """Log a skipped plugin once per process (registries are made often): a missing optional
    dependency is information (its message says what to install), any other failure a
    warning."""
    if entry.name in _REPORTED:
        return
    _REPORTED.add(entry.name)
    if isinstance(error, MissingDependency):
        log.info("algorithm %s not available: %s", entry.name, error)
    else:
        log.warning("skipping algorithm plugin %s (%s): %s", entry.name, entry.value, error)


def load_plugin(entry: EntryPoint) -> type[Recommender]:
    """Import an entry point's class and check it against the contract."""
    plugin = entry.load()
    validate_plugin_class(plugin, entry.name)
    return plugin  # type: ignore[no-any-return]


def validate_plugin_class(plugin: Any, name: str) -> None:
    """Raise ``TypeError`` unless ``plugin`` is a usable algorithm class registered as ``name``:
    its instances implement ``Recommender``, and a ``RecommenderBase`` implements its hooks."""
    if not isinstance(plugin, type):
        raise TypeError(f"{plugin!r} is not a class")
    if getattr(plugin, "name", None) != name:
        raise TypeError(f"class name attribute differs from entry point {name!r}")
    capabilities = set(getattr(plugin, "capabilities", ()))
    if not capabilities or capabilities - CAPABILITIES:
        raise TypeError(f"capabilities must be a non-empty subset of {sorted(CAPABILITIES)}")
    config_class = getattr(plugin, "config_class", None)
    if not (isinstance(config_class, type) and is_dataclass(config_class)):
        raise TypeError("config_class must be a dataclass")
    build_config(config_class, {})  # every parameter needs a default
    missing = _missing_members(plugin({}))
    if missing:
        raise TypeError(f"instances lack {', '.join(missing)} of plugins.base.Recommender")
    if issubclass(plugin, RecommenderBase) and (
        plugin._fit is RecommenderBase._fit or plugin._score is RecommenderBase._score
    ):
        raise TypeError("a plugin must implement _fit and _score")


def _missing_members(instance: Any) -> list[str]:
    """The members of ``Recommender`` that ``instance`` lacks (none when it implements it)."""
    if isinstance(instance, Recommender):
        return []
    members = [name for name in vars(Recommender) if not name.startswith("_")]
    members += list(Recommender.__annotations__)
    return sorted({name for name in members if not hasattr(instance, name)})
