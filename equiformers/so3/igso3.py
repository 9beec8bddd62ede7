"""The isotropic Gaussian on SO(3) (IGSO(3), Leach et al. 2022): its angle density and a sampler.

A rotation drawn from IGSO(3) with scale ε is an axis uniform on the sphere and an angle ω in
[0, π] (radians) with density

    p(ω) = (1 - cos ω) / π  ·  Σ_{l=0}^{L-1} (2l + 1) exp(-l(l+1) ε² / c) sin((l + ½) ω) / sin(ω / 2),

the Haar measure's angle marginal (1 - cos ω)/π times the heat-kernel series. ``c`` is the
convention: ``"leach"`` (c = 2, Leach et al. and DiffDock; the paper cites it, our default) or
``"diffab"`` (c = 1, the official EPT code's ``ApproxAngularDistribution`` taken from DiffAb, whose
ε is therefore the Leach ε divided by √2: σ_rot = 0.1 there is ≈ 0.141 here). For small ε the
rotation vector tends to an isotropic Gaussian of variance ε² per axis (Leach convention), so
E[ω²] → 3ε².

Sampling inverts the cumulative distribution tabulated on ``num_bins`` equal angle bins (trapezoid
rule, renormalised), linear within a bin: a piecewise-constant density with the exact bin masses
(the official code draws a histogram bin and jitters uniformly inside it, the same construction).
Rotation vectors w = ω u become matrices through :func:`~equiformers.so3.rotations.axis_angle_to_matrix`.

Example:
    >>> import torch
    >>> sampler = IGSO3(0.1)
    >>> w = sampler.sample(1000, generator=torch.Generator().manual_seed(0))
    >>> w.shape, round(float(w.norm(dim=1).pow(2).mean() / (3 * 0.1 ** 2)), 1)
    (torch.Size([1000, 3]), 1.0)
"""

import math
from typing import Dict, Optional

import torch

from ..errors import ConfigError
from .rotations import axis_angle_to_matrix

CONVENTIONS = {"leach": 2.0, "diffab": 1.0}  # the divisor c of l(l+1) ε² in the heat-kernel exponent
DEFAULT_TERMS = 1024  # L, as the official code
DEFAULT_BINS = 8192  # angle bins of the sampling table, as the official code
_SERIES_TAIL = 1e-10  # the last series term's decay must fall below this, or the series is truncated too early
_ROWS_PER_CHUNK = 1024  # angles per slice of the [angles, L] series evaluation (bounds memory at 8 MB)


def check_igso3_scale(eps: float, convention: str = "leach", num_terms: int = DEFAULT_TERMS) -> None:
    """:class:`ConfigError` unless ``eps`` > 0, the convention is known and ``num_terms`` terms
    converge for this ``eps`` (small ε needs more: L ≈ 7.4 √(c/2) / ε)."""
    if convention not in CONVENTIONS:
        raise ConfigError(f"IGSO(3) convention must be one of {sorted(CONVENTIONS)}, got {convention!r}")
    if not eps > 0:
        raise ConfigError(f"the IGSO(3) scale must be positive, got {eps!r}")
    last = num_terms - 1
    if math.exp(-last * (last + 1) * eps * eps / CONVENTIONS[convention]) > _SERIES_TAIL:
        raise ConfigError(f"IGSO(3) scale {eps} is too small for a {num_terms}-term series (its terms have not "
                          "decayed); use a larger scale or more terms")


