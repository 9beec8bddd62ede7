"""Model files: architecture + weights + metadata in one file, written atomically.

``model.pt`` is what ``evaluate``, ``predict`` and the Python API load. It holds
only tensors and plain values, so it loads with ``torch.load(weights_only=True)``.
Lightning's training checkpoints (``*.ckpt``) carry the same entry and load too.

fairchem 1.x EquiformerV2 checkpoints (the ``{"config", "state_dict", "normalizers", ...}`` files its
trainer writes, OC20/OC22/OMat24 ``eqV2_*`` included) load too: they are converted on reading by
:mod:`equiformers.models.equiformer_v2.fairchem`. Files that hold Python objects besides tensors and
plain values are refused unless the caller trusts them (``allow_pickle=True`` or the environment
variable ``EQUIFORMERS_ALLOW_PICKLE=1``): unpickling can run arbitrary code.

Integrity: the record stores a SHA-256 of its weights (names, dtypes, shapes, bytes), checked at
load time, so a file damaged after it was written is refused; so are weights holding NaN or inf
(a diverged run's export) and weights that do not fit the architecture the file names.
"""

import hashlib
import os
import warnings
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import torch
from torch import nn

from .. import __version__
from ..data.cache import atomic_torch_save
from ..errors import CheckpointError, ConfigError, EquiformersError, EquiformersWarning
from ..models.registry import build_model, family_class, model_spec_of, resolve_model_spec

FORMAT = "equiformers-model"
#: 2: backbone + named heads + output scaling (version 1: one module per family with ``head``)
FORMAT_VERSION = 2
#: set to 1 to let every load unpickle files that need more than tensors (only for trusted files)
ALLOW_PICKLE_ENV = "EQUIFORMERS_ALLOW_PICKLE"


def weights_checksum(state: Dict[str, torch.Tensor]) -> str:
    """SHA-256 of a state dict: every tensor's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def seal(record: Dict[str, Any]) -> Dict[str, Any]:
    """Store the checksum of ``record["state_dict"]`` in the record (call after changing the weights)."""
    record["weights_sha256"] = weights_checksum(record["state_dict"])
    return record


def model_record(model: nn.Module, **metadata) -> Dict[str, Any]:
    """Everything needed to rebuild ``model``: spec, weights (with their checksum) and user metadata."""
    return seal({"format": FORMAT, "format_version": FORMAT_VERSION, "equiformers_version": __version__,
                 "model": model_spec_of(model),
                 "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                 "metadata": metadata})


def check_weights(path: Path, record: Dict[str, Any]) -> None:
    """:class:`CheckpointError` if the weights changed since they were written or are not finite."""
    state = record.get("state_dict")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} has no weights (its 'state_dict' entry is missing or not tensors)")
    stored = record.get("weights_sha256")
    if stored is not None and stored != weights_checksum(state):
        raise CheckpointError(f"{path} is corrupt: its weights do not match the checksum stored when it was "
                              "written (the file was changed or damaged since)")
    bad = [name for name, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise CheckpointError(f"{path} holds non-finite weights (NaN or inf in {', '.join(bad[:3])}{more}): "
                              "the training run that wrote it diverged; use an earlier checkpoint")


def save_model(model: nn.Module, path: Union[str, Path], **metadata) -> Path:
    """Write ``model`` (and JSON-like ``metadata``) to ``path`` atomically."""
    path = Path(path)
    atomic_torch_save(model_record(model, **metadata), path)
    return path


def read_model_record(path: Path, allow_pickle: Optional[bool] = None) -> Dict[str, Any]:
    """The model record of a model file, a Lightning checkpoint or a fairchem EquiformerV2 checkpoint
    (spec, weights, metadata). ``allow_pickle``: unpickle files that hold Python objects besides
    tensors and plain values (default: ``EQUIFORMERS_ALLOW_PICKLE=1`` in the environment); only for
    files from a source you trust."""
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if allow_pickle is None:
        allow_pickle = os.environ.get(ALLOW_PICKLE_ENV, "") == "1"
    try:
        obj = torch.load(path, map_location="cpu", weights_only=not allow_pickle)
    except Exception as err:
        detail = str(err).splitlines()[0] if str(err) else ""
        if "Weights only load failed" in detail:  # torch's advice there is about code, not about damage
            raise CheckpointError(
                f"{path} is not a readable equiformers checkpoint as it is: it holds Python objects besides tensors "
                "and plain values, and unpickling them could run arbitrary code. If it is a checkpoint from another "
                "program (e.g. fairchem) and you trust its source, load it with load_model(path, allow_pickle=True) "
                f"or set {ALLOW_PICKLE_ENV}=1") from None
        raise CheckpointError(f"{path} is not a readable equiformers checkpoint: truncated, damaged or not a "
                              f"model file ({type(err).__name__}: {detail})") from None
    if isinstance(obj, dict) and "equiformers" in obj:  # a Lightning training checkpoint
        obj = obj["equiformers"]
    from ..models.equiformer_v2 import fairchem

    if fairchem.is_fairchem_checkpoint(obj):
        return _from_fairchem(path, obj, fairchem)
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an equiformers model file (no '{FORMAT}' record); "
                              "was it written by another program?")
    if obj.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{path} was written by a newer equiformers ({obj.get('equiformers_version')})")
    if not isinstance(obj.get("model"), dict):
        raise CheckpointError(f"{path} does not say which model it holds (no 'model' entry)")
    check_weights(path, obj)
    return obj


def load_model(path: Union[str, Path], family: Optional[str] = None,
               map_location: Union[str, torch.device] = "cpu",
               allow_pickle: Optional[bool] = None) -> Tuple[nn.Module, Dict[str, Any]]:
    """Rebuild the model saved at ``path``; returns ``(model in eval mode, metadata)``.

    ``path`` may also be a fairchem 1.x EquiformerV2 checkpoint (converted, see
    :mod:`equiformers.models.equiformer_v2.fairchem`).

    Args:
        family: if given, the checkpoint must hold a model of this family
            (e.g. ``"equiformer"``), otherwise :class:`CheckpointError`.
        allow_pickle: see :func:`read_model_record` (only for files from a trusted source).
    """
    path = Path(path)
    record = read_model_record(path, allow_pickle)
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


def _from_fairchem(path: Path, checkpoint: Dict[str, Any], fairchem) -> Dict[str, Any]:
    """The model record of a fairchem EquiformerV2 checkpoint (converted; its dropped heads warned)."""
    try:
        model, metadata = fairchem.model_from_fairchem_checkpoint(checkpoint)
    except (ConfigError, EquiformersError) as err:
        raise CheckpointError(f"{path} is a fairchem checkpoint that cannot be converted: {err}") from None
    for head, reason in metadata["dropped_heads"].items():
        warnings.warn(f"{path}: fairchem head {head!r} left out ({reason})", EquiformersWarning, stacklevel=3)
    return model_record(model, **metadata)


def _from_version_1(spec: Dict[str, Any], state: Dict[str, torch.Tensor]):
    """A version-1 spec and state dict in today's layout (through the family's migration hooks)."""
    spec = resolve_model_spec(spec)
    migrate = getattr(family_class(spec["model"]), "migrate_state_dict", None)
    if migrate is None:
        raise CheckpointError(f"the {spec['model']} family cannot read version-1 model files")
    return spec, migrate(state, spec["heads"])
