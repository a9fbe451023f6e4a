"""``exploding``: loads like any plugin, then raises in ``fit``: a worker must record the failed
version and keep serving every other algorithm."""

from __future__ import annotations

from dataclasses import dataclass

from plugins.base import FitOptions, IndexArray, RecommenderBase, UserState
from plugins.data import FloatArray, Ratings


@dataclass(frozen=True)
class ExplodingConfig:
    """Nothing to configure."""


class Exploding(RecommenderBase[ExplodingConfig]):
    """Fails every fit."""

    name = "exploding"
    version = "1"
    capabilities = frozenset({"rank"})
    config_class = ExplodingConfig

    def _fit(self, ratings: Ratings, options: FitOptions) -> None:
        raise RuntimeError("this plugin always fails to train")

    def _score(self, state: UserState, items: IndexArray) -> FloatArray:
        raise RuntimeError("never fitted")
