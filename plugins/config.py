"""Typed plugin configuration: dataclasses with defaults, built from mappings or ``k=v`` text."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

ConfigT = TypeVar("ConfigT")


class ConfigError(ValueError):
    """A parameter that the algorithm does not have, or a value of the wrong type."""


def build_config(config_class: type[ConfigT], values: Mapping[str, Any]) -> ConfigT:
    """An instance of ``config_class`` from ``values``; strings are converted to the field type."""
    fields = {field.name: field for field in dataclasses.fields(config_class)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(config_class)
    unknown = sorted(set(values) - set(fields))
    if unknown:
        known = ", ".join(sorted(fields)) or "none"
        raise ConfigError(f"unknown parameter {unknown[0]!r} (known: {known})")
    converted = {name: _convert(name, value, hints[name]) for name, value in values.items()}
    config = config_class(**converted)
    validate = getattr(config, "validate", None)
    if callable(validate):
        validate()
    return config


def config_dict(config: object) -> dict[str, Any]:
    """A JSON-ready dict of a config instance."""
    return dataclasses.asdict(config)  # type: ignore[call-overload, no-any-return]


def parse_assignments(text: str) -> dict[str, str]:
    """``"n_factors=100,lr=0.007"`` -> ``{"n_factors": "100", "lr": "0.007"}``."""
    values: dict[str, str] = {}
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        name, equals, value = part.partition("=")
        if not equals or not name.strip():
            raise ConfigError(f"expected name=value, got {part!r}")
        values[name.strip()] = value.strip()
    return values


def _convert(name: str, value: Any, hint: Any) -> Any:
    """Convert ``value`` to the annotated type (``int``, ``float``, ``bool``, ``str``, a Literal,
    or any of those or None)."""
    options = (
        typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else ()
    )
    if options:
        empty = value is None or (isinstance(value, str) and value.lower() in ("none", ""))
        if empty and type(None) in options:
            return None
        hint = next(option for option in options if option is not type(None))
    try:
        return _convert_one(value, hint)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{name}: {error}") from None


def _convert_one(value: Any, hint: Any) -> Any:
    if typing.get_origin(hint) is typing.Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(map(str, choices))}, got {value!r}")
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        text = str(value).lower()
        if text not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"expected true or false, got {value!r}")
        return text in ("true", "1", "yes")
    if hint is int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(f"expected an integer, got {value!r}")
        return int(value)
    if hint is float:
        if isinstance(value, bool):
            raise ValueError(f"expected a number, got {value!r}")
        return float(value)
    if hint is str:
        return str(value)
    raise TypeError(f"unsupported parameter type {hint!r}")
