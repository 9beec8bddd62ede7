"""Exact symmetry transformations for equivariance tests.

e3nn's ``Irreps.D_from_matrix`` goes through Euler angles and tabulated
constants and is accurate only to ~1e-7, too coarse for float64 tests at 1e-9.
Here the Wigner matrix of degree l is solved from real spherical harmonics,
which are polynomials and exact in float64: ``Y_l(R v) = D_l(R) Y_l(v)``.
"""

import torch
from e3nn import o3


def random_rotation(dtype=torch.float64, generator=None) -> torch.Tensor:
    """Uniform random rotation matrix [3, 3] (det +1), from a QR decomposition."""
    q, r = torch.linalg.qr(torch.randn(3, 3, dtype=dtype, generator=generator))
    q = q * torch.sign(torch.diagonal(r)).unsqueeze(0)
    if torch.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def wigner_D(irreps, matrix: torch.Tensor) -> torch.Tensor:
    """Block-diagonal representation of the orthogonal ``matrix`` on ``irreps``, exact in float64.

    An improper matrix (det -1) is treated as inversion times a rotation: each
    irrep of parity p picks up a factor p.

    Example:
        >>> R = random_rotation()
        >>> D = wigner_D("1x1o", R)
        >>> bool(torch.allclose(D, R, atol=1e-12))
        True
    """
    irreps = o3.Irreps(irreps)
    dtype = matrix.dtype
    det = torch.det(matrix)
    rotation = matrix * det.sign()
    points = torch.randn(64, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    blocks = []
    for mul, ir in irreps:
        y = o3.spherical_harmonics(ir.l, points, normalize=True, normalization="component")
        y_rot = o3.spherical_harmonics(ir.l, points @ rotation.to(torch.float64).T, normalize=True,
                                       normalization="component")
        d = torch.linalg.lstsq(y, y_rot).solution.T  # y_rot = y @ D^T
        if det < 0 and ir.p == -1:
            d = -d
        blocks += [d] * mul
    return torch.block_diag(*blocks).to(dtype) if blocks else torch.zeros(0, 0, dtype=dtype)
