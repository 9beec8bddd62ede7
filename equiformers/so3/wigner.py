"""Real Wigner-D matrices from rotation matrices, in e3nn's spherical-harmonic basis.

Real spherical harmonics are polynomials with ``Y_l(R v) = D_l(R) Y_l(v)``. Evaluated at a fixed
set of N unit points P (rows p_i), that reads ``Y_l(P Rᵀ) = Y_l(P) D_lᵀ``, so

    D_l(R) = Y_l(P Rᵀ)ᵀ · pinv(Y_l(P))ᵀ,

one batched spherical-harmonic evaluation and one matmul with a constant. The constant is built
once in float64 per (degree, dtype, device) and cached. Compared with Euler angles (e3nn's
``D_from_matrix``, fairchem's ``Jd.pt``) this is a polynomial of degree l in the entries of R: no
atan2/acos, no poles, exact in float64, and its gradient is correct everywhere without
``.detach()``. The harmonics are evaluated without normalising the moved points (they are unit
points moved by a rotation), which keeps D a polynomial in R.

The points are the smallest Fibonacci lattice (from 2 lmax + 2 points up) on which ``Y_l(P)`` has
condition number ≤ 8 for every l ≤ lmax, so results are accurate to ~10 ulp. That is 2 lmax + 2 to
3 lmax + 1 points, close to the 2 lmax + 1 minimum: the harmonics at those points are the cost.
e3nn's harmonics stop at l = 12, so that is the largest degree here.
"""

import functools
import math
from typing import Dict, List, Optional, Tuple

import torch
from e3nn import o3

_MAX_CONDITION = 8.0
_SolverKey = Tuple[int, torch.dtype, torch.device]
# (lmax of the point set, dtype, device) -> (points [N, 3], [pinv(Y_l(P))ᵀ [N, 2l+1] for l ≤ lmax])
_SOLVERS: Dict[_SolverKey, Tuple[torch.Tensor, List[torch.Tensor]]] = {}


def _fibonacci_sphere(num_points: int) -> torch.Tensor:
    """``num_points`` well-spread unit vectors [num_points, 3] in float64 (golden-angle spiral)."""
    index = torch.arange(num_points, dtype=torch.float64)
    z = 1.0 - (2.0 * index + 1.0) / num_points
    azimuth = index * math.pi * (3.0 - math.sqrt(5.0))
    radius = torch.sqrt(1.0 - z * z)
    return torch.stack([radius * torch.cos(azimuth), radius * torch.sin(azimuth), z], dim=-1)


def _condition_number(degree: int, points: torch.Tensor) -> float:
    singular_values = torch.linalg.svdvals(_harmonics(degree, points))
    return float(singular_values[0] / singular_values[-1])


@functools.lru_cache(maxsize=None)
def _point_set(lmax: int) -> torch.Tensor:
    """The smallest well-conditioned Fibonacci lattice for degrees ≤ ``lmax`` [N, 3], float64."""
    num_points = 2 * lmax + 2
    while max(_condition_number(l, _fibonacci_sphere(num_points)) for l in range(lmax + 1)) > _MAX_CONDITION:
        num_points += 1
    return _fibonacci_sphere(num_points)


def _solver(lmax: int, dtype: torch.dtype, device: torch.device) -> Tuple[torch.Tensor, List[torch.Tensor]]:
    """The point set for degrees ≤ ``lmax`` and each degree's pseudo-inverse, cast to dtype/device."""
    key = (lmax, dtype, device)
    if key not in _SOLVERS:
        # Built as ordinary tensors even when first asked for under inference_mode: inference
        # tensors could not be saved for backward by a later training step.
        with torch.inference_mode(False), torch.no_grad():
            points = _point_set(lmax)
            duals = [torch.linalg.pinv(_harmonics(l, points)).T.contiguous() for l in range(lmax + 1)]
            _SOLVERS[key] = (points.to(dtype=dtype, device=device),
                             [dual.to(dtype=dtype, device=device) for dual in duals])
    return _SOLVERS[key]


def _harmonics(degrees, points: torch.Tensor) -> torch.Tensor:
    # Unit points in, so normalising would only add a non-polynomial step to D(R).
    return o3.spherical_harmonics(degrees, points, normalize=False, normalization="component")


def _check_rotation_shape(rotation: torch.Tensor) -> None:
    if rotation.dim() < 2 or rotation.shape[-2:] != (3, 3):
        raise ValueError(f"rotation matrices must have shape [..., 3, 3], got {tuple(rotation.shape)}")
    if not rotation.is_floating_point():
        raise TypeError(f"rotation matrices must be floating point, got {rotation.dtype}")


