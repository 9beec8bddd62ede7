"""Feed-forward network on node features (the reference's ``FeedForwardNetwork``).

``so3_linear_1`` (C -> hidden per degree) -> activation -> ``so3_linear_2`` (hidden -> output).
The activation is, by the config's switches:

``use_grid_mlp`` (released models): to the S² grid, a bias-free Linear-SiLU-Linear-SiLU-Linear on
    the channels at every grid point, back; with ``use_sep_s2_act`` the l = 0 output is replaced
    by ``scalar_mlp`` = SiLU(Linear(l = 0 input)) (separable).
otherwise ``use_gate_act``: gate with scalars ``gating_linear``(l = 0 input) [lmax * hidden];
otherwise separable S² activation (scalars from ``gating_linear``) or plain S² activation.
``use_swiglu_s2`` (EquiformerV3's gated SwiGLU grid MLP, before all others): on the grid
    [A | B] = ``grid_linear_1``(G), R = ``grid_linear_2``((A * γ) * B) with γ = sigmoid(``gating_linear``
    (l = 0 input)) per channel; back to coefficients, the l = 0 output gets SwiGLU(``scalar_mlp``(l = 0
    input)) added. One bilinear product, exact on a grid with ≥ 3 lmax + 1 points per angle.

Shapes: [N, (lmax+1)², C] -> [N, (lmax+1)², output_channels].
"""

import torch
from torch import nn

from ...so3.coefficients import sphere_size
from .activation import GateActivation, S2Activation, SeparableS2Activation, SphereGrid
from .config import EquiformerV2Config
from .sphere import SO3Linear


class FeedForwardNetwork(nn.Module):
    """See the module docstring. Parameter names are the reference's."""

    def __init__(self, config: EquiformerV2Config, output_channels: int):
        super().__init__()
        c, hidden = config, config.ffn_hidden_channels
        self.use_grid_mlp, self.use_gate_act, self.use_sep_s2_act = c.use_grid_mlp, c.use_gate_act, c.use_sep_s2_act
        self.so3_linear_1 = SO3Linear(c.sphere_channels, hidden, c.lmax)
        every_coefficient = range(sphere_size(c.lmax))
        self.scalar_mlp = self.gating_linear = None
        self.use_swiglu_s2 = c.use_swiglu_s2
        if c.use_swiglu_s2:
            self.scalar_mlp = nn.Linear(c.sphere_channels, 2 * hidden)  # SwiGLU: SiLU(first half) * second half
            self.gating_linear = nn.Linear(c.sphere_channels, hidden)
            self.grid = SphereGrid(c.lmax, c.lmax, c.ffn_grid(), every_coefficient)
            self.grid_linear_1 = nn.Linear(hidden, 2 * hidden, bias=False)
            self.grid_linear_2 = nn.Linear(hidden, hidden, bias=False)
        elif c.use_grid_mlp:
            if c.use_sep_s2_act:
                self.scalar_mlp = nn.Sequential(nn.Linear(c.sphere_channels, hidden), nn.SiLU())
            self.grid = SphereGrid(c.lmax, c.lmax, c.ffn_grid(), every_coefficient)
            self.grid_mlp = nn.Sequential(nn.Linear(hidden, hidden, bias=False), nn.SiLU(),
                                          nn.Linear(hidden, hidden, bias=False), nn.SiLU(),
                                          nn.Linear(hidden, hidden, bias=False))
        elif c.use_gate_act:
            self.gating_linear = nn.Linear(c.sphere_channels, c.lmax * hidden)
            self.gate_act = GateActivation(c.lmax, hidden, every_coefficient)
        else:
            grid = SphereGrid(c.lmax, c.lmax, c.ffn_grid(), every_coefficient)
            if c.use_sep_s2_act:
                self.gating_linear = nn.Linear(c.sphere_channels, hidden)
                self.s2_act = SeparableS2Activation(grid)
            else:
                self.s2_act = S2Activation(grid)
        self.so3_linear_2 = SO3Linear(hidden, output_channels, c.lmax)
        if c.use_swiglu_s2:
            with torch.no_grad():  # EquiformerV3's initialisation: l = 0 sums two paths (grid + SwiGLU)
                self.so3_linear_2.weight[0].mul_(2 ** -0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scalars = x[:, 0, :]
        h = self.so3_linear_1(x)
        if self.use_swiglu_s2:
            first, second = self.grid_linear_1(self.grid.to_points(h)).chunk(2, dim=-1)
            gates = torch.sigmoid(self.gating_linear(scalars)).unsqueeze(1)
            h = self.grid.from_points(self.grid_linear_2(first * gates * second))
            swiglu_in, swiglu_gate = self.scalar_mlp(scalars).chunk(2, dim=-1)
            h = torch.cat([h[:, :1] + (torch.nn.functional.silu(swiglu_in) * swiglu_gate).unsqueeze(1), h[:, 1:]], 1)
        elif self.use_grid_mlp:
            h_new = self.grid.from_points(self.grid_mlp(self.grid.to_points(h)))
            if self.scalar_mlp is not None:
                h_new = torch.cat([self.scalar_mlp(scalars).unsqueeze(1), h_new[:, 1:]], dim=1)
            h = h_new
        elif self.use_gate_act:
            h = self.gate_act(self.gating_linear(scalars), h)
        elif self.gating_linear is not None:
            h = self.s2_act(self.gating_linear(scalars), h)
        else:
            h = self.s2_act(h)
        return self.so3_linear_2(h)
