"""Edge scalars of EquiformerV2: fixed Gaussian smearing of distances and the radial MLP.

The reference expands each distance d (Å) with SCN's ``GaussianSmearing(0, cutoff, 600, 2.0)``:
600 fixed Gaussians exp(-(d - μ_k)² / (2 (2 Δμ)²)) with centres μ_k evenly spaced on
[0, cutoff]. There is no cutoff envelope: an edge entering the cutoff changes the energy with a
jump (the reference's behaviour; ``smooth_at_cutoff`` is False).
"""

import functools
from typing import Sequence

import torch
from torch import nn

from .sphere import constant_buffer


def _centres(num_basis: int, cutoff: float, dtype, device) -> torch.Tensor:
    return torch.linspace(0.0, cutoff, num_basis, dtype=torch.float64).to(dtype=dtype, device=device)


class GaussianSmearing(nn.Module):
    """Distances [E] (Å) -> [E, num_basis] Gaussians of width 2 Δμ (no trainable parameters).

    Example:
        >>> basis = GaussianSmearing(12.0, 600)
        >>> basis(torch.tensor([0.0, 6.0])).shape
        torch.Size([2, 600])
    """

    def __init__(self, cutoff: float, num_basis: int = 600, width: float = 2.0):
        super().__init__()
        if num_basis < 2:
            raise ValueError(f"need at least 2 Gaussians, got {num_basis}")
        self.cutoff, self.num_basis = float(cutoff), int(num_basis)
        spacing = self.cutoff / (self.num_basis - 1)
        self.coeff = -0.5 / (width * spacing) ** 2
        constant_buffer(self, "offset", functools.partial(_centres, self.num_basis, self.cutoff))

    def forward(self, distance: torch.Tensor) -> torch.Tensor:
        return torch.exp(self.coeff * (distance.unsqueeze(-1) - self.offset).pow(2))


class RadialFunction(nn.Module):
    """``Linear - LayerNorm - SiLU`` per hidden width, then a final ``Linear``: [E, channels[0]] -> [E, channels[-1]].

    Parameter names as the reference (``net.0`` Linear, ``net.1`` LayerNorm, ``net.3`` Linear, ...).
    Linear weights U(±1/√fan_in), biases 0 (the reference's initialisation of radial functions).
    """

    def __init__(self, channels: Sequence[int]):
        super().__init__()
        layers = []
        for i in range(1, len(channels)):
            layers.append(nn.Linear(channels[i - 1], channels[i]))
            if i < len(channels) - 1:
                layers += [nn.LayerNorm(channels[i]), nn.SiLU()]
        self.net = nn.Sequential(*layers)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for layer in self.net:
            if isinstance(layer, nn.Linear):
                bound = 1 / layer.in_features ** 0.5
                nn.init.uniform_(layer.weight, -bound, bound)
                nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
