"""Radial bases for edge lengths, with smooth cutoff envelopes.

Every basis maps distances ``d`` [E] (Å) to features [E, num_basis] and is a
``torch.nn.Module`` with attributes ``num_basis`` and ``cutoff``.
"""

import math

import torch
from torch import nn

from ..errors import ConfigError


class CosineCutoff(nn.Module):
    """``0.5 (cos(pi d / r_c) + 1)`` for ``d < r_c``, else 0 (TorchMD-Net/Equiformer MD17)."""

    def __init__(self, cutoff: float):
        super().__init__()
        self.cutoff = float(cutoff)

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        return 0.5 * (torch.cos(d * math.pi / self.cutoff) + 1.0) * (d < self.cutoff).to(d.dtype)


class PolynomialCutoff(nn.Module):
    """Polynomial envelope of DimeNet/GemNet, smooth to order ``exponent`` at ``r_c``.

    ``u(x) = 1 - (p+1)(p+2)/2 x^p + p(p+2) x^(p+1) - p(p+1)/2 x^(p+2)`` with ``x = d / r_c``.
    """

    def __init__(self, cutoff: float, exponent: int = 5):
        super().__init__()
        self.cutoff = float(cutoff)
        self.p = int(exponent)

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        p, x = self.p, d / self.cutoff
        a, b, c = -(p + 1) * (p + 2) / 2, p * (p + 2), -p * (p + 1) / 2
        env = 1 + a * x**p + b * x ** (p + 1) + c * x ** (p + 2)
        return torch.where(x < 1, env, torch.zeros_like(x))


class GaussianBasis(nn.Module):
    """Learnable Gaussians of ``d / r_c`` (Equiformer's QM9 basis).

    Means start uniform in [0, 1], widths uniform in [1/num_basis, 1], and a
    learnable affine map is applied to ``d / r_c`` first. No envelope, as in the
    reference: QM9 models do not need smoothness at the cutoff.
    """

    def __init__(self, num_basis: int, cutoff: float):
        super().__init__()
        self.num_basis, self.cutoff = int(num_basis), float(cutoff)
        self.mean = nn.Parameter(torch.empty(1, num_basis).uniform_(0.0, 1.0))
        self.std = nn.Parameter(torch.empty(1, num_basis).uniform_(1.0 / num_basis, 1.0))
        self.weight = nn.Parameter(torch.ones(1, 1))
        self.bias = nn.Parameter(torch.zeros(1, 1))

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        x = self.weight * (d / self.cutoff).unsqueeze(-1) + self.bias
        std = self.std.abs() + 1e-5
        return torch.exp(-0.5 * ((x - self.mean) / std) ** 2) / (math.sqrt(2 * math.pi) * std)


class BesselBasis(nn.Module):
    """Spherical Bessel ``sqrt(2/r_c^3) sin(f_n x) / x`` with learnable ``f_n = n pi``,
    times a polynomial envelope (GemNet's basis, used by Equiformer for QM9 targets 5-10)."""

    def __init__(self, num_basis: int, cutoff: float, envelope_exponent: int = 5):
        super().__init__()
        self.num_basis, self.cutoff = int(num_basis), float(cutoff)
        self.norm_const = math.sqrt(2.0 / cutoff**3)
        self.frequencies = nn.Parameter(math.pi * torch.arange(1, num_basis + 1, dtype=torch.float32))
        self.envelope = PolynomialCutoff(1.0, envelope_exponent)

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        x = (d / self.cutoff).unsqueeze(-1)
        return self.envelope(x) * self.norm_const / x * torch.sin(self.frequencies * x)


class ExpNormalBasis(nn.Module):
    """Fixed exp-normal smearing times a cosine cutoff (PhysNet/TorchMD-Net; Equiformer MD17).

    ``phi_k(d) = cos_cutoff(d) exp(-beta_k (exp(-alpha d) - mu_k)^2)`` with
    ``alpha = 5 / r_c``; means evenly spaced in ``[exp(-r_c), 1]``.
    """

    def __init__(self, num_basis: int, cutoff: float):
        super().__init__()
        self.num_basis, self.cutoff = int(num_basis), float(cutoff)
        self.alpha = 5.0 / cutoff
        start = math.exp(-cutoff)
        self.register_buffer("means", torch.linspace(start, 1.0, num_basis))
        self.register_buffer("betas", torch.full((num_basis,), (2.0 / num_basis * (1 - start)) ** -2))
        self.envelope = CosineCutoff(cutoff)

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        d = d.unsqueeze(-1)
        return self.envelope(d) * torch.exp(-self.betas * (torch.exp(-self.alpha * d) - self.means) ** 2)


RADIAL_BASES = {"gaussian": GaussianBasis, "bessel": BesselBasis, "exp_normal": ExpNormalBasis}


def build_radial_basis(name: str, num_basis: int, cutoff: float) -> nn.Module:
    """Build a radial basis by name: ``gaussian``, ``bessel`` or ``exp_normal``."""
    if name not in RADIAL_BASES:
        raise ConfigError(f"unknown radial basis {name!r}; choose one of {sorted(RADIAL_BASES)}")
    return RADIAL_BASES[name](num_basis, cutoff)
