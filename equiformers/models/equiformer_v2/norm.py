"""Equivariant layer norms on the sphere layout [N, (lmax+1)², C] (the reference's ``layer_norm.py``).

All three normalise by statistics over channels (and orders m), which are rotation invariants,
and scale degree l > 0 without a bias (a bias would break equivariance):

``layer_norm``: every degree separately: l = 0 centred, then each degree divided by its RMS
    (mean over m and channels); weight [lmax+1, C], bias [C] on l = 0.
``layer_norm_sh`` (separable layer norm, the released models): ``nn.LayerNorm`` on l = 0; one RMS
    over all l > 0 where degree l is weighted by 1/((2l+1) lmax), so every degree counts
    equally and the relative size of the degrees survives; weight [lmax, C].
``rms_norm_sh``: centre l = 0, then one degree-balanced RMS (weights 1/((2l+1)(lmax+1))) over
    all degrees; weight [lmax+1, C], bias [C] on l = 0. EquiformerV3 calls it ``merge_layer_norm``
    (accepted as an alias), and ``merge_rms_norm`` is the same without centring and bias.

Parameter names and shapes are the reference's (``affine_weight``, ``affine_bias``, ``norm_l0``).
"""

import functools

import torch
from torch import nn

from ...so3.coefficients import degree_of_coefficients
from .sphere import constant_buffer


def _balance_weights(lmax: int, first_degree: int, dtype, device) -> torch.Tensor:
    """[(lmax+1)² - first_degree²]: 1/((2l+1) * number of degrees) for each coefficient from degree
    ``first_degree`` on, so that a weighted sum of squares is a mean over degrees of per-degree means."""
    degrees = torch.tensor(degree_of_coefficients(lmax)[first_degree ** 2:], dtype=torch.float64)
    weights = 1.0 / ((2 * degrees + 1) * (lmax + 1 - first_degree))
    return weights.to(dtype=dtype, device=device)


class EquivariantLayerNorm(nn.Module):
    """``layer_norm``: per-degree normalisation. Shapes: [N, (lmax+1)², C] -> same."""

    def __init__(self, lmax: int, channels: int, eps: float = 1e-5):
        super().__init__()
        self.lmax, self.channels, self.eps = lmax, channels, eps
        self.affine_weight = nn.Parameter(torch.ones(lmax + 1, channels))
        self.affine_bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = []
        for l in range(self.lmax + 1):
            feature = x[:, l * l:(l + 1) ** 2, :]
            if l == 0:
                feature = feature - feature.mean(dim=2, keepdim=True)
            inv_rms = (feature.pow(2).mean(dim=(1, 2), keepdim=True) + self.eps).rsqrt()  # [N, 1, 1]
            feature = feature * (inv_rms * self.affine_weight[l])
            if l == 0:
                feature = feature + self.affine_bias
            out.append(feature)
        return torch.cat(out, dim=1)


class SeparableLayerNorm(nn.Module):
    """``layer_norm_sh``: LayerNorm on l = 0, one balanced RMS over l > 0. Shapes: [N, (lmax+1)², C] -> same."""

    def __init__(self, lmax: int, channels: int, eps: float = 1e-5):
        super().__init__()
        self.lmax, self.channels, self.eps = lmax, channels, eps
        self.norm_l0 = nn.LayerNorm(channels, eps=eps)
        self.affine_weight = nn.Parameter(torch.ones(lmax, channels))
        constant_buffer(self, "balance_degree_weight", functools.partial(_balance_weights, lmax, 1))
        self.register_buffer("expand_index", torch.tensor(degree_of_coefficients(lmax)[1:]) - 1, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scalars = self.norm_l0(x[:, :1, :])
        vectors = x[:, 1:, :]
        # Σ_i w_i x_i² over coefficients, mean over channels: [N, 1, 1]
        mean_square = torch.einsum("nic,i->nc", vectors.pow(2), self.balance_degree_weight).mean(dim=1)
        inv_rms = (mean_square + self.eps).rsqrt()[:, None, None]
        weight = self.affine_weight.index_select(0, self.expand_index)  # [(lmax+1)² - 1, C]
        return torch.cat([scalars, vectors * inv_rms * weight], dim=1)


class SeparableRMSNorm(nn.Module):
    """``rms_norm_sh``: centre l = 0, one balanced RMS over all degrees. Shapes: [N, (lmax+1)², C] -> same.

    ``centering=False`` (``merge_rms_norm``): no centring of l = 0 and no bias.
    """

    def __init__(self, lmax: int, channels: int, eps: float = 1e-5, centering: bool = True):
        super().__init__()
        self.lmax, self.channels, self.eps, self.centering = lmax, channels, eps, centering
        self.affine_weight = nn.Parameter(torch.ones(lmax + 1, channels))
        self.affine_bias = nn.Parameter(torch.zeros(channels)) if centering else None
        constant_buffer(self, "balance_degree_weight", functools.partial(_balance_weights, lmax, 0))
        self.register_buffer("expand_index", torch.tensor(degree_of_coefficients(lmax)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.centering:
            scalars = x[:, :1, :]
            x = torch.cat([scalars - scalars.mean(dim=2, keepdim=True), x[:, 1:, :]], dim=1)
        mean_square = torch.einsum("nic,i->nc", x.pow(2), self.balance_degree_weight).mean(dim=1)
        inv_rms = (mean_square + self.eps).rsqrt()[:, None, None]
        out = x * inv_rms * self.affine_weight.index_select(0, self.expand_index)
        if self.affine_bias is None:
            return out
        return torch.cat([out[:, :1, :] + self.affine_bias, out[:, 1:, :]], dim=1)


NORMS = {"layer_norm": EquivariantLayerNorm, "layer_norm_sh": SeparableLayerNorm, "rms_norm_sh": SeparableRMSNorm,
         "merge_layer_norm": SeparableRMSNorm,
         "merge_rms_norm": functools.partial(SeparableRMSNorm, centering=False)}


def build_norm(norm_type: str, lmax: int, channels: int) -> nn.Module:
    """The norm named ``norm_type`` (one of :data:`NORMS`) for [N, (lmax+1)², channels] features."""
    return NORMS[norm_type](lmax, channels)
