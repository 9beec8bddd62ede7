"""Radial MLP that turns edge-length features into per-edge tensor-product weights."""

import math
from typing import Sequence

import torch
from torch import nn


class RadialMLP(nn.Module):
    """MLP ``[n_basis, hidden..., n_out]`` with LayerNorm + SiLU after each hidden layer.

    As in Equiformer's ``RadialProfile``: the last layer has no bias but a learned
    offset is added to its output (initialised uniform in +-1/sqrt(fan_in)).

    Args:
        widths: layer widths, first the number of basis functions, last the
            number of weights produced per edge.

    Shapes: [E, widths[0]] -> [E, widths[-1]].

    Example:
        >>> RadialMLP([8, 16, 16, 10])(torch.randn(5, 8)).shape
        torch.Size([5, 10])
    """

    def __init__(self, widths: Sequence[int]):
        super().__init__()
        layers = []
        for i, (w_in, w_out) in enumerate(zip(widths[:-1], widths[1:])):
            last = i == len(widths) - 2
            linear = nn.Linear(w_in, w_out, bias=not last)
            if not last:
                nn.init.zeros_(linear.bias)
            layers.append(linear)
            if not last:
                layers += [nn.LayerNorm(w_out), nn.SiLU()]
        self.net = nn.Sequential(*layers)
        bound = 1.0 / math.sqrt(widths[-2])
        self.offset = nn.Parameter(torch.empty(widths[-1]).uniform_(-bound, bound))

    def forward(self, edge_features: torch.Tensor) -> torch.Tensor:
        return self.net(edge_features) + self.offset
