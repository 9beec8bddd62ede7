"""Radial profile networks: invariant edge inputs -> the coefficients phi_J of the kernel basis."""

from dataclasses import dataclass

import torch
from torch import nn

from ...errors import ConfigError


@dataclass
class RadialConfig:
    """Shape of every radial network (Fuchs' ``RadialFunc``, NVIDIA's ``RadialProfile``).

    Attributes:
        hidden: width of the two hidden layers (32 in both official codes).
        layer_norm: LayerNorm after each hidden linear layer (Fuchs: always; NVIDIA: ``--use_layer_norm``).
        last_bias: bias on the output layer (Fuchs: yes; NVIDIA: no).
        sharing: ``"pair"``: one network per (input degree, output degree) pair of a convolution
            (Fuchs); ``"convolution"``: one network per convolution emitting every pair's coefficients
            (a fused network); ``"nvidia"``: NVIDIA's grouping, one network per product that its fusion
            rules build (one per convolution when both fibers have uniform channels on degrees 0..L, else
            per output or input degree, else per pair; see ``convolution.radial_groups``). This only
            decides the parameters; how the kernels are applied is ``fusion``.
    """

    hidden: int = 32
    layer_norm: bool = True
    last_bias: bool = True
    sharing: str = "pair"

    def validate(self) -> None:
        if self.hidden < 1:
            raise ConfigError(f"radial.hidden must be positive, got {self.hidden}")
        if self.sharing not in ("pair", "convolution", "nvidia"):
            raise ConfigError(f"radial.sharing must be 'pair', 'convolution' or 'nvidia', got {self.sharing!r}")


class RadialProfile(nn.Module):
    """``Linear(in -> h) [LN] ReLU Linear(h -> h) [LN] ReLU Linear(h -> out)``.

    Input: [E, edge_dim + 1] (optional bond-type one-hot, then the distance in Å, as both official
    codes). Output: [E, num_out] coefficients. PyTorch's default initialisation.

    Example:
        >>> RadialProfile(1, 10, RadialConfig())(torch.rand(4, 1)).shape
        torch.Size([4, 10])
    """

    def __init__(self, num_in: int, num_out: int, config: RadialConfig):
        super().__init__()
        layers = []
        width = num_in
        for _ in range(2):
            layers.append(nn.Linear(width, config.hidden))
            if config.layer_norm:
                layers.append(nn.LayerNorm(config.hidden))
            layers.append(nn.ReLU())
            width = config.hidden
        layers.append(nn.Linear(width, num_out, bias=config.last_bias))
        self.net = nn.Sequential(*layers)
        self.num_out = num_out

    def forward(self, edge_inputs: torch.Tensor) -> torch.Tensor:
        return self.net(edge_inputs)
