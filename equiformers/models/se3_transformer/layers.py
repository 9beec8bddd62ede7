"""Node-wise layers of the SE(3)-Transformer: self-interaction, norm non-linearity, graph pooling.

All work on the per-degree layout ``{degree: [M, C_l, 2l+1]}`` (see :mod:`.fiber`).
"""

from typing import Dict

import torch
from torch import nn

from ...errors import ConfigError
from ...ops.scatter import scatter_max, scatter_mean, scatter_sum
from .fiber import Features, Fiber

POOLINGS = ("max", "mean", "sum")


class LinearSE3(nn.Module):
    """Self-interaction (Fuchs' ``G1x1SE3``, NVIDIA's ``LinearSE3``): channel mixing per degree, no bias.

    ``out_l = W_l x_l`` with ``W_l`` [C_out, C_in] initialised ``N(0, 1/C_in)``; every output degree
    must be an input degree (a linear map cannot create a degree).

    Shapes: ``{l: [M, C_in_l, 2l+1]}`` -> ``{l: [M, C_out_l, 2l+1]}``.

    Example:
        >>> lin = LinearSE3(Fiber.of({0: 3, 1: 2}), Fiber.of({1: 4}))
        >>> lin({0: torch.randn(5, 3, 1), 1: torch.randn(5, 2, 3)})[1].shape
        torch.Size([5, 4, 3])
    """

    def __init__(self, fiber_in: Fiber, fiber_out: Fiber):
        super().__init__()
        missing = [d for d in fiber_out.degrees if d not in fiber_in]
        if missing:
            raise ConfigError(f"a self-interaction cannot create degrees {missing} (input fiber {fiber_in})")
        self.fiber_in, self.fiber_out = fiber_in, fiber_out
        self.weights = nn.ParameterList(nn.Parameter(torch.randn(c, fiber_in[d]) / fiber_in[d] ** 0.5)
                                        for d, c in fiber_out)

    def forward(self, x: Features) -> Features:
        return {d: w @ x[d] for (d, _), w in zip(self.fiber_out, self.weights)}

    def forward_heads(self, x: Features, num_heads: int) -> Features:
        """Head ``h`` of the output (rows ``h C_out/H .. (h+1) C_out/H``) reads ``x[l][:, h]``.

        Shapes: ``{l: [M, H, C_in_l, 2l+1]}`` -> ``{l: [M, C_out_l, 2l+1]}``. With H = 1 this is
        :meth:`forward`. Used to apply the Efficient SE(3)-Transformer's channel mixing U after the
        per-head attention sum (eqs. 24-25).
        """
        out = {}
        for (d, c), w in zip(self.fiber_out, self.weights):
            w_heads = w.view(num_heads, c // num_heads, -1)  # [H, C_out/H, C_in]
            out[d] = torch.einsum("hoi,mhik->mhok", w_heads, x[d]).reshape(x[d].shape[0], c, 2 * d + 1)
        return out


class NormSE3(nn.Module):
    """Norm non-linearity (Fuchs' ``GNormSE3``, NVIDIA's ``NormSE3``): ``ReLU(LN(|x|)) x / |x|``.

    Per degree, the norms of the C_l channels (each over its 2l+1 components) pass a LayerNorm
    over the channels and a ReLU; the directions are kept. Norms are clamped at 2^-24 (NVIDIA's
    ``NORM_CLAMP``) so a zero vector stays zero. NVIDIA fuses the LayerNorms into one GroupNorm
    when all degrees have the same channels: the same function and parameters.

    Shapes: ``{l: [M, C_l, 2l+1]}`` -> same.
    """

    NORM_CLAMP = 2.0 ** -24

    def __init__(self, fiber: Fiber):
        super().__init__()
        self.fiber = fiber
        self.norms = nn.ModuleList(nn.LayerNorm(c) for _, c in fiber)

    def forward(self, x: Features) -> Features:
        out = {}
        for (d, _), norm in zip(self.fiber, self.norms):
            length = x[d].norm(dim=-1, keepdim=True).clamp(min=self.NORM_CLAMP)  # [M, C, 1]
            scale = torch.relu(norm(length.squeeze(-1))).unsqueeze(-1)
            out[d] = x[d] / length * scale
        return out


def graph_pool(x: torch.Tensor, batch: torch.Tensor, num_graphs: int, mode: str) -> torch.Tensor:
    """Per-graph ``max`` / ``mean`` / ``sum`` of node rows: [N, C] -> [B, C] (Fuchs' ``GMaxPooling`` etc.).

    An empty graph has nothing to pool; its row is 0 for every mode (not ``-inf``).
    """
    if mode == "max":
        pooled = scatter_max(x, batch, num_graphs)
        return torch.where(torch.isfinite(pooled), pooled, torch.zeros_like(pooled))
    if mode == "mean":
        return scatter_mean(x, batch, num_graphs)
    if mode == "sum":
        return scatter_sum(x, batch, num_graphs)
    raise ConfigError(f"pooling must be one of {POOLINGS}, got {mode!r}")


def concatenate(first: Features, second: Dict[int, torch.Tensor]) -> Features:
    """Fuchs' ``GCat``: per degree of ``first``, its channels then ``second``'s (when it has the degree)."""
    return {d: torch.cat([x, second[d]], dim=-2) if d in second else x for d, x in first.items()}
