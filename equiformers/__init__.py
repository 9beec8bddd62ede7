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
__all__ = ["EquiformersError", "build_model", "data", "list_presets", "__version__"]
