"""Stand-in for the one OCP class the official Equiformer imports at module level (its Bessel
radial basis option): spherical Bessel functions with learnable frequencies times GemNet's
polynomial envelope of exponent 5, as that option uses them."""

import math

import torch


class RadialBasis(torch.nn.Module):
    def __init__(self, num_radial, cutoff, rbf=None, envelope=None):
        super().__init__()
        if (rbf or {}).get("name", "spherical_bessel") != "spherical_bessel":
            raise NotImplementedError("the stand-in implements the spherical Bessel basis only")
        self.exponent = (envelope or {}).get("exponent", 5)
        self.inv_cutoff = 1.0 / cutoff
        self.norm_const = math.sqrt(2.0 / cutoff ** 3)
        self.frequencies = torch.nn.Parameter(math.pi * torch.arange(1, num_radial + 1, dtype=torch.float))

    def envelope(self, x):
        p = self.exponent
        a, b, c = -(p + 1) * (p + 2) / 2, p * (p + 2), -p * (p + 1) / 2
        value = 1 + a * x ** p + b * x ** (p + 1) + c * x ** (p + 2)
        return torch.where(x < 1, value, torch.zeros_like(x))

    def forward(self, d):
        x = d * self.inv_cutoff
        basis = self.norm_const / x[:, None] * torch.sin(self.frequencies * x[:, None])
        return self.envelope(x)[:, None] * basis
