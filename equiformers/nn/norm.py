"""Equivariant layer normalisation (Equiformer's ``EquivariantLayerNormV2``)."""

import torch
from e3nn import o3
from torch import nn

from ..ops.irreps import SCALAR


class EquivariantLayerNorm(nn.Module):
    """Normalise each (multiplicity, degree) block of a node's features separately.

    For a block ``x`` of shape [C, 2l+1]: ``0e`` blocks are centred over channels
    first; then ``x / sqrt(mean_c mean_m x^2 + eps)`` times a learnable weight
    per channel, plus a bias for ``0e`` blocks. Statistics are computed in at
    least float32 (never in half precision).

    Shapes: [N, irreps.dim] -> [N, irreps.dim].

    Example:
        >>> ln = EquivariantLayerNorm("4x0e+2x1e")
        >>> ln(torch.randn(5, 10)).shape
        torch.Size([5, 10])
    """

    def __init__(self, irreps, eps: float = 1e-5):
        super().__init__()
        self.irreps, self.eps = o3.Irreps(irreps), eps
        self.weight = nn.Parameter(torch.ones(self.irreps.num_irreps))
        self.bias = nn.Parameter(torch.zeros(sum(mul for mul, ir in self.irreps if ir == SCALAR)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        in_dtype = x.dtype
        if in_dtype in (torch.float16, torch.bfloat16):
            x = x.float()
        fields, iw, ib = [], 0, 0
        chunks = x.split([mul * ir.dim for mul, ir in self.irreps], dim=-1)
        for (mul, ir), chunk in zip(self.irreps, chunks):
            field = chunk.reshape(-1, mul, ir.dim)
            if ir == SCALAR:
                field = field - field.mean(dim=1, keepdim=True)
            inv_rms = (field.pow(2).mean(dim=(1, 2), keepdim=True) + self.eps).rsqrt()
            field = field * inv_rms * self.weight[iw:iw + mul].view(1, mul, 1)
            iw += mul
            if ir == SCALAR:
                field = field + self.bias[ib:ib + mul].view(1, mul, 1)
                ib += mul
            fields.append(field.reshape(-1, mul * ir.dim))
        return torch.cat(fields, dim=-1).to(in_dtype)

    def extra_repr(self) -> str:
        return f"{self.irreps}, eps={self.eps}"
