"""Model files: architecture + weights + metadata in one file, written atomically.

``model.pt`` is what ``evaluate``, ``predict`` and the Python API load. It holds
only tensors and plain values, so it loads with ``torch.load(weights_only=True)``.
Lightning's training checkpoints (``*.ckpt``) carry the same entry and load too.
"""

from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import torch
from torch import nn

from .. import __version__
from ..data.cache import atomic_torch_save
from ..errors import CheckpointError, EquiformersError
from ..models.registry import build_model, family_class, model_spec_of, resolve_model_spec

FORMAT = "equiformers-model"
#: 2: backbone + named heads + output scaling (version 1: one module per family with ``head``)
FORMAT_VERSION = 2


def model_record(model: nn.Module, **metadata) -> Dict[str, Any]:
    """Everything needed to rebuild ``model``: spec, weights and user metadata."""
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "equiformers_version": __version__,
            "model": model_spec_of(model),
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "metadata": metadata}


def save_model(model: nn.Module, path: Union[str, Path], **metadata) -> Path:
    """Write ``model`` (and JSON-like ``metadata``) to ``path`` atomically."""
    path = Path(path)
    atomic_torch_save(model_record(model, **metadata), path)
    return path


def read_model_record(path: Path) -> Dict[str, Any]:
    """The model record of a model file or a Lightning checkpoint (spec, weights, metadata)."""
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(f"{path} is not a readable equiformers checkpoint ({type(err).__name__}: "
                              f"{str(err).splitlines()[0] if str(err) else ''})") from None
    if isinstance(obj, dict) and "equiformers" in obj:  # a Lightning training checkpoint
        obj = obj["equiformers"]
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an equiformers model file (no '{FORMAT}' record); "
                              "was it written by another program?")
    if obj.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{path} was written by a newer equiformers ({obj.get('equiformers_version')})")
    return obj


def load_model(path: Union[str, Path], family: Optional[str] = None,
               map_location: Union[str, torch.device] = "cpu") -> Tuple[nn.Module, Dict[str, Any]]:
    """Rebuild the model saved at ``path``; returns ``(model in eval mode, metadata)``.

    Args:
        family: if given, the checkpoint must hold a model of this family
            (e.g. ``"equiformer"``), otherwise :class:`CheckpointError`.
    """
    path = Path(path)
    record = read_model_record(path)
    spec, state = record["model"], record["state_dict"]
    if family is not None and spec.get("model") != family:
        raise CheckpointError(f"{path} holds a {spec.get('model')!r} model, not {family!r}")
    try:
        if record.get("format_version", 1) < 2:
            spec, state = _from_version_1(spec, state)
        model = build_model(spec)
    except EquiformersError as err:
        raise CheckpointError(f"{path}: cannot rebuild its model: {err}") from None
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise CheckpointError(f"{path}: weights do not fit the {spec.get('model')} architecture it names "
                              f"({str(err).splitlines()[0]})") from None
    return model.to(map_location).eval(), record.get("metadata", {})


def _from_version_1(spec: Dict[str, Any], state: Dict[str, torch.Tensor]):
    """A version-1 spec and state dict in today's layout (through the family's migration hooks)."""
    spec = resolve_model_spec(spec)
    migrate = getattr(family_class(spec["model"]), "migrate_state_dict", None)
    if migrate is None:
        raise CheckpointError(f"the {spec['model']} family cannot read version-1 model files")
    return spec, migrate(state, spec["heads"])
