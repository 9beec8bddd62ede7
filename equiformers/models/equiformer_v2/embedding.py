"""Edge-degree embedding (the reference's ``EdgeDegreeEmbedding``): initial l > 0 node features.

A radial function of each edge's scalars gives the **m = 0** coefficients (every degree l ≤ lmax,
every channel) in the edge frame; the other orders are zero. Rotated back to the global frame
(with the truncation rescale) this is Σ_l c_l(r) Y_l(û)-like per edge; the sum over the edges
entering each atom is divided by ``avg_degree`` (a plain division, not a square root as in
Equiformer V1). With ``use_envelope`` each edge's term is multiplied by the envelope (EquiformerV3).

Shapes: edges -> [N, (lmax+1)², C].
"""

from typing import Optional

import torch
from torch import nn

from ...ops.scatter import scatter_sum
from .config import EquiformerV2Config
from .edges import EdgeGeometry, edge_scalars, pair_embeddings
from .radial import RadialFunction


class EdgeDegreeEmbedding(nn.Module):
    """Parameter names as the reference (``source_embedding``, ``target_embedding``, ``rad_func``)."""

    def __init__(self, config: EquiformerV2Config, num_types: int, avg_degree: float, own_pair_embedding: bool):
        super().__init__()
        c = config
        self.lmax, self.channels, self.rescale_factor = c.lmax, c.sphere_channels, float(avg_degree)
        self.source_embedding, self.target_embedding = (pair_embeddings(num_types, c.edge_channels)
                                                        if own_pair_embedding else (None, None))
        radial_in = c.num_distance_basis + (2 * c.edge_channels if c.use_atom_edge_embedding else 0)
        self.rad_func = RadialFunction([radial_in, c.edge_channels, c.edge_channels, (c.lmax + 1) * c.sphere_channels])

    def forward(self, edges: EdgeGeometry, num_atoms: int, shared_pair: Optional[torch.Tensor] = None) -> torch.Tensor:
        scalars = edge_scalars(edges, self.source_embedding, self.target_embedding, shared_pair)
        m0 = self.rad_func(scalars).reshape(-1, self.lmax + 1, self.channels)  # [E, lmax+1, C]: (l, m=0)
        if edges.envelope is not None:  # smooth cutoff: each edge's contribution fades out at r_c
            m0 = m0 * edges.envelope[:, None, None]
        # The m = 0 coefficients are the first lmax+1 of the m-major edge layout; the zero orders
        # would only multiply zeros, so only those columns of the rotation back are used.
        messages = edges.from_edge[:, :, :self.lmax + 1] @ m0  # [E, (lmax+1)², C]
        return scatter_sum(messages, edges.index[1], num_atoms) / self.rescale_factor
