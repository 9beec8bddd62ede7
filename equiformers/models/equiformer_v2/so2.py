"""SO(2) convolution (eSCN) on edge-frame features in the m-major truncated layout.

In a frame where the edge lies along y, a rotation about the edge turns each pair of
coefficients (+m, -m) of a degree like a complex number e^{imθ}. A linear map commutes with
those rotations iff, for each m, it mixes (degree, channel) within the order m as a complex
multiplication: with x_+ and x_- the +m and -m coefficients (all degrees l ≥ m and channels
flattened),

    y_+ = W_r x_+ - W_i x_-,      y_- = W_r x_- + W_i x_+,

and for m = 0 any real linear map (with bias: m = 0 coefficients are invariant). Rotating into the
frame, applying this, and rotating back is SO(3)-equivariant and costs O(L³) instead of a full
Clebsch-Gordan tensor product's O(L⁶).

Parameter names and layouts are the reference's (``fc_m0``, ``so2_m_conv.{m-1}.fc`` with
``[W_r; W_i]`` stacked on the output axis, ``rad_func``), so its weights load unchanged.
"""

import math
from typing import List, Optional, Tuple

import torch
from torch import nn

from ...so3.coefficients import m_sizes
from .radial import RadialFunction


class SO2MConvolution(nn.Module):
    """The complex-multiplication map of one order m > 0.

    ``fc``: Linear((lmax-m+1) C_in -> 2 (lmax-m+1) C_out), no bias, rows [W_r; W_i], scaled by 1/√2
    at initialisation. Shapes: [E, 2, (lmax-m+1) C_in] (+m then -m) -> [E, 2 (lmax-m+1), C_out].
    """

    def __init__(self, m: int, in_channels: int, out_channels: int, lmax: int):
        super().__init__()
        self.m, self.out_channels = m, out_channels
        self.degrees = degrees = lmax - m + 1
        self.fc = nn.Linear(degrees * in_channels, 2 * degrees * out_channels, bias=False)
        with torch.no_grad():
            self.fc.weight.mul_(1 / math.sqrt(2))  # two terms add up in each output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(x)  # [E, 2, 2 D]: [x_± W_rᵀ | x_± W_iᵀ]
        real, imag = y.chunk(2, dim=-1)
        plus = real[:, 0] - imag[:, 1]  # W_r x_+ - W_i x_-
        minus = real[:, 1] + imag[:, 0]  # W_r x_- + W_i x_+
        # (explicit sizes, not -1: an edge-less batch has 0 rows)
        return torch.stack([plus, minus], dim=1).reshape(x.shape[0], 2 * self.degrees, self.out_channels)


class SO2Convolution(nn.Module):
    """SO(2) convolution for all orders m ≤ mmax, optionally modulated by a radial function.

    Args:
        in_channels, out_channels: channels per coefficient in and out.
        lmax, mmax: degrees and kept orders of the m-major layout.
        radial_channels: widths ``[edge scalars, hidden, hidden]`` of the radial MLP whose output
            multiplies the inputs elementwise (per degree and channel, shared by ±m); ``None`` for
            a convolution without distance dependence (the reference's ``internal_weights``).
        extra_m0_channels: additional invariant outputs of the m = 0 map (attention logits, gate
            scalars), returned separately.

    Shapes: x [E, K, in] (m-major), edge_scalars [E, radial_channels[0]] ->
    y [E, K, out] (and extra [E, extra_m0_channels] if requested).
    """

    def __init__(self, in_channels: int, out_channels: int, lmax: int, mmax: int,
                 radial_channels: Optional[List[int]] = None, extra_m0_channels: int = 0):
        super().__init__()
        self.in_channels, self.out_channels, self.lmax, self.mmax = in_channels, out_channels, lmax, mmax
        self.sizes = m_sizes(lmax, mmax)
        self.extra_m0_channels = extra_m0_channels
        self.fc_m0 = nn.Linear(self.sizes[0] * in_channels, self.sizes[0] * out_channels + extra_m0_channels)
        self.so2_m_conv = nn.ModuleList(SO2MConvolution(m, in_channels, out_channels, lmax)
                                        for m in range(1, mmax + 1))
        # One radial weight per input (degree, channel) of every order's map.
        radial_out = sum(size * in_channels for size in self.sizes)
        self.rad_func = RadialFunction(list(radial_channels) + [radial_out]) if radial_channels is not None else None

    def forward(self, x: torch.Tensor, edge_scalars: Optional[torch.Tensor] = None
                ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        num_edges = x.shape[0]
        radial = self.rad_func(edge_scalars) if self.rad_func is not None else None
        blocks = torch.split(x, [self.sizes[0]] + [2 * s for s in self.sizes[1:]], dim=1)
        radial_parts = (torch.split(radial, [s * self.in_channels for s in self.sizes], dim=1)
                        if radial is not None else [None] * len(self.sizes))

        x0 = blocks[0].reshape(num_edges, self.sizes[0] * self.in_channels)
        if radial is not None:
            x0 = x0 * radial_parts[0]
        y0 = self.fc_m0(x0)
        extra = y0[:, :self.extra_m0_channels] if self.extra_m0_channels else None
        out = [y0[:, self.extra_m0_channels:].reshape(num_edges, self.sizes[0], self.out_channels)]
        for m, conv in enumerate(self.so2_m_conv, start=1):
            xm = blocks[m].reshape(num_edges, 2, self.sizes[m] * self.in_channels)  # (+m | -m) x (degree, channel)
            if radial is not None:
                xm = xm * radial_parts[m].unsqueeze(1)
            out.append(conv(xm))
        return torch.cat(out, dim=1), extra
