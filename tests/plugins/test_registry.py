"""The registry's contract checks and configuration parsing."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import EntryPoint

import pytest

from plugins.algorithms.baseline import Baseline
from plugins.base import RecommenderBase
from plugins.config import ConfigError, build_config, parse_assignments
from plugins.registry import GROUP, UnknownAlgorithm, discover, load_plugin, validate_plugin_class
from plugins.testing import structured_ratings


def test_allow_list_limits_what_loads() -> None:
    assert discover(allow={"svd", "baseline"}).names() == ["baseline", "svd"]
    with pytest.raises(UnknownAlgorithm, match="unknown algorithm 'als'"):
        discover(allow={"svd"}).get("als")


def test_entry_point_that_cannot_import_raises_for_the_registry_to_skip() -> None:
    with pytest.raises(ModuleNotFoundError):
        load_plugin(EntryPoint("ghost", "no_such_module:Ghost", GROUP))


def test_class_must_match_its_entry_point_name() -> None:
    with pytest.raises(TypeError, match="differs from entry point"):
        validate_plugin_class(Baseline, "svd")
    with pytest.raises(TypeError, match="not a class"):
        validate_plugin_class(Baseline(), "baseline")


@dataclass(frozen=True)
class NoParameters:
    """A configuration without parameters."""


class HalfRecommender:
    """Has a name, capabilities and a configuration, but not the methods the server calls."""

    name = "half"
    version = "1"
    capabilities = frozenset({"rank"})
    config_class = NoParameters

    def __init__(self, config: object = None, registry: object = None) -> None:
        self.config = config

    def fit(self, ratings: object, options: object = None) -> HalfRecommender:
        return self


def test_a_class_lacking_part_of_the_recommender_protocol_is_rejected() -> None:
    with pytest.raises(TypeError, match=r"lack .*recommend.* of plugins.base.Recommender"):
        validate_plugin_class(HalfRecommender, "half")


def test_a_class_implementing_the_protocol_need_not_derive_from_the_base() -> None:
    class Delegating(HalfRecommender):
        """Implements every member of the protocol by delegating to a baseline."""

        name = "delegating"

        def __getattr__(self, member: str) -> object:
            return getattr(Baseline(), member)

    validate_plugin_class(Delegating, "delegating")


def test_composite_plugins_find_components_in_the_registry_that_made_them() -> None:
    registry = discover(allow={"hybrid", "ease"})  # als, a default component, not allowed
    hybrid = registry.create("hybrid")
    assert hybrid.registry is registry  # type: ignore[attr-defined]
    train, _ = structured_ratings(users=20, movies=30, per_user=8)
    with pytest.raises(UnknownAlgorithm, match="unknown algorithm 'als'"):
        hybrid.fit(train)
    allowed = discover(allow={"hybrid", "content", "als"}).create(
        "hybrid", {"components": "0.5*content+0.5*als"}
    )
    assert len(allowed.fit(train).recommend(int(train.user_ids[0]), 5)) == 5


def test_plugin_without_defaults_is_rejected() -> None:
    @dataclass(frozen=True)
    class NeedsValue:
        size: int

    class NoDefaults(RecommenderBase[NeedsValue]):
        name = "no-defaults"
        config_class = NeedsValue

        def _fit(self, ratings, options):  # type: ignore[no-untyped-def]
            pass

        def _score(self, state, items):  # type: ignore[no-untyped-def]
            return items

    with pytest.raises(TypeError):
        validate_plugin_class(NoDefaults, "no-defaults")


def test_config_values_are_converted_and_checked() -> None:
    config = build_config(Baseline.config_class, parse_assignments("epochs=3,method=sgd,reg=0.1"))
    assert (config.epochs, config.method, config.reg) == (3, "sgd", 0.1)
    with pytest.raises(ConfigError, match="unknown parameter 'epoch'"):
        build_config(Baseline.config_class, {"epoch": "3"})
    with pytest.raises(ConfigError, match="expected one of als, sgd"):
        build_config(Baseline.config_class, {"method": "newton"})
    with pytest.raises(ConfigError, match="expected an integer"):
        build_config(Baseline.config_class, {"epochs": 2.5})
    with pytest.raises(ConfigError, match="epochs must be >= 1"):
        build_config(Baseline.config_class, {"epochs": 0})
    with pytest.raises(ConfigError, match="expected name=value"):
        parse_assignments("epochs")
