"""Exact symmetry transformations for equivariance tests.

e3nn's ``Irreps.D_from_matrix`` goes through Euler angles and tabulated
constants and is accurate only to ~1e-7, too coarse for float64 tests at 1e-9.
The exact representation lives in :mod:`equiformers.so3` (solved from real
spherical harmonics, which are polynomials and exact in float64); this module
keeps the names the test suites use.
"""

import torch

from ..so3 import random_rotation, wigner_D_irreps

__all__ = ["random_rotation", "wigner_D"]


def wigner_D(irreps, matrix: torch.Tensor) -> torch.Tensor:
    """Block-diagonal representation of the orthogonal ``matrix`` on ``irreps``, exact in float64.

    An improper matrix (det -1) is treated as inversion times a rotation: each
    irrep of parity p picks up a factor p. Same as :func:`equiformers.so3.wigner_D_irreps`.

    Example:
        >>> R = random_rotation()
        >>> D = wigner_D("1x1o", R)
        >>> bool(torch.allclose(D, R, atol=1e-12))
        True
    """
    return wigner_D_irreps(irreps, matrix)
