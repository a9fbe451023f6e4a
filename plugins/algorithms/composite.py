"""What ``hybrid`` and ``gbm`` share: component models found by name in the registry the owner runs
in (so the server's allow-list holds for them too), fitted on the same data (so dense indices
agree), saved in sub-directories, and asked for per-user states."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from plugins.base import RecommenderBase, UserState
from plugins.config import ConfigError
from plugins.registry import Registry, discover

Component = RecommenderBase[Any]


def parse_weights(text: str) -> dict[str, float]:
    """``"0.2*content+0.8*als"`` -> ``{"content": 0.2, "als": 0.8}`` (a bare name weighs 1)."""
    weights: dict[str, float] = {}
    for term in filter(None, (part.strip() for part in text.split("+"))):
        weight, star, name = term.rpartition("*")
        try:
            weights[name.strip()] = float(weight) if star else 1.0
        except ValueError:
            raise ConfigError(f"expected weight*name terms joined by +, got {term!r}") from None
    if not weights or min(weights.values()) < 0:
        raise ConfigError("give at least one component with a weight >= 0")
    return weights


def parse_names(text: str) -> list[str]:
    """``"svd+knn-item"`` -> ``["svd", "knn-item"]``."""
    names = [name.strip() for name in text.split("+") if name.strip()]
    if not names:
        raise ConfigError("give at least one component")
    return names


def create_components(owner: Component, names: list[str]) -> list[Component]:
    """Unfitted instances (with defaults) of the named algorithms."""
    registry = _registry_of(owner, names)
    return [_component(registry.create(name)) for name in names]


def component_states(
    components: list[Component], owner: Component, state: UserState
) -> list[UserState]:
    """Each component's state for the user that ``state`` describes in the owner's data."""
    if state.index is not None:
        user = int(owner.data.user_ids[state.index])
        return [component.user_state(user) for component in components]
    movies = owner.data.movie_ids[state.rated]
    signalled = owner.data.movie_ids[state.signal_items]
    return [
        component.fold_in(movies, state.stars, signalled, state.signal_weights)
        if "fold_in" in component.capabilities
        else component.empty_state()
        for component in components
    ]


def save_components(components: list[Component], directory: Path) -> None:
    """Each component in ``directory/components/<position>-<name>``."""
    for position, component in enumerate(components):
        component.save(directory / "components" / f"{position}-{component.name}")


def load_components(owner: Component, names: list[str], directory: Path) -> list[Component]:
    """Components saved by ``save_components``."""
    registry = _registry_of(owner, names)
    return [
        _component(registry.load(name, directory / "components" / f"{position}-{name}"))
        for position, name in enumerate(names)
    ]


def _registry_of(owner: Component, names: list[str]) -> Registry:
    """The registry ``owner`` was made by; every installed plugin for one made directly."""
    if owner.registry is not None:
        return owner.registry
    return discover(set(names))


def _component(model: object) -> Component:
    """Components are scored through the base class's hooks, so they must derive from it."""
    if not isinstance(model, RecommenderBase):
        raise ConfigError(f"{type(model).__name__} cannot be a component: not a RecommenderBase")
    return model
