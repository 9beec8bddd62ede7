"""Pointwise operations on a sphere grid between two linear maps, without storing the grid values:
a SiLU (:func:`grid_silu`) and the product of two functions (:func:`grid_product`).

S² activations (EquiformerV2) map coefficients to values at the G points of a sphere grid, apply
SiLU at every point and map back: ``y = Bᵀ silu(A x)`` for every row and channel, with
``A`` [G, K] (to the grid) and ``B`` [G, K] (back). With G ≈ 17 K the grid values are the largest
tensor of the model (edges × 324 points × channels), and computed plainly they are written to
memory, read by the SiLU, written again, read back, and kept for the backward pass: the cost is
memory traffic, not arithmetic. :func:`grid_silu` evaluates the same function a block of rows at
a time, so each block's grid values stay in cache and are never kept: the backward pass
recomputes them (one more small matrix product) instead of reading them back.

The same numbers as the plain composition to rounding; first derivatives are computed by the
blocked backward, higher derivatives (training on conservative forces) fall back to the plain
composition, which autograd differentiates again; under ``torch.compile`` / ``torch.export`` the
plain composition is traced.
"""

import torch

#: rows of the flattened [rows x channels, K] input per block (1024: ~1.3 MB of float32 grid values
#: at 324 points; measured fastest of 256 / 1024 / 4096 on this project's CPU)
BLOCK_ROWS = 1024


def _plain(x: torch.Tensor, to_grid: torch.Tensor, from_grid: torch.Tensor) -> torch.Tensor:
    """The reference composition on the flattened layout: x [R, K] -> [R, K]."""
    return torch.nn.functional.silu(x @ to_grid.T) @ from_grid


class _GridSiLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, to_grid, from_grid):
        ctx.save_for_backward(x, to_grid, from_grid)
        out = torch.empty_like(x)
        to_t = to_grid.T
        for start in range(0, x.shape[0], BLOCK_ROWS):
            rows = slice(start, start + BLOCK_ROWS)
            torch.mm(torch.nn.functional.silu(x[rows] @ to_t), from_grid, out=out[rows])
        return out

    @staticmethod
    def backward(ctx, grad_out):
        x, to_grid, from_grid = ctx.saved_tensors
        if torch.is_grad_enabled():
            # a graph of the backward is wanted (double backward): the same formula with plain,
            # recorded operations on x and grad_out, unblocked
            values = x @ to_grid.T
            sigmoid = torch.sigmoid(values)
            slope = sigmoid * (1 + values * (1 - sigmoid))  # silu'(v)
            return ((grad_out @ from_grid.T) * slope) @ to_grid, None, None
        grad = torch.empty_like(x)
        to_t = to_grid.T
        for start in range(0, x.shape[0], BLOCK_ROWS):
            rows = slice(start, start + BLOCK_ROWS)
            values = x[rows] @ to_t  # recomputed, [rows, G]
            # silu'(v) times the incoming gradient on the grid, in one pass (PyTorch's own kernel)
            on_grid = torch.ops.aten.silu_backward(grad_out[rows] @ from_grid.T, values)
            torch.mm(on_grid, to_grid, out=grad[rows])
        return grad, None, None


def grid_silu(x: torch.Tensor, to_grid: torch.Tensor, from_grid: torch.Tensor) -> torch.Tensor:
    """``y[m, :, c] = from_gridᵀ silu(to_grid x[m, :, c])`` for x [M, K, C] -> [M, K, C].

    ``to_grid``, ``from_grid``: [G, K] constants (no gradient flows into them).

    Example:
        >>> A, B = torch.randn(30, 4, dtype=torch.float64), torch.randn(30, 4, dtype=torch.float64)
        >>> x = torch.randn(5, 4, 3, dtype=torch.float64, requires_grad=True)
        >>> plain = torch.einsum("gk,mgc->mkc", B, torch.nn.functional.silu(torch.einsum("gk,mkc->mgc", A, x)))
        >>> torch.allclose(grid_silu(x, A, B), plain)
        True
        >>> torch.autograd.gradcheck(lambda t: grid_silu(t, A, B), (x,))
        True
    """
    rows, channels = x.shape[0], x.shape[2]
    flat = x.transpose(1, 2).reshape(rows * channels, x.shape[1])  # [M C, K]: one row per (m, c)
    if torch.compiler.is_compiling():  # traced (torch.compile / torch.export): plain ops the tracer sees
        out = _plain(flat, to_grid, from_grid)
    else:
        out = _GridSiLU.apply(flat, to_grid, from_grid)
    return out.reshape(rows, channels, x.shape[1]).transpose(1, 2)


def _plain_product(first, second, to_grid, from_grid):
    return ((first @ to_grid.T) * (second @ to_grid.T)) @ from_grid


class _GridProduct(torch.autograd.Function):
    @staticmethod
    def forward(ctx, first, second, to_grid, from_grid):
        ctx.save_for_backward(first, second, to_grid, from_grid)
        out = torch.empty_like(first)
        to_t = to_grid.T
        for start in range(0, first.shape[0], BLOCK_ROWS):
            rows = slice(start, start + BLOCK_ROWS)
            torch.mm((first[rows] @ to_t) * (second[rows] @ to_t), from_grid, out=out[rows])
        return out

    @staticmethod
    def backward(ctx, grad_out):
        first, second, to_grid, from_grid = ctx.saved_tensors
        to_t = to_grid.T
        if torch.is_grad_enabled():  # double backward: the same formulas, recorded, unblocked
            on_grid = grad_out @ from_grid.T
            return ((on_grid * (second @ to_t)) @ to_grid, (on_grid * (first @ to_t)) @ to_grid, None, None)
        grad_first, grad_second = torch.empty_like(first), torch.empty_like(second)
        for start in range(0, first.shape[0], BLOCK_ROWS):
            rows = slice(start, start + BLOCK_ROWS)
            on_grid = grad_out[rows] @ from_grid.T
            torch.mm(on_grid * (second[rows] @ to_t), to_grid, out=grad_first[rows])
            torch.mm(on_grid * (first[rows] @ to_t), to_grid, out=grad_second[rows])
        return grad_first, grad_second, None, None


def grid_product(first: torch.Tensor, second: torch.Tensor, to_grid: torch.Tensor,
                 from_grid: torch.Tensor) -> torch.Tensor:
    """``from_gridᵀ [(to_grid first) ⊙ (to_grid second)]`` per row and channel: [M, K, C] twice -> [M, K, C].

    Example:
        >>> A, B = torch.randn(30, 4, dtype=torch.float64), torch.randn(30, 4, dtype=torch.float64)
        >>> x, y = torch.randn(2, 5, 4, 3, dtype=torch.float64, requires_grad=True)
        >>> plain = torch.einsum("gk,mgc->mkc", B, torch.einsum("gk,mkc->mgc", A, x) * torch.einsum("gk,mkc->mgc", A, y))
        >>> torch.allclose(grid_product(x, y, A, B), plain)
        True
    """
    rows, channels, width = first.shape[0], first.shape[2], first.shape[1]
    flat = [t.transpose(1, 2).reshape(rows * channels, width) for t in (first, second)]
    if torch.compiler.is_compiling():
        out = _plain_product(*flat, to_grid, from_grid)
    else:
        out = _GridProduct.apply(*flat, to_grid, from_grid)
    return out.reshape(rows, channels, width).transpose(1, 2)
