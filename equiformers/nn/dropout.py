"""Regularisers that respect equivariance: graph drop-path and irrep-wise dropout."""

import torch
from e3nn import o3
from torch import nn


class GraphDropPath(nn.Module):
    """Stochastic depth per graph: zero a residual branch for whole graphs in a batch.

    Shapes: x [N, F], batch [N] -> [N, F]. Identity in eval mode.
    """

    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor, batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
        if not self.training or self.drop_prob == 0.0:
            return x
        keep = 1.0 - self.drop_prob
        mask = torch.bernoulli(x.new_full((num_graphs, 1), keep)) / keep
        return x * mask[batch]

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob}"


class EquivariantDropout(nn.Module):
    """Dropout of whole irreps (all 2l+1 components of a channel at once).

    Shapes: [N, irreps.dim] -> [N, irreps.dim]. Identity in eval mode.
    """

    def __init__(self, irreps, drop_prob: float):
        super().__init__()
        self.irreps, self.drop_prob = o3.Irreps(irreps), drop_prob
        index = torch.cat([torch.arange(mul).repeat_interleave(ir.dim) + offset
                           for offset, (mul, ir) in zip(_offsets(self.irreps), self.irreps)])
        self.register_buffer("component_to_irrep", index, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.drop_prob == 0.0:
            return x
        keep = 1.0 - self.drop_prob
        mask = torch.bernoulli(x.new_full((x.shape[0], self.irreps.num_irreps), keep)) / keep
        return x * mask[:, self.component_to_irrep]


def _offsets(irreps: o3.Irreps):
    offsets, total = [], 0
    for mul, _ in irreps:
        offsets.append(total)
        total += mul
    return offsets
