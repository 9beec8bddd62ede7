"""Atomic data: structures as ``Dict[str, Tensor]``, neighbour lists, batching, datasets."""

from . import keys
from .atomic_data import AtomicData, from_arrays, from_ase
from .batching import collate, to_device
from .neighbors import neighbor_list

__all__ = ["AtomicData", "collate", "from_arrays", "from_ase", "keys", "neighbor_list", "to_device"]
