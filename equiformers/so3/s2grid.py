"""S² grid matrices for sphere-layout features: coefficients <-> function values on a sphere grid.

Built from e3nn's ``ToS2Grid`` / ``FromS2Grid`` (``normalization="component"``) in float64,
combined into one matrix each, as EquiformerV2's ``SO3_Grid`` does:

    to_grid [res_beta, res_alpha, (lmax+1)²]:   f(β_b, α_a) = Σ_i to_grid[b, a, i] x_i
    from_grid [res_beta, res_alpha, (lmax+1)²]: x_i = Σ_{b,a} from_grid[b, a, i] f(β_b, α_a)

For m-truncated features (|m| ≤ mmax, after rotation into an edge frame) the columns of degrees
l > mmax are multiplied by √((2l+1)/(2 mmax+1)) in both matrices (the reference's rescaling, see
:mod:`~equiformers.so3.coefficients`); callers select the columns of the coefficients they hold.

A pointwise non-linearity on the grid is equivariant only up to aliasing (the product of
band-limited functions is not band-limited); the error shrinks as the grid grows. The
reference's default resolution (:func:`reference_resolution`) is coarse; all its released models
use 18 × 18.
"""

import functools
import math
from typing import Sequence, Tuple, Union

import torch
from e3nn import o3

from .coefficients import degree_of_coefficients, truncation_rescale


def reference_resolution(lmax: int, mmax: int) -> Tuple[int, int]:
    """The reference's default grid (res_beta, res_alpha) when no resolution is given.

    Latitude 2 (lmax + 1); longitude 2 (mmax + 1) + 1 if lmax == mmax, else 2 mmax + 1.

    Example:
        >>> reference_resolution(6, 2)
        (14, 5)
    """
    longitude = 2 * (mmax + 1) + 1 if lmax == mmax else 2 * mmax + 1
    return 2 * (lmax + 1), longitude


def _quadrature_weights_float64(res_beta: int) -> torch.Tensor:
    """Kostelec-Rockmore latitude weights [res_beta] in float64, the formula e3nn uses.

    e3nn (0.5, 0.6) evaluates this sum with float32 intermediates (integer ``arange`` promoted to
    the default dtype) even when asked for float64, so its from-grid matrix carries ~1e-7 errors
    and a grid product that should be exact is exact only to ~1e-7. Recomputed here in float64.
    """
    b = res_beta // 2
    j = torch.arange(2 * b, dtype=torch.float64)[:, None]
    k = torch.arange(b, dtype=torch.float64)[None, :]
    series = (torch.sin((2 * j + 1) * (2 * k + 1) * math.pi / (4 * b)) / (2 * k + 1)).sum(dim=1)
    return (2.0 / b) * torch.sin(math.pi * (2 * j[:, 0] + 1) / (4 * b)) * series / (2.0 * (2 * b) ** 2)


@functools.lru_cache(maxsize=None)
def _grid_matrices_float64(lmax: int, mmax: int, res_beta: int, res_alpha: int) -> Tuple[torch.Tensor, torch.Tensor]:
    # Always on the CPU and outside any ambient device (e.g. a meta-device build): these are values.
    with torch.device("cpu"):
        to = o3.ToS2Grid(lmax, (res_beta, res_alpha), normalization="component", dtype=torch.float64)
        back = o3.FromS2Grid((res_beta, res_alpha), lmax, normalization="component", dtype=torch.float64)
        to_grid = torch.einsum("mbi,am->bai", to.shb, to.sha)
        from_grid = torch.einsum("am,mbi->bai", back.sha, back.shb)
        # Swap e3nn's float32-accurate quadrature weights (a factor per latitude) for float64 ones.
        # e3nn offers no public handle on the weights it used; without this private function (a
        # future e3nn) the matrices are used as e3nn builds them.
        e3nn_weights = getattr(getattr(o3, "_s2grid", None), "_quadrature_weights", None)
        if e3nn_weights is not None:
            ratio = _quadrature_weights_float64(res_beta) / e3nn_weights(res_beta // 2, dtype=torch.float64)
            from_grid = from_grid * ratio[:, None, None]
        scale = torch.tensor(truncation_rescale(lmax, mmax), dtype=torch.float64)[list(degree_of_coefficients(lmax))]
    return to_grid * scale, from_grid * scale


def s2_grid_matrices(lmax: int, mmax: int, resolution: Union[None, int, Sequence[int]] = None,
                     dtype: torch.dtype = torch.float64,
                     device=None) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(to_grid, from_grid)``, each [res_beta, res_alpha, (lmax+1)²] with the mmax rescaling.

    ``resolution``: a square grid ``resolution × resolution``, ``(latitudes, longitudes)``, or
    ``None`` for :func:`reference_resolution`. Computed in float64 (cached), then cast to ``dtype``/``device``.

    Example:
        >>> to_grid, from_grid = s2_grid_matrices(2, 2, resolution=8)
        >>> tuple(to_grid.shape)
        (8, 8, 9)
        >>> x = torch.randn(9, dtype=torch.float64)  # band-limited: the round trip is exact
        >>> float((torch.einsum("bai,ba->i", from_grid, to_grid @ x) - x).abs().max()) < 1e-14
        True
    """
    if resolution is None:
        res_beta, res_alpha = reference_resolution(lmax, mmax)
    elif isinstance(resolution, int):
        res_beta = res_alpha = resolution
    else:
        res_beta, res_alpha = resolution
    to_grid, from_grid = _grid_matrices_float64(lmax, mmax, int(res_beta), int(res_alpha))
    # copy=True: callers may keep these as buffers and write into them; the cache must stay intact.
    return to_grid.to(dtype=dtype, device=device, copy=True), from_grid.to(dtype=dtype, device=device, copy=True)
