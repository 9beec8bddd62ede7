"""Edge geometry from atomic data, shared by all models.

Edge vectors are recomputed from positions inside the model so that forces
(-dE/dx) and stresses flow through them by autograd.
"""

from typing import Dict

import torch

from ..data import keys as K


def edge_vectors(data: Dict[str, torch.Tensor], dtype: torch.dtype = None) -> torch.Tensor:
    """Vectors from target to source atom of every edge, [E, 3] in Å, in ``dtype``.

    ``pos[src] - pos[dst] + shift @ cell``, where ``shift`` holds the integer
    lattice translations of periodic images (zero for molecules). The cast to
    the model's dtype is differentiable, so gradients reach the input positions.
    """
    pos = data[K.POSITIONS]
    pos = pos.to(dtype) if dtype is not None else pos
    src, dst = data[K.EDGE_INDEX][0], data[K.EDGE_INDEX][1]
    vec = pos[src] - pos[dst]
    shift = data.get(K.EDGE_CELL_SHIFT)
    if shift is not None and shift.numel() > 0:
        cell = data[K.CELL][data[K.BATCH][dst]]  # [E, 3, 3]
        vec = vec + torch.einsum("ei,eij->ej", shift.to(vec.dtype), cell.to(vec.dtype))
    return vec


def num_graphs(data: Dict[str, torch.Tensor]) -> int:
    return int(data[K.NUM_ATOMS].shape[0])

