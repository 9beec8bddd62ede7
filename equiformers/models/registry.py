"""Model registry and presets.

A model family registers itself with :func:`register_model` (its name, its config
dataclass). Presets are YAML files in ``equiformers/models/presets/``; any place
that takes a preset name also takes a path to such a YAML file or a plain dict::

    model: equiformer            # registered model family
    description: ...             # optional, shown by ``equiformers presets``
    reference_parameters: 3531715  # optional, the paper's count (checked in tests)
    config: {num_layers: 6, ...} # fields of the family's config dataclass

Example:
    >>> import equiformers
    >>> model = equiformers.build_model("equiformer-qm9", num_layers=1)
    >>> type(model).__name__
    'Equiformer'
"""

import copy
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Dict, Tuple, Union

import yaml
from torch import nn

from ..errors import ConfigError
from .config import config_from_dict, config_to_dict

_FAMILIES: Dict[str, Tuple[type, Callable]] = {}
_PRESET_DIR = "presets"


def register_model(name: str, config_cls: type) -> Callable:
    """Class decorator: register a model family built as ``cls(config_cls(...))``."""

    def wrap(model_cls):
        _FAMILIES[name] = (config_cls, model_cls)
        model_cls.family_name = name
        return model_cls

    return wrap


def model_families() -> Dict[str, Tuple[type, Callable]]:
    _ensure_families_imported()
    return dict(_FAMILIES)


def _ensure_families_imported() -> None:
    from . import equiformer  # noqa: F401  (registers itself)


def _preset_files() -> Dict[str, Any]:
    folder = resources.files("equiformers.models") / _PRESET_DIR
    return {p.name[:-5]: p for p in folder.iterdir() if p.name.endswith(".yaml")}


def list_presets() -> Dict[str, Dict[str, Any]]:
    """All shipped presets by name, each the parsed YAML (model, description, config, ...)."""
    return {name: yaml.safe_load(path.read_text()) for name, path in sorted(_preset_files().items())}


def resolve_model_spec(spec: Union[str, Path, Dict[str, Any]]) -> Dict[str, Any]:
    """Turn a preset name, YAML path or dict into ``{'model': family, 'config': {...}}``.

    A dict may also be ``{'preset': NAME, <overrides>...}``: the preset's config
    with the given fields replaced.
    """
    if isinstance(spec, (str, Path)):
        presets = _preset_files()
        if str(spec) in presets:
            return yaml.safe_load(presets[str(spec)].read_text())
        path = Path(spec)
        if path.suffix in (".yaml", ".yml") or path.exists():
            if not path.is_file():
                raise ConfigError(f"model config file not found: {path}")
            return resolve_model_spec(yaml.safe_load(path.read_text()) or {})
        raise ConfigError(f"unknown model preset {str(spec)!r}; available presets: {sorted(presets)} "
                          "(or give a path to a model YAML file)")
    if not isinstance(spec, dict):
        raise ConfigError(f"a model spec must be a preset name, a YAML path or a mapping, got {spec!r}")
    spec = copy.deepcopy(spec)
    if "preset" in spec:
        base = resolve_model_spec(spec.pop("preset"))
        overrides = spec.pop("config", {})
        overrides.update({k: v for k, v in spec.items() if k not in ("model", "description")})
        base["config"] = {**base.get("config", {}), **overrides}
        return base
    if "model" not in spec:
        raise ConfigError("model spec needs a 'model' key naming the family "
                          f"(one of {sorted(model_families())}) or a 'preset' key")
    spec.setdefault("config", {})
    return spec


def build_model(spec: Union[str, Path, Dict[str, Any]] = "equiformer-qm9", **overrides) -> nn.Module:
    """Build a model from a preset name, a YAML path or a dict, with field overrides.

    Returns the ``torch.nn.Module`` (float32, random initialisation; seed with
    ``torch.manual_seed`` beforehand for reproducibility).
    """
    resolved = resolve_model_spec(spec)
    family = resolved["model"]
    families = model_families()
    if family not in families:
        raise ConfigError(f"unknown model family {family!r}; registered: {sorted(families)}")
    config_cls, model_cls = families[family]
    values = {**resolved.get("config", {}), **overrides}
    return model_cls(config_from_dict(config_cls, values, where=f"{family} config"))


def model_spec_of(model: nn.Module) -> Dict[str, Any]:
    """The ``{'model': family, 'config': {...}}`` that rebuilds ``model``'s architecture."""
    return {"model": model.family_name, "config": config_to_dict(model.config)}
