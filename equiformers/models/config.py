"""Typed model configs: dataclasses that reject unknown keys and say which key is wrong."""

import dataclasses
import difflib
import typing
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
    hints = typing.get_type_hints(cls)
    values = {key: _coerce(value, hints[key], f"{where}: {key}") for key, value in values.items()}
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


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Check ``value`` against a field's type; numbers written as strings (PyYAML reads ``1e-3``
    as a string) become numbers. Raises :class:`ConfigError` naming the key on a mismatch."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Union:
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, option, where)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[-1] if errors else f"{where}: invalid value {value!r}")
    if annotation is Any:
        return value
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where} must be true or false, got {value!r}")
    if annotation in (int, float):
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise ConfigError(f"{where} must be a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        if annotation is int:
            if float(value) != int(value):
                raise ConfigError(f"{where} must be an integer, got {value!r}")
            return int(value)
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return value
    if origin in (list, typing.List):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        return [_coerce(v, args[0], where) for v in value] if args else list(value)
    return value
