"""Depth-wise tensor products of node features with edge spherical harmonics."""

from typing import Optional

import torch
from e3nn import o3
from torch import nn

from ..ops.irreps import SCALAR, sort_even_first
from ..so3.constants import declare_e3nn_wigner_3j
from .frame_product import FramedProductLinear
from .linear import EquivariantLinear
from .radial_mlp import RadialMLP


class DepthwiseTensorProduct(nn.Module):
    """Channel-wise ("uvu") tensor product ``x ⊗ Y(r̂)`` without channel mixing.

    Each input channel is combined with each spherical-harmonic degree
    independently; an output degree is kept when it appears in
    ``irreps_target`` or is ``0e``. Built on :class:`e3nn.o3.TensorProduct`
    with component irrep normalisation and no path normalisation, as in the
    Equiformer reference.

    Args:
        irreps_in: node/edge feature irreps.
        irreps_sh: spherical-harmonic irreps.
        irreps_target: which output irreps to keep (multiplicities ignored).
        internal_weights: learn one weight per path and channel (shared by all
            edges) instead of taking per-edge weights in ``forward``.

    Shapes: x [E, irreps_in.dim], sh [E, irreps_sh.dim], weight
    [E, weight_numel] -> [E, irreps_out.dim] where ``irreps_out`` is sorted but
    not simplified (one entry per path).

    Example:
        >>> tp = DepthwiseTensorProduct("4x0e+2x1e", "1x0e+1x1e", "1x0e+1x1e")
        >>> tp.irreps_out
        4x0e+2x0e+4x1e+2x1e+2x1e
        >>> tp(torch.randn(3, 10), torch.randn(3, 4), torch.randn(3, tp.weight_numel)).shape
        torch.Size([3, 30])
    """

    def __init__(self, irreps_in, irreps_sh, irreps_target, internal_weights: bool = False):
        super().__init__()
        self.irreps_in, self.irreps_sh = o3.Irreps(irreps_in), o3.Irreps(irreps_sh)
        target = o3.Irreps(irreps_target)
        irreps_out, instructions = [], []
        for i, (mul, ir_in) in enumerate(self.irreps_in):
            for j, (_, ir_sh) in enumerate(self.irreps_sh):
                for ir_out in ir_in * ir_sh:
                    if ir_out in target or ir_out == SCALAR:
                        instructions.append((i, j, len(irreps_out), "uvu", True))
                        irreps_out.append((mul, ir_out))
        self.irreps_out, perm = sort_even_first(o3.Irreps(irreps_out))
        instructions = [(i, j, perm[k], mode, train) for i, j, k, mode, train in instructions]
        self.tp = o3.TensorProduct(
            self.irreps_in, self.irreps_sh, self.irreps_out, instructions,
            irrep_normalization="component", path_normalization="none",
            internal_weights=internal_weights, shared_weights=internal_weights,
        )
        declare_e3nn_wigner_3j(self.tp)  # exact Clebsch-Gordan buffers after .double() (so3.rebuild_constants)
        self.weight_numel = self.tp.weight_numel

    def forward(self, x: torch.Tensor, sh: torch.Tensor, weight: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.tp(x, sh, weight)


class SeparableTensorProduct(nn.Module):
    """Depth-wise tensor product followed by an equivariant linear layer.

    The "depth-wise then point-wise" factorisation (Equiformer's
    ``SeparableFCTP``). With ``radial_widths`` the depth-wise weights come from a
    radial MLP of the edge-length features; without, they are learned per path.

    Shapes: x [E, irreps_in.dim], sh [E, irreps_sh.dim], edge_scalars
    [E, radial_widths[0]] -> [E, irreps_out.dim].
    """

    def __init__(self, irreps_in, irreps_sh, irreps_out, radial_widths=None):
        super().__init__()
        self.dtp = DepthwiseTensorProduct(irreps_in, irreps_sh, irreps_out,
                                          internal_weights=radial_widths is None)
        self.radial = RadialMLP(list(radial_widths) + [self.dtp.weight_numel]) if radial_widths else None
        self.linear = EquivariantLinear(self.dtp.irreps_out.simplify(), irreps_out)
        self.in_frame = FramedProductLinear(self.dtp, [self.linear])
        self.irreps_in, self.irreps_out = self.dtp.irreps_in, self.linear.irreps_out

    def forward(self, x: torch.Tensor, sh: torch.Tensor, edge_scalars: Optional[torch.Tensor] = None) -> torch.Tensor:
        weight = self.radial(edge_scalars) if self.radial is not None else None
        return self.linear(self.dtp(x, sh, weight))

    def forward_frame(self, x, edge_scalars: Optional[torch.Tensor] = None):
        """The same map on edge-frame blocks (one [E, 2l+1, mul] per entry of ``irreps_in``) ->
        blocks per entry of ``irreps_out`` (:class:`~equiformers.nn.frame_product.FramedProductLinear`)."""
        weight = self.radial(edge_scalars) if self.radial is not None else self.dtp.tp.weight
        return self.in_frame(x, [self.linear], weight)[0]
