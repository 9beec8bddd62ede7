"""Rotations into and out of edge frames for sphere-layout features, m-truncated and m-major.

Given per-edge frames R (:func:`~equiformers.so3.frames.edge_frames`, ``R u = y``), features
x [E, (lmax+1)², C] in the global frame are rotated into the edge frame by D(R) and only the
orders |m| ≤ mmax are kept; this module returns those rows of D(R) already in the m-major order
of :mod:`~equiformers.so3.coefficients`, so the SO(2) convolution needs no permutation (the
reference permutes with an einsum per layer: same numbers, more work). Rotating back uses the
transposed matrix with the truncation rescale √((2l+1)/(2 mmax+1)) folded into its degree-l rows.

Both matrices are built once per forward pass and shared by every layer; they are
differentiable in R (no ``.detach()``).
"""

import functools
from typing import Tuple

import torch

from .coefficients import m_major_coefficients, sphere_size, truncation_rescale
from .wigner import wigner_D_blocks


def edge_rotation_matrices(frames: torch.Tensor, lmax: int, mmax: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(to_edge [E, K, (lmax+1)²], from_edge [E, (lmax+1)², K])`` for frames [E, 3, 3].

    K = number of (l, m) with |m| ≤ mmax. ``to_edge @ x`` rotates l-major node features
    [E, (lmax+1)², C] into the edge frame, truncated, m-major [E, K, C]; ``from_edge @ y`` brings
    m-major edge features back to the global frame with the reference's rescaling of degrees
    l > mmax. dtype/device follow ``frames``.

    Example:
        >>> R = torch.eye(3).expand(2, 3, 3)
        >>> to_edge, from_edge = edge_rotation_matrices(R, 2, 1)
        >>> tuple(to_edge.shape), tuple(from_edge.shape)
        ((2, 7, 9), (2, 9, 7))
        >>> (to_edge[0, :3].abs() > 1e-4).nonzero()[:, 1].tolist()  # the m = 0 rows pick (l, 0) for l = 0, 1, 2
        [0, 2, 6]
    """
    blocks = wigner_D_blocks(lmax, frames, m_max=mmax)  # block l: [E, 2 min(l, mmax) + 1, 2l + 1]
    width = sphere_size(lmax)
    # Zero-pad each block to the full l-major width (degree l occupies columns l² .. (l+1)² - 1) and
    # stack the rows l-major; then reorder them m-major.
    padded = [torch.nn.functional.pad(block, (l * l, width - (l + 1) ** 2)) for l, block in enumerate(blocks)]
    to_edge = torch.cat(padded, dim=1).index_select(1, _l_major_to_m_major(lmax, mmax, frames.device))
    scale = _m_major_rescale(lmax, mmax).to(dtype=frames.dtype, device=frames.device)
    # Transpose of the truncated D with column k (edge coefficient of degree l) scaled by f(l):
    # the same as the reference's rescale of rows and columns within each degree block.
    from_edge = to_edge.transpose(1, 2) * scale
    return to_edge, from_edge


# Constants are built once on the CPU and cached (not re-created per call): a traced or exported
# forward then sees them as constants rather than creating tensors inside the trace.
@functools.lru_cache(maxsize=None)
def _m_major_rescale(lmax: int, mmax: int) -> torch.Tensor:
    return torch.tensor([truncation_rescale(lmax, mmax)[l] for l, _ in m_major_coefficients(lmax, mmax)],
                        dtype=torch.float64)


def _l_major_to_m_major(lmax: int, mmax: int, device) -> torch.Tensor:
    """Row of each m-major coefficient in the l-major truncated stack (rows m = -k..k per degree l)."""
    return _l_major_to_m_major_cpu(lmax, mmax).to(device)


@functools.lru_cache(maxsize=None)
def _l_major_to_m_major_cpu(lmax: int, mmax: int) -> torch.Tensor:
    start, offsets = 0, []
    for l in range(lmax + 1):
        offsets.append(start)
        start += 2 * min(l, mmax) + 1
    index = [offsets[l] + min(l, mmax) + m for l, m in m_major_coefficients(lmax, mmax)]
    return torch.tensor(index, dtype=torch.long)
