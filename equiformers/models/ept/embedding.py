"""EPT's graph embedding layer (paper eqs. 2-5).

h_i = E_atom(a_i) + E_block(B_b(i)) [+ E_pos(p_i)]; for every atom pair (i <- j) of E_u,
[m_s, m_v] = MLP_e([h_i, h_j, RBF(d_ij), e_b(i)b(j)]); then
h_i <- MLP_n([h_i, sum_j h_j * m_s]) and V_i = mean_j (x_i - x_j) (x) m_v, the equivariant,
non-zero start of the vector features (attention and FFN only mix and rescale vectors, so
zero vectors would stay zero).
"""

from typing import Tuple

import torch
from torch import nn

from ...data.blocks import vocabulary as V
from ...ops.scatter import scatter_mean, scatter_sum
from .edges import NUM_EDGE_TYPES
from .layers import EnvelopedGaussians, safe_norm

SMALL_MOLECULE = V.position_index(V.POS_SMALL_MOLECULE)


class EPTEmbedding(nn.Module):
    """Token embeddings, pair features and the one message-passing step that initialises V.

    Shapes: atom tokens, position codes [M]; block types [M] (of each atom's block); positions
    [M, 3] Å; edges (source j, target i) [2, E] and types [E] -> h [M, d], V [M, 3, d], pair
    features [E, num_rbf + edge_channels] (for the attention's edge bias).
    """

    def __init__(self, channels: int, num_block_types: int, num_rbf: int, edge_channels: int, rbf_cutoff: float,
                 position_embedding: bool, omit_small_molecule_positions: bool = False):
        super().__init__()
        self.atom = nn.Embedding(V.NUM_ATOM_TYPES, channels)
        self.block = nn.Embedding(num_block_types, channels)
        self.position = nn.Embedding(V.NUM_POSITIONS, channels) if position_embedding else None
        self.rbf = EnvelopedGaussians(num_rbf, rbf_cutoff)
        self.edge_type = nn.Embedding(NUM_EDGE_TYPES, edge_channels)
        self.edge_mlp = nn.Sequential(nn.Linear(2 * channels + num_rbf + edge_channels, channels), nn.SiLU(),
                                      nn.Linear(channels, 2 * channels))
        self.node_mlp = nn.Sequential(nn.Linear(2 * channels, channels), nn.SiLU(), nn.Linear(channels, channels))
        self.channels = channels
        self.omit_small_molecule_positions = omit_small_molecule_positions

    def tokens(self, atom_token: torch.Tensor, block_type: torch.Tensor, position_code: torch.Tensor) -> torch.Tensor:
        """h^0 [M, d] (eq. 2)."""
        h = self.atom(atom_token) + self.block(block_type)
        if self.position is not None:
            position = self.position(position_code)
            if self.omit_small_molecule_positions:
                position = position * (position_code != SMALL_MOLECULE).unsqueeze(-1).to(position.dtype)
            h = h + position
        return h

    def forward(self, h: torch.Tensor, pos: torch.Tensor, edge_index: torch.Tensor,
                edge_type: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        src, dst = edge_index  # j, i
        rel = pos[dst] - pos[src]  # x_i - x_j, [E, 3]
        rbf = self.rbf(safe_norm(rel))
        pair = torch.cat([rbf, self.edge_type(edge_type)], dim=-1)
        m_s, m_v = self.edge_mlp(torch.cat([h[dst], h[src], pair], dim=-1)).split(self.channels, dim=-1)
        n = h.shape[0]
        h = self.node_mlp(torch.cat([h, scatter_sum(h[src] * m_s, dst, n)], dim=-1))
        vectors = scatter_mean(rel.unsqueeze(-1) * m_v.unsqueeze(-2), dst, n)  # [M, 3, d]
        return h, vectors, pair
