"""The blocked grid SiLU equals the plain composition: values, gradients, second derivatives."""

import torch

from equiformers.ops import grid_activation
from equiformers.ops.grid_activation import grid_silu


def _plain(x, to_grid, from_grid):
    return torch.einsum("gk,mgc->mkc", from_grid, torch.nn.functional.silu(torch.einsum("gk,mkc->mgc", to_grid, x)))


def test_values_and_derivatives_equal_the_plain_composition(monkeypatch):
    monkeypatch.setattr(grid_activation, "BLOCK_ROWS", 7)  # several blocks and a ragged last one
    generator = torch.Generator().manual_seed(0)
    to_grid, from_grid = (torch.randn(40, 9, dtype=torch.float64, generator=generator) for _ in range(2))
    x = torch.randn(6, 9, 5, dtype=torch.float64, generator=generator, requires_grad=True)
    assert torch.allclose(grid_silu(x, to_grid, from_grid), _plain(x, to_grid, from_grid), atol=1e-12)
    weight = torch.randn(6, 9, 5, dtype=torch.float64, generator=generator)
    (grad,) = torch.autograd.grad((grid_silu(x, to_grid, from_grid) * weight).sum(), x, create_graph=True)
    (expected,) = torch.autograd.grad((_plain(x, to_grid, from_grid) * weight).sum(), x, create_graph=True)
    assert torch.allclose(grad, expected, atol=1e-12)
    (second,) = torch.autograd.grad(grad.square().sum(), x)  # double backward (conservative-force training)
    (expected_second,) = torch.autograd.grad(expected.square().sum(), x)
    assert torch.allclose(second, expected_second, atol=1e-10)
    assert torch.autograd.gradcheck(lambda t: grid_silu(t, to_grid, from_grid), (x,))


def test_empty_input():
    out = grid_silu(torch.zeros(0, 4, 3), torch.randn(10, 4), torch.randn(10, 4))
    assert out.shape == (0, 4, 3)


def test_grid_product_equals_the_plain_composition(monkeypatch):
    from equiformers.ops.grid_activation import grid_product

    monkeypatch.setattr(grid_activation, "BLOCK_ROWS", 7)
    generator = torch.Generator().manual_seed(1)
    to_grid, from_grid = (torch.randn(40, 9, dtype=torch.float64, generator=generator) for _ in range(2))
    x, y = (torch.randn(6, 9, 5, dtype=torch.float64, generator=generator, requires_grad=True) for _ in range(2))

    def plain(a, b):
        on_grid = torch.einsum("gk,mkc->mgc", to_grid, a) * torch.einsum("gk,mkc->mgc", to_grid, b)
        return torch.einsum("gk,mgc->mkc", from_grid, on_grid)

    assert torch.allclose(grid_product(x, y, to_grid, from_grid), plain(x, y), atol=1e-12)
    weight = torch.randn(6, 9, 5, dtype=torch.float64, generator=generator)
    got = torch.autograd.grad((grid_product(x, y, to_grid, from_grid) * weight).sum(), (x, y), create_graph=True)
    expected = torch.autograd.grad((plain(x, y) * weight).sum(), (x, y), create_graph=True)
    for g, e in zip(got, expected):
        assert torch.allclose(g, e, atol=1e-12)
    second = torch.autograd.grad(sum(g.square().sum() for g in got), (x, y))
    expected_second = torch.autograd.grad(sum(e.square().sum() for e in expected), (x, y))
    for g, e in zip(second, expected_second):
        assert torch.allclose(g, e, atol=1e-10)
    assert torch.autograd.gradcheck(lambda a, b: grid_product(a, b, to_grid, from_grid), (x, y))
