"""Models: the registry, presets, and one sub-package per model family."""

from .registry import build_model, list_presets, model_spec_of, register_model, resolve_model_spec

__all__ = ["build_model", "list_presets", "model_spec_of", "register_model", "resolve_model_spec"]
