"""The EquiformerV2 transformer block (the reference's ``TransBlockV2``): pre-norm, two residual branches.

    x <- x + DropPath(ProjDrop(Attention(norm_1 x)))
    x <- x + DropPath(ProjDrop(FFN(norm_2 x)))

Shapes: [N, (lmax+1)², C] -> same.
"""

from typing import Optional

import torch
from torch import nn

from ...nn import GraphDropPath
from .attention import SO2EquivariantGraphAttention
from .config import EquiformerV2Config
from .edges import EdgeGeometry
from .ffn import FeedForwardNetwork
from .norm import build_norm


class ChannelDropout(nn.Module):
    """Dropout of whole channels of each atom (all (lmax+1)² coefficients together, so it is
    equivariant). Shapes: [N, (lmax+1)², C] -> same; identity in eval mode."""

    def __init__(self, drop_prob: float):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.drop_prob == 0.0:
            return x
        keep = 1.0 - self.drop_prob
        return x * torch.bernoulli(x.new_full((x.shape[0], 1, x.shape[2]), keep)) / keep


class TransBlockV2(nn.Module):
    """One block; parameter names as the reference (``norm_1``, ``ga``, ``norm_2``, ``ffn``)."""

    def __init__(self, config: EquiformerV2Config, num_types: int):
        super().__init__()
        c = config
        self.norm_1 = build_norm(c.norm_type, c.lmax, c.sphere_channels)
        self.ga = SO2EquivariantGraphAttention(c, num_types, c.sphere_channels, c.alpha_drop,
                                               own_pair_embedding=c.use_atom_edge_embedding
                                               and not c.share_atom_edge_embedding)
        self.norm_2 = build_norm(c.norm_type, c.lmax, c.sphere_channels)
        self.ffn = FeedForwardNetwork(c, c.sphere_channels)
        self.drop_path = GraphDropPath(c.drop_path_rate) if c.drop_path_rate > 0 else None
        self.proj_drop = ChannelDropout(c.proj_drop) if c.proj_drop > 0 else None

    def _regularise(self, x: torch.Tensor, batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
        if self.drop_path is not None:
            x = self.drop_path(x.flatten(1), batch, num_graphs).view_as(x)
        if self.proj_drop is not None:
            x = self.proj_drop(x)
        return x

    def forward(self, x: torch.Tensor, edges: EdgeGeometry, batch: torch.Tensor, num_graphs: int,
                shared_pair: Optional[torch.Tensor] = None) -> torch.Tensor:
        x = x + self._regularise(self.ga(self.norm_1(x), edges, shared_pair), batch, num_graphs)
        return x + self._regularise(self.ffn(self.norm_2(x)), batch, num_graphs)
