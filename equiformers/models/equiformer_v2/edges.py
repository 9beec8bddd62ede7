"""Per-edge quantities shared by every layer of a forward pass: frames, rotations, scalars.

Computed once per forward (the reference recomputes nothing per layer either, but keeps them as
mutable module state, ``SO3_Rotation.set_wigner``; here they travel as an immutable tuple).
"""

from typing import Dict, NamedTuple, Optional, Tuple

import torch
from torch import nn

from ...data import keys as K
from ...so3.edge_wigner import edge_rotation_matrices
from ...so3.frames import edge_frames
from ..geometry import edge_vectors


class EdgeGeometry(NamedTuple):
    """Edges of a batch as EquiformerV2 layers use them.

    Attributes:
        index: [2, E] (source, target); messages flow source -> target.
        source_type, target_type: [E] type indices of the two atoms.
        distance_basis: [E, num_distance_basis] Gaussian expansion of the length (Å).
        to_edge: [E, K, (lmax+1)²] rotation into each edge frame, m-truncated, m-major rows.
        from_edge: [E, (lmax+1)², K] rotation back, with the truncation rescale.
        envelope: [E] smooth-cutoff weights u(r / r_c) in [0, 1], or ``None`` without ``use_envelope``.
    """

    index: torch.Tensor
    source_type: torch.Tensor
    target_type: torch.Tensor
    distance_basis: torch.Tensor
    to_edge: torch.Tensor
    from_edge: torch.Tensor
    envelope: Optional[torch.Tensor] = None


def build_edge_geometry(data: Dict[str, torch.Tensor], smearing: nn.Module, lmax: int, mmax: int, roll: str,
                        dtype: torch.dtype, envelope: Optional[nn.Module] = None) -> EdgeGeometry:
    """Edge frames (differentiable in the positions, for -dE/dx), rotations and distance basis.

    ``data``: a batch with positions (Å), edges, cell shifts and atom types. ``smearing``: the
    distance basis module. ``roll``: ``fixed`` or ``random`` (see :mod:`equiformers.so3.frames`).
    ``envelope``: the smooth-cutoff module (lengths in Å -> [E]), if any.
    """
    index = data[K.EDGE_INDEX]
    vectors = edge_vectors(data, dtype)  # source - target (+ cell shift), [E, 3]
    to_edge, from_edge = edge_rotation_matrices(edge_frames(vectors, roll), lmax, mmax)
    types, lengths = data[K.ATOM_TYPE], vectors.norm(dim=-1)
    return EdgeGeometry(index, types.index_select(0, index[0]), types.index_select(0, index[1]),
                        smearing(lengths), to_edge, from_edge, envelope(lengths) if envelope is not None else None)


def pair_embeddings(num_types: int, channels: int) -> Tuple[nn.Embedding, nn.Embedding]:
    """Source and target atom-type embeddings for edge scalars, initialised U(±0.001) as the reference."""
    source, target = nn.Embedding(num_types, channels), nn.Embedding(num_types, channels)
    for embedding in (source, target):
        nn.init.uniform_(embedding.weight, -0.001, 0.001)
    return source, target


def edge_scalars(edges: EdgeGeometry, source_embedding: Optional[nn.Embedding],
                 target_embedding: Optional[nn.Embedding], shared: Optional[torch.Tensor] = None) -> torch.Tensor:
    """[E, num_distance_basis (+ 2 edge_channels)]: the distance basis, then the source and target
    embeddings (this layer's own, or ``shared`` [E, 2 edge_channels], or none)."""
    if source_embedding is not None:
        return torch.cat([edges.distance_basis, source_embedding(edges.source_type),
                          target_embedding(edges.target_type)], dim=-1)
    if shared is not None:
        return torch.cat([edges.distance_basis, shared], dim=-1)
    return edges.distance_basis