def wigner_D(l: int, rotation: torch.Tensor) -> torch.Tensor:
    """Real Wigner-D matrices of degree ``l`` for rotation matrices [..., 3, 3] -> [..., 2l+1, 2l+1].

    In e3nn's basis and convention: ``Y_l(v Rᵀ) = D_l(R) Y_l(v)`` for e3nn's component-normalised
    spherical harmonics (row vectors v). dtype and device follow ``rotation``; differentiable
    w.r.t. ``rotation``. For an improper matrix it gives ``(-1)^l D_l(-R)``, the action of R on
    degree-l harmonics (see :func:`wigner_D_irreps` for parities). 0 ≤ l ≤ 12.

    Example:
        >>> R = torch.tensor([[0., -1., 0.], [1., 0., 0.], [0., 0., 1.]])  # 90° about z
        >>> bool(torch.allclose(wigner_D(1, R), R, atol=1e-6))  # e3nn's l = 1 basis is (x, y, z)
        True
        >>> wigner_D(2, torch.eye(3).expand(5, 3, 3)).shape
        torch.Size([5, 5, 5])
    """
    _check_rotation_shape(rotation)
    points, duals = _solver(l, rotation.dtype, rotation.device)
    moved = _harmonics(l, points @ rotation.transpose(-1, -2))  # [..., N, 2l+1]
    return moved.transpose(-1, -2) @ duals[l]


def wigner_D_blocks(lmax: int, rotation: torch.Tensor, m_max: Optional[int] = None) -> List[torch.Tensor]:
    """``[D_0(R), ..., D_lmax(R)]`` for rotation matrices [..., 3, 3], sharing one harmonics evaluation.

    Block l has shape [..., 2l+1, 2l+1]; with ``m_max`` only the rows of orders |m| ≤ m_max are
    computed (EquiformerV2's m-truncation): [..., 2 min(l, m_max) + 1, 2l+1], rows m = -m_max..m_max.
    Same basis, dtype and gradient rules as :func:`wigner_D`.

    Example:
        >>> blocks = wigner_D_blocks(2, torch.eye(3).expand(4, 3, 3))
        >>> [tuple(b.shape) for b in blocks]
        [(4, 1, 1), (4, 3, 3), (4, 5, 5)]
        >>> [tuple(b.shape[-2:]) for b in wigner_D_blocks(3, torch.eye(3), m_max=1)]
        [(1, 1), (3, 3), (3, 5), (3, 7)]
    """
    _check_rotation_shape(rotation)
    points, duals = _solver(lmax, rotation.dtype, rotation.device)
    moved = _harmonics(list(range(lmax + 1)), points @ rotation.transpose(-1, -2)).transpose(-1, -2)
    blocks = []
    for l in range(lmax + 1):
        keep = l if m_max is None else min(l, m_max)
        # Row l*l + l + m of the harmonics is order m of degree l.
        blocks.append(moved[..., l * l + l - keep:l * l + l + keep + 1, :] @ duals[l])
    return blocks


def wigner_D_irreps(irreps, matrix: torch.Tensor) -> torch.Tensor:
    """Block-diagonal representation of orthogonal matrices [..., 3, 3] on ``irreps`` -> [..., dim, dim].

    An improper matrix (det -1) is inversion times a rotation: each irrep of parity p picks up a
    factor p. Batches may mix proper and improper matrices. dtype/device follow ``matrix``; exact
    to rounding in float64 (e3nn's ``Irreps.D_from_matrix`` goes through Euler angles and is
    accurate to ~1e-7 only).

    Example:
        >>> R = torch.tensor([[0., -1., 0.], [1., 0., 0.], [0., 0., 1.]], dtype=torch.float64)
        >>> D = wigner_D_irreps("1x0e+1x1o", -R)  # improper: a rotoinversion
        >>> bool(torch.allclose(D[1:, 1:], -R, atol=1e-12)), D.shape
        (True, torch.Size([4, 4]))
    """
    irreps = o3.Irreps(irreps)
    _check_rotation_shape(matrix)
    batch = matrix.shape[:-2]
    out = matrix.new_zeros(batch + (irreps.dim, irreps.dim))
    if irreps.dim == 0:
        return out
    # sign(det) is ±1 for orthogonal matrices (zero gradient); the gradient flows through the rotation part.
    parity = torch.linalg.det(matrix).sign()[..., None, None]
    blocks = wigner_D_blocks(irreps.lmax, matrix * parity)
    start = 0
    for mul, ir in irreps:
        block = blocks[ir.l] if ir.p == 1 else blocks[ir.l] * parity
        for _ in range(mul):
            out[..., start:start + ir.dim, start:start + ir.dim] = block
            start += ir.dim
    return out
