"""Model families, presets and model specs.

A family is one line in :data:`FAMILIES`: its name and where its model class lives
(``"module:Class"``), imported only when a model of that family is built, so importing
this module imports no family and no family imports this module. A model class carries
``Config`` (its config dataclass) and ``family`` (its name here).

Presets are YAML files in each family's ``presets/`` folder
(``equiformers/models/<family>/presets/<name>.yaml``); any place that takes a preset name
also takes a path to such a file or a plain dict::

    model: equiformer              # family
    description: ...               # optional, shown by ``equiformers presets``
    reference_parameters: 3531715  # optional, the paper's count (checked in tests)
    config: {num_layers: 6, ...}   # fields of the family's config dataclass
    heads: {energy: {type: graph_scalar}}   # optional, output heads by name (models/heads.py)

Example:
    >>> import equiformers
    >>> model = equiformers.build_model("equiformer-qm9", num_layers=1)
    >>> type(model).__name__, model.family
    ('Equiformer', 'equiformer')
"""

import copy
import importlib
from importlib import resources
from pathlib import Path
from typing import Any, Dict, Union

import torch
import yaml
from torch import nn

from ..errors import ConfigError
from .config import config_from_dict, config_to_dict

#: family name -> "module:Class". A new family is one line here (or one call to register_family).
FAMILIES: Dict[str, str] = {
    "equiformer": "equiformers.models.equiformer.model:Equiformer",
    "equiformer_v2": "equiformers.models.equiformer_v2.model:EquiformerV2",
    "se3_transformer": "equiformers.models.se3_transformer.model:SE3Transformer",
    "ept": "equiformers.models.ept.model:EPT",
}
_SPEC_KEYS = {"model", "description", "reference_parameters", "config", "heads"}


def register_family(name: str, target: str, overwrite: bool = False) -> None:
    """Add a family: ``target`` is ``"package.module:ClassName"`` (imported lazily)."""
    if ":" not in target:
        raise ConfigError(f"family target must look like 'package.module:Class', got {target!r}")
    if name in FAMILIES and FAMILIES[name] != target and not overwrite:
        raise ConfigError(f"model family {name!r} is already registered as {FAMILIES[name]!r}")
    FAMILIES[name] = target


def family_class(name: str) -> type:
    """The model class of family ``name`` (imports its module)."""
    if name not in FAMILIES:
        raise ConfigError(f"unknown model family {name!r}; registered: {sorted(FAMILIES)}")
    module_name, class_name = FAMILIES[name].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if getattr(cls, "family", None) != name:
        raise ConfigError(f"{FAMILIES[name]} declares family {getattr(cls, 'family', None)!r}, not {name!r}")
    return cls


def _family_package(name: str) -> str:
    """``equiformers.models.equiformer.model`` -> ``equiformers.models.equiformer``."""
    return FAMILIES[name].split(":")[0].rsplit(".", 1)[0]


def _preset_files() -> Dict[str, Any]:
    files = {}
    for family in FAMILIES:
        try:
            folder = resources.files(_family_package(family)) / "presets"
        except ModuleNotFoundError:
            continue
        if folder.is_dir():
            files.update({p.name[:-5]: p for p in folder.iterdir() if p.name.endswith(".yaml")})
    return files


def list_presets() -> Dict[str, Dict[str, Any]]:
    """All shipped presets by name, each the parsed YAML (model, description, config, ...)."""
    return {name: yaml.safe_load(path.read_text()) for name, path in sorted(_preset_files().items())}


def _split_overrides(spec: Dict[str, Any]) -> Dict[str, Any]:
    """Flat ``{field: value}`` overrides may also carry ``heads``; return them as a spec fragment."""
    heads = spec.pop("heads", None)
    config = spec.pop("config", {}) or {}
    config.update({k: v for k, v in spec.items() if k not in _SPEC_KEYS})
    out = {"config": config}
    if heads is not None:
        out["heads"] = heads
    return out


