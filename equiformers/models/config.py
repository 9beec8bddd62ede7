"""Typed model configs: dataclasses that reject unknown keys and say which key is wrong."""

import dataclasses
import difflib
from typing import Any, Dict, Type, TypeVar

from ..errors import ConfigError

C = TypeVar("C")


def config_from_dict(cls: Type[C], values: Dict[str, Any], where: str = "model config") -> C:
    """Build dataclass ``cls`` from ``values``; unknown keys raise :class:`ConfigError`.

    Example:
        >>> from equiformers.models.equiformer import EquiformerConfig
        >>> config_from_dict(EquiformerConfig, {"num_layer": 2})
        Traceback (most recent call last):
        ...
        equiformers.errors.ConfigError: unknown key 'num_layer' in model config (did you mean 'num_layers'?)
    """
    if not isinstance(values, dict):
        raise ConfigError(f"{where} must be a mapping of keys to values, got {type(values).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    for key in values:
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f"; known keys: {sorted(names)}"
            raise ConfigError(f"unknown key {key!r} in {where}{hint}")
    try:
        config = cls(**values)
    except TypeError as err:
        raise ConfigError(f"invalid {where}: {err}") from None
    validate = getattr(config, "validate", None)
    if validate is not None:
        validate()
    return config


def config_to_dict(config) -> Dict[str, Any]:
    """Plain-dict form of a config dataclass (YAML/JSON/checkpoint friendly)."""
    return dataclasses.asdict(config)
