"""Models: the contract (:class:`AtomisticModel`), heads, the registry and presets, and one
sub-package per model family (imported lazily by the registry)."""

from .base import AtomisticModel
from .registry import (FAMILIES, build_model, count_parameters, family_class, list_presets, model_spec_of,
                       register_family, resolve_model_spec)

__all__ = ["AtomisticModel", "FAMILIES", "build_model", "count_parameters", "family_class", "list_presets",
           "model_spec_of", "register_family", "resolve_model_spec"]