def resolve_model_spec(spec: Union[str, Path, Dict[str, Any]]) -> Dict[str, Any]:
    """Turn a preset name, YAML path or dict into ``{'model': family, 'config': {...}[, 'heads': {...}]}``.

    A dict may also be ``{'preset': NAME, <field overrides>..., 'heads': {...}}``: the preset's
    config with the given fields replaced (and its heads replaced, if given). Settings that an
    older version kept in the family config (``outputs``, ``direct_forces``, ``readout``) are
    moved to ``heads`` by the family's ``migrate_spec``.
    """
    if isinstance(spec, (str, Path)):
        presets = _preset_files()
        if str(spec) in presets:
            return _migrated(yaml.safe_load(presets[str(spec)].read_text()))
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
        spec.pop("model", None), spec.pop("description", None), spec.pop("reference_parameters", None)
        overrides = _split_overrides(spec)
        base["config"] = {**base.get("config", {}), **overrides["config"]}
        if "heads" in overrides:
            base["heads"] = overrides["heads"]
        return _migrated(base)
    if "model" not in spec:
        raise ConfigError(f"model spec needs a 'model' key naming the family (one of {sorted(FAMILIES)}) "
                          "or a 'preset' key")
    unknown = set(spec) - _SPEC_KEYS
    if unknown:
        raise ConfigError(f"unknown key(s) {sorted(unknown)} in model spec; allowed: {sorted(_SPEC_KEYS)} "
                          "(architecture fields go under 'config')")
    spec.setdefault("config", {})
    return _migrated(spec)


def _migrated(spec: Dict[str, Any]) -> Dict[str, Any]:
    cls = family_class(spec["model"]) if spec.get("model") in FAMILIES else None
    migrate = getattr(cls, "migrate_spec", None)
    return migrate(spec) if migrate is not None else spec


def build_model(spec: Union[str, Path, Dict[str, Any]] = "equiformer-qm9", **overrides) -> nn.Module:
    """Build a model from a preset name, a YAML path or a dict, with field overrides.

    ``overrides`` are config fields (and optionally ``heads=``). Returns the ``torch.nn.Module``
    (float32, random initialisation; seed with ``torch.manual_seed`` beforehand for reproducibility).
    """
    resolved = resolve_model_spec(spec)
    if overrides:
        resolved = resolve_model_spec({**resolved, "config": {**resolved.get("config", {}),
                                                               **{k: v for k, v in overrides.items()
                                                                  if k != "heads"}},
                                       **({"heads": overrides["heads"]} if "heads" in overrides else {})})
    cls = family_class(resolved["model"])
    config = config_from_dict(cls.Config, resolved.get("config", {}), where=f"{resolved['model']} config")
    return cls(config, heads=resolved.get("heads"))


def count_parameters(spec: Union[str, Path, Dict[str, Any]], **overrides) -> int:
    """Number of parameters of the model ``spec`` describes. Families that allow it are built on
    PyTorch's ``meta`` device (no weights allocated, so 100M-parameter presets count in a
    moment); others are built normally."""
    resolved = resolve_model_spec(spec)
    if family_class(resolved["model"]).supports_meta_init:
        with torch.device("meta"):
            model = build_model(resolved, **overrides)
    else:
        model = build_model(resolved, **overrides)
    return sum(p.numel() for p in model.parameters())


def graph_spec_of(spec: Union[str, Path, Dict[str, Any]]):
    """The :class:`~equiformers.data.graph.GraphSpec` of the model ``spec`` describes, without building it."""
    resolved = resolve_model_spec(spec)
    cls = family_class(resolved["model"])
    return cls.graph_for(config_from_dict(cls.Config, resolved.get("config", {}), where=f"{resolved['model']} config"))


def model_spec_of(model: nn.Module) -> Dict[str, Any]:
    """The ``{'model': family, 'config': {...}, 'heads': {...}}`` that rebuilds ``model``'s architecture."""
    return {"model": model.family, "config": config_to_dict(model.config), "heads": copy.deepcopy(model.head_specs)}
