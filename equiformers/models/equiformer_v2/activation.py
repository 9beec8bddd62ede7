"""Non-linearities on sphere-layout features: S² grid activations and the gate.

Features are [M, K, C]: K coefficients (all (lmax+1)² l-major for node features, or the m-major
truncated set in an edge frame), listed by :class:`SphereGrid` / :class:`GateActivation` as
``coefficients`` (indices into the l-major layout).

``S2Activation``: to the grid, SiLU at every grid point, back. Equivariant up to grid aliasing.
``SeparableS2Activation`` (EquiformerV2): l = 0 output = SiLU of separate scalars, l > 0 from the
    S² activation (whose own l = 0 is dropped).
``GateActivation``: l = 0 -> SiLU, degree l > 0 times sigmoid of its own gate scalars per
    channel. Exactly equivariant.
"""

import functools
from typing import Optional, Sequence, Tuple

import torch
from torch import nn

from ...ops.grid_activation import grid_product, grid_silu
from ...so3.coefficients import degree_of_coefficients
from ...so3.s2grid import s2_grid_matrices
from .sphere import ambient_device, constant_buffer


def _grid_matrix(lmax: int, mmax: int, resolution: Optional[Tuple[int, int]], coefficients: Sequence[int], which: int,
                 dtype, device) -> torch.Tensor:
    """[grid points, len(coefficients)]: to-grid (which = 0) or from-grid (which = 1) matrix columns."""
    matrix = s2_grid_matrices(lmax, mmax, resolution)[which]
    return matrix.flatten(0, 1)[:, list(coefficients)].to(dtype=dtype, device=device)


class SphereGrid(nn.Module):
    """Grid transforms for features holding ``coefficients`` of degrees ≤ lmax, truncated at mmax.

    Buffers ``to_grid`` and ``from_grid`` [G, K] (G = grid points, float64-exact constants, not in
    the state dict). Shapes: :meth:`to_points` [M, K, C] -> [M, G, C]; :meth:`from_points` back.
    """

    def __init__(self, lmax: int, mmax: int, resolution, coefficients: Sequence[int]):
        super().__init__()
        # (latitudes, longitudes), a square grid's size, or None (the reference's formula)
        resolution = tuple(resolution) if isinstance(resolution, (list, tuple)) else resolution
        self.lmax, self.mmax, self.resolution = lmax, mmax, resolution
        coefficients = tuple(int(i) for i in coefficients)
        constant_buffer(self, "to_grid", functools.partial(_grid_matrix, lmax, mmax, resolution, coefficients, 0))
        constant_buffer(self, "from_grid", functools.partial(_grid_matrix, lmax, mmax, resolution, coefficients, 1))

    def to_points(self, x: torch.Tensor) -> torch.Tensor:
        """Coefficients [M, K, C] -> values at the grid points [M, G, C]."""
        return torch.einsum("gk,mkc->mgc", self.to_grid, x)

    def from_points(self, values: torch.Tensor) -> torch.Tensor:
        """Values at the grid points [M, G, C] -> coefficients [M, K, C]."""
        return torch.einsum("gk,mgc->mkc", self.from_grid, values)

    def extra_repr(self) -> str:
        return f"lmax={self.lmax}, mmax={self.mmax}, resolution={self.resolution}, points={self.to_grid.shape[0]}"


class S2Activation(nn.Module):
    """SiLU applied pointwise on the S² grid. Shapes: [M, K, C] -> [M, K, C]."""

    def __init__(self, grid: SphereGrid):
        super().__init__()
        self.grid = grid

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # = from_points(silu(to_points(x))), without materialising the grid values
        return grid_silu(x, self.grid.to_grid, self.grid.from_grid)


class SeparableS2Activation(nn.Module):
    """l = 0 <- SiLU(scalars); l > 0 <- S² activation of x. Shapes: scalars [M, C], x [M, K, C] -> [M, K, C].

    Expects the l = 0 coefficient first (true of both the l-major and the m-major layouts).
    """

    def __init__(self, grid: SphereGrid):
        super().__init__()
        self.s2_act = S2Activation(grid)

    def forward(self, scalars: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.nn.functional.silu(scalars).unsqueeze(1), self.s2_act(x)[:, 1:]], dim=1)


class GateActivation(nn.Module):
    """SiLU on l = 0; degree l > 0 times sigmoid(gates[l - 1]) per channel.

    Shapes: gates [M, lmax * C] (degree-major), x [M, K, C] -> [M, K, C]; the l = 0 coefficient
    comes first in ``coefficients``.
    """

    def __init__(self, lmax: int, channels: int, coefficients: Sequence[int]):
        super().__init__()
        self.lmax, self.channels = lmax, channels
        degrees = degree_of_coefficients(lmax)
        if degrees[coefficients[0]] != 0:
            raise ValueError("the first coefficient must be l = 0")
        index = torch.tensor([degrees[i] - 1 for i in coefficients[1:]], dtype=torch.long, device=ambient_device())
        self.register_buffer("expand_index", index, persistent=False)

    def forward(self, gates: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        gates = torch.sigmoid(gates).reshape(gates.shape[0], self.lmax, self.channels)
        gates = gates.index_select(1, self.expand_index)  # one gate per coefficient of degree l > 0
        return torch.cat([torch.nn.functional.silu(x[:, :1]), x[:, 1:] * gates], dim=1)


class SwiGLUS2Activation(nn.Module):
    """EquiformerV3's edge-frame activation (``sep-merge_gates2_swiglu``), exactly equivariant.

    From x [M, K, 2h] and invariant scalars [M, 3h]: the product of the two halves of x on the grid
    (a bilinear, band-limited operation: exact when the grid resolves degree 3 lmax and order
    3 mmax), back to coefficients, times sigmoid(scalars[2h:3h]) per channel; its l = 0
    coefficient gets SiLU(scalars[:h]) * scalars[h:2h] added (a SwiGLU on invariants). Shapes:
    scalars [M, 3h], x [M, K, 2h] -> [M, K, h].
    """

    def __init__(self, grid: SphereGrid, channels: int):
        super().__init__()
        self.grid, self.channels = grid, channels

    def forward(self, scalars: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        h = self.channels
        swiglu = torch.nn.functional.silu(scalars[:, :h]) * scalars[:, h:2 * h]
        gates = torch.sigmoid(scalars[:, 2 * h:])
        # = from_points(to_points(x)[..., :h] * to_points(x)[..., h:]), without the grid values
        out = grid_product(x[..., :h], x[..., h:], self.grid.to_grid, self.grid.from_grid) * gates.unsqueeze(1)
        return torch.cat([out[:, :1] + swiglu.unsqueeze(1), out[:, 1:]], dim=1)
