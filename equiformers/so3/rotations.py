"""Rotation matrices: uniform random rotations and the axis-angle (rotation vector) map and its inverse.

Rotation matrices act on column vectors (``x' = R x``; on row vectors ``x' = x Rᵀ``). Angles are in
radians. An axis-angle vector w [..., 3] is the rotation by |w| about w / |w|.
"""

from typing import Optional, Sequence

import torch


def random_rotation(dtype: torch.dtype = torch.float64, generator: Optional[torch.Generator] = None,
                    batch_shape: Sequence[int] = (), device=None) -> torch.Tensor:
    """Uniform (Haar) random rotation matrices [*batch_shape, 3, 3] with det +1.

    QR of a Gaussian matrix with the signs of R's diagonal moved into Q is Haar on O(3); negating
    the first column of the det -1 draws maps them onto SO(3) without changing the measure. The
    default (one matrix) draws the same numbers as before ``batch_shape`` existed.

    Example:
        >>> R = random_rotation(generator=torch.Generator().manual_seed(0))
        >>> bool(torch.allclose(R @ R.T, torch.eye(3, dtype=R.dtype))), round(float(torch.det(R)), 6)
        (True, 1.0)
        >>> random_rotation(torch.float32, batch_shape=(4, 2)).shape
        torch.Size([4, 2, 3, 3])
    """
    gaussian = torch.randn(*batch_shape, 3, 3, dtype=dtype, generator=generator, device=device)
    q, r = torch.linalg.qr(gaussian)
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2)
    flip = torch.ones_like(q[..., 0, :])  # [..., 3]: one factor per column
    flip[..., 0] = torch.where(torch.linalg.det(q) < 0, -1.0, 1.0)
    return q * flip.unsqueeze(-2)


def _skew(vector: torch.Tensor) -> torch.Tensor:
    """Cross-product matrices [..., 3, 3] of vectors [..., 3]: ``skew(a) @ b == a × b``."""
    x, y, z = vector.unbind(-1)
    zero = torch.zeros_like(x)
    return torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).unflatten(-1, (3, 3))


def _small(squared: torch.Tensor) -> torch.Tensor:
    # Below √eps the Taylor series used instead (truncation error ~ squared², or smaller) is exact to rounding.
    return squared < torch.finfo(squared.dtype).eps ** 0.5


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """Rotation matrices [..., 3, 3] from axis-angle vectors [..., 3] (Rodrigues' formula).

    ``R = I + a K + b K²`` with K = skew(w), a = sin θ / θ, b = (1 - cos θ) / θ², θ = |w|. Near
    θ = 0 a and b come from their Taylor series in θ², so the value and the gradient are smooth
    and finite there (the gradient at w = 0 is the exact one, ∂R/∂w_i = skew(e_i)).

    Example:
        >>> R = axis_angle_to_matrix(torch.tensor([0., 0., torch.pi / 2]))  # 90° about z
        >>> torch.round(R, decimals=6) + 0.0
        tensor([[ 0., -1.,  0.],
                [ 1.,  0.,  0.],
                [ 0.,  0.,  1.]])
    """
    squared = (axis_angle * axis_angle).sum(-1)
    small = _small(squared)
    # θ from a dummy 1 where small: sqrt's infinite slope at 0 would turn the unused branch into NaN gradients.
    angle = torch.sqrt(torch.where(small, torch.ones_like(squared), squared))
    half_sinc = torch.sin(angle / 2) / (angle / 2)
    sin_over_angle = torch.where(small, 1 - squared / 6 + squared * squared / 120, torch.sin(angle) / angle)
    # (1 - cos θ)/θ² written as 2 sin²(θ/2)/θ² to avoid cancellation at small θ.
    versine_over_squared = torch.where(small, 0.5 - squared / 24 + squared * squared / 720, 0.5 * half_sinc ** 2)
    k = _skew(axis_angle)
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device)
    return eye + sin_over_angle[..., None, None] * k + versine_over_squared[..., None, None] * (k @ k)


def _matrix_to_quaternion(matrix: torch.Tensor) -> torch.Tensor:
    """Unit quaternions (w, x, y, z) [..., 4] with w ≥ 0 from rotation matrices [..., 3, 3].

    Shepperd's method: of the four ways to solve for the quaternion, use the one whose pivot
    4 q_k² is largest (≥ 1), so no division by a small number. The other candidates' pivots are
    clamped to keep their (unused) gradients finite.
    """
    m = matrix
    trace = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    pivots = torch.stack([1 + trace,
                          1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2],
                          1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2],
                          1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2]], dim=-1)  # 4 q_k², k = w, x, y, z
    # Off-diagonal combinations, named by the quaternion products they equal.
    four_wx, four_wy, four_wz = m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]
    four_xy, four_xz, four_yz = m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1]
    numerators = torch.stack([
        torch.stack([pivots[..., 0], four_wx, four_wy, four_wz], dim=-1),
        torch.stack([four_wx, pivots[..., 1], four_xy, four_xz], dim=-1),
        torch.stack([four_wy, four_xy, pivots[..., 2], four_yz], dim=-1),
        torch.stack([four_wz, four_xz, four_yz, pivots[..., 3]], dim=-1),
    ], dim=-2)  # row k = 4 q_k q
    candidates = numerators / (2 * torch.sqrt(pivots.clamp(min=0.5)))[..., None]
    best = pivots.argmax(dim=-1, keepdim=True)
    quaternion = torch.gather(candidates, -2, best[..., None].expand(*best.shape, 4)).squeeze(-2)
    return torch.where(quaternion[..., :1] < 0, -quaternion, quaternion)


def matrix_to_axis_angle(matrix: torch.Tensor) -> torch.Tensor:
    """Axis-angle vectors [..., 3] with angle |w| in [0, π] from rotation matrices [..., 3, 3].

    Inverse of :func:`axis_angle_to_matrix` for angles below π: it returns the vector of norm
    ≤ π. At exactly π the rotations by w and -w coincide; which of the two comes back depends on
    rounding, so near π the result may jump between ±w (both give the same matrix) and is not
    differentiable there. Via a unit quaternion (w₀ ≥ 0, v) with angle 2 atan2(|v|, w₀); smooth
    and finite-gradient at the identity.

    Example:
        >>> w = torch.tensor([0.3, -0.2, 0.5], dtype=torch.float64)
        >>> bool(torch.allclose(matrix_to_axis_angle(axis_angle_to_matrix(w)), w))
        True
    """
    quaternion = _matrix_to_quaternion(matrix)
    real, vector = quaternion[..., 0], quaternion[..., 1:]
    squared = (vector * vector).sum(-1)
    small = _small(squared)
    norm = torch.sqrt(torch.where(small, torch.ones_like(squared), squared))
    # angle / |v| = 2 atan(|v|/w₀)/|v| ≈ (2/w₀)(1 - |v|²/(3w₀²)) near the identity, where w₀ ≈ 1.
    # (w₀ is replaced by 1 outside that branch: at angle π it is 0 and 1/w₀ would poison the gradient.)
    real_near_one = torch.where(small, real, torch.ones_like(real))
    taylor = 2 / real_near_one * (1 - squared / (3 * real_near_one * real_near_one))
    scale = torch.where(small, taylor, 2 * torch.atan2(norm, real) / norm)
    return vector * scale[..., None]
