"""Batching variable-size graphs into one disjoint graph."""

from typing import List, Union

import torch

from . import keys as K
from .atomic_data import AtomicData


def collate(graphs: List[AtomicData]) -> AtomicData:
    """Concatenate graphs: atoms and edges are stacked, edge indices offset, a ``batch``
    vector and ``ptr`` offsets added. Graph-level fields get one row per graph.

    Example:
        >>> from ase.build import molecule
        >>> from equiformers.data import from_ase
        >>> b = collate([from_ase(molecule("H2O"), 5.0), from_ase(molecule("CH4"), 5.0)])
        >>> b["batch"].tolist(), b["num_atoms"].tolist()
        ([0, 0, 0, 1, 1, 1, 1, 1], [3, 5])
    """
    if not graphs:
        raise ValueError("cannot collate an empty list of graphs")
    num_atoms = torch.cat([g[K.NUM_ATOMS] for g in graphs])
    ptr = torch.cat([num_atoms.new_zeros(1), num_atoms.cumsum(0)])
    out: AtomicData = {K.NUM_ATOMS: num_atoms, K.PTR: ptr,
                       K.BATCH: torch.repeat_interleave(torch.arange(len(graphs)), num_atoms)}
    out[K.EDGE_INDEX] = torch.cat([g[K.EDGE_INDEX] + ptr[i] for i, g in enumerate(graphs)], dim=1)
    for key in graphs[0]:
        if key in out:
            continue
        values = [g[key] for g in graphs]
        out[key] = torch.cat(values, dim=0)
    return out


def to_device(data: AtomicData, device: Union[str, torch.device], dtype: torch.dtype = None) -> AtomicData:
    """Move every tensor to ``device``; floating tensors are cast to ``dtype`` if given."""
    out = {}
    for key, value in data.items():
        if dtype is not None and value.is_floating_point():
            value = value.to(dtype)
        out[key] = value.to(device)
    return out
