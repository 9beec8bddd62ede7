"""equiformers: E(3)/SE(3)-equivariant transformers for 3D atomistic systems.

Example:
    >>> import equiformers
    >>> "equiformer-qm9" in equiformers.list_presets()
    True
"""

from . import data
from .errors import EquiformersError
from .models import build_model, list_presets

__version__ = "0.1.0"
__all__ = ["EquiformersError", "build_model", "data", "list_presets", "load_model", "__version__"]


def load_model(path, family=None, map_location="cpu", allow_pickle=None):
    """A model file (ours, a Lightning checkpoint, or a fairchem 1.x EquiformerV2 checkpoint) as
    ``(model in eval mode, metadata)``; see :func:`equiformers.training.checkpoint.load_model`."""
    from .training.checkpoint import load_model as _load  # training imports Lightning: only when used

    return _load(path, family, map_location, allow_pickle)