def igso3_angle_density(omega: torch.Tensor, eps: float, convention: str = "leach",
                        num_terms: int = DEFAULT_TERMS) -> torch.Tensor:
    """The density p(ω) of the rotation angle (see the module docstring), normalised on [0, π].

    Shapes: omega [...] (radians, in [0, π]) -> [...] in 1/rad, float64. Tiny negative values of the
    truncated series far in the tail are clamped to zero.
    """
    check_igso3_scale(eps, convention, num_terms)
    omega = torch.as_tensor(omega, dtype=torch.float64)
    flat = omega.reshape(-1)
    l = torch.arange(num_terms, dtype=torch.float64, device=flat.device)
    weight = (2 * l + 1) * torch.exp(-l * (l + 1) * eps * eps / CONVENTIONS[convention])  # [L]
    out = []
    for start in range(0, flat.shape[0], _ROWS_PER_CHUNK):
        w = flat[start:start + _ROWS_PER_CHUNK, None]  # [c, 1]
        half_sine = torch.sin(w / 2)
        small = half_sine.abs() < 1e-8
        # the character sin((l+½)ω)/sin(ω/2) tends to 2l+1 at ω = 0 (a 0/0 otherwise)
        character = torch.where(small, 2 * l + 1, torch.sin((l + 0.5) * w) / torch.where(small, 1.0, half_sine))
        out.append((weight * character).sum(-1))
    series = torch.cat(out) if out else flat.new_zeros(0)
    density = (1 - torch.cos(flat)) / math.pi * series
    return density.clamp(min=0).reshape(omega.shape)


class IGSO3:
    """Sampler of IGSO(3) rotations with scale ``eps`` (see the module docstring).

    The table (angles [num_bins + 1] and their cumulative probabilities, float64) is computed once
    on the CPU and copied to each device it is used on; draws use the given generator only, so a
    seeded generator makes them reproducible on any device.
    """

    def __init__(self, eps: float, convention: str = "leach", num_terms: int = DEFAULT_TERMS,
                 num_bins: int = DEFAULT_BINS):
        check_igso3_scale(eps, convention, num_terms)
        if num_bins < 2:
            raise ConfigError(f"the IGSO(3) table needs at least 2 bins, got {num_bins}")
        self.eps, self.convention = float(eps), convention
        grid = torch.linspace(0.0, math.pi, num_bins + 1, dtype=torch.float64)
        density = igso3_angle_density(grid, eps, convention, num_terms)
        mass = 0.5 * (density[1:] + density[:-1]) * (grid[1:] - grid[:-1])
        cdf = torch.cat([mass.new_zeros(1), torch.cumsum(mass, 0)])
        self._tables: Dict[str, tuple] = {"cpu": (grid, cdf / cdf[-1])}

    def _table(self, device) -> tuple:
        key = str(torch.device(device) if device is not None else torch.device("cpu"))
        if key not in self._tables:
            grid, cdf = self._tables["cpu"]
            self._tables[key] = (grid.to(key), cdf.to(key))
        return self._tables[key]

    def sample_angles(self, n: int, generator: Optional[torch.Generator] = None, device=None,
                      dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """[n] rotation angles in [0, π] (radians)."""
        grid, cdf = self._table(device)
        u = torch.rand(n, dtype=torch.float64, device=grid.device, generator=generator)
        k = torch.searchsorted(cdf, u, right=True).clamp(1, grid.shape[0] - 1)
        lower, upper = cdf[k - 1], cdf[k]
        fraction = ((u - lower) / (upper - lower).clamp(min=1e-300)).clamp(0, 1)
        return (grid[k - 1] + fraction * (grid[k] - grid[k - 1])).to(dtype)

    def sample(self, n: int, generator: Optional[torch.Generator] = None, device=None,
               dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """[n, 3] rotation vectors w = ω u (u uniform on the unit sphere, ω from :meth:`sample_angles`)."""
        angle = self.sample_angles(n, generator, device, torch.float64)
        axis = torch.randn(n, 3, dtype=torch.float64, device=angle.device, generator=generator)
        axis = axis / axis.norm(dim=-1, keepdim=True).clamp(min=1e-12)
        return (angle.unsqueeze(-1) * axis).to(dtype)

    def sample_matrices(self, n: int, generator: Optional[torch.Generator] = None, device=None,
                        dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """[n, 3, 3] rotation matrices (column-vector convention, x' = R x)."""
        return axis_angle_to_matrix(self.sample(n, generator, device, torch.float64)).to(dtype)
