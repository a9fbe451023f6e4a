"""Recommender algorithms as plugins: the contract, registry, built-in algorithms and evaluation.

Pure code on numpy/scipy data: nothing here imports ``server`` or ``workers``. The contract a
plugin implements, and what the server relies on, is re-exported here.
"""

from plugins.base import (
    CAPABILITIES,
    Capability,
    FitOptions,
    NotFitted,
    Ranked,
    Recommender,
    RecommenderBase,
    Unsupported,
    UserState,
)
from plugins.data import Ratings
from plugins.registry import Registry, UnknownAlgorithm, discover

__all__ = [
    "CAPABILITIES",
    "Capability",
    "FitOptions",
    "NotFitted",
    "Ranked",
    "Ratings",
    "Recommender",
    "RecommenderBase",
    "Registry",
    "UnknownAlgorithm",
    "Unsupported",
    "UserState",
    "discover",
]
