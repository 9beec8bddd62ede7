"""Wigner-D matrices: the spherical-harmonic identity, group laws, e3nn's basis, dtypes and gradients."""

import math

import pytest
import torch
from e3nn import o3

from equiformers import testing
from equiformers.so3 import wigner as wigner_module
from equiformers.so3 import axis_angle_to_matrix, random_rotation, wigner_D, wigner_D_blocks, wigner_D_irreps

DEGREES = range(9)  # up to l = 8 (the highest degree of released EquiformerV2 models is 6)
F64 = torch.float64


def rotations(count, seed):
    return random_rotation(F64, torch.Generator().manual_seed(seed), batch_shape=(count,))


def harmonics(l, vectors):
    return o3.spherical_harmonics(l, vectors, normalize=True, normalization="component")


def max_error(a, b):
    return float((a - b).abs().max())


@pytest.mark.parametrize("l", DEGREES)
def test_spherical_harmonic_identity(l):
    matrices = rotations(5, seed=l)
    vectors = torch.randn(200, 3, dtype=F64, generator=torch.Generator().manual_seed(10 + l))
    rotated = harmonics(l, vectors @ matrices.transpose(-1, -2))  # [5, 200, 2l+1]
    moved = (wigner_D(l, matrices)[:, None] @ harmonics(l, vectors)[None, :, :, None]).squeeze(-1)
    assert max_error(rotated, moved) <= 1e-12 * float(rotated.abs().max())


@pytest.mark.parametrize("l", DEGREES)
def test_group_laws(l):
    first, second = rotations(4, seed=1), rotations(4, seed=2)
    d_first, d_second = wigner_D(l, first), wigner_D(l, second)
    eye = torch.eye(2 * l + 1, dtype=F64)
    assert max_error(d_first @ d_first.transpose(-1, -2), eye) < 1e-13  # orthogonal
    assert max_error(wigner_D(l, first @ second), d_first @ d_second) < 1e-12  # homomorphism
    assert max_error(wigner_D(l, torch.eye(3, dtype=F64)), eye) < 1e-13
    assert max_error(wigner_D(l, first.transpose(-1, -2)), d_first.transpose(-1, -2)) < 1e-13


def test_degree_one_is_e3nn_basis():
    matrices = rotations(6, seed=3)
    assert max_error(wigner_D(1, matrices), matrices) < 1e-13  # e3nn's l = 1 order is (x, y, z)
    for matrix in matrices:
        # D_from_matrix goes through Euler angles and is only this accurate.
        assert max_error(wigner_D(1, matrix), o3.Irreps("1x1o").D_from_matrix(matrix)) < 1e-6


def test_matches_e3nn_for_higher_degrees():
    matrix = rotations(1, seed=4)[0]
    for l in range(2, 9):
        assert max_error(wigner_D(l, matrix), o3.Irreps([(1, (l, 1))]).D_from_matrix(matrix)) < 1e-6


@pytest.mark.parametrize("l", [0, 2, 5])
def test_batched_equals_looped(l):
    matrices = rotations(6, seed=5).reshape(2, 3, 3, 3)
    batched = wigner_D(l, matrices)
    assert batched.shape == (2, 3, 2 * l + 1, 2 * l + 1)
    looped = torch.stack([wigner_D(l, m) for m in matrices.reshape(6, 3, 3)]).reshape(batched.shape)
    torch.testing.assert_close(batched, looped, rtol=0, atol=1e-14)


def test_blocks_match_single_degrees_and_truncate_orders():
    matrices = rotations(3, seed=6)
    blocks = wigner_D_blocks(6, matrices)
    for l, block in enumerate(blocks):
        assert max_error(block, wigner_D(l, matrices)) < 1e-12
    truncated = wigner_D_blocks(6, matrices, m_max=2)
    for l, (full, rows) in enumerate(zip(blocks, truncated)):
        keep = min(l, 2)
        assert rows.shape == (3, 2 * keep + 1, 2 * l + 1)
        torch.testing.assert_close(rows, full[:, l - keep:l + keep + 1], rtol=0, atol=1e-14)


def test_float32_follows_input():
    matrices = rotations(4, seed=7)
    for l in (0, 3, 6):
        single = wigner_D(l, matrices.float())
        assert single.dtype == torch.float32
        assert max_error(single.double(), wigner_D(l, matrices)) < 1e-5
    assert all(b.dtype == torch.float32 for b in wigner_D_blocks(2, matrices.float()))


# Rotation vectors where Euler-angle methods break: about y, identity, about z (β = 0) and half turns (β = π).
AXIS_ANGLES = {
    "random": [0.4, -1.1, 0.7],
    "about_y": [0.0, 0.9, 0.0],
    "identity": [0.0, 0.0, 0.0],
    "near_identity": [1e-9, -2e-9, 5e-10],
    "about_z": [0.0, 0.0, 0.6],
    "half_turn_x": [math.pi, 0.0, 0.0],
    "half_turn_y": [0.0, math.pi, 0.0],
    "near_half_turn": [0.0, 0.0, math.pi - 1e-7],
}


@pytest.mark.parametrize("name", sorted(AXIS_ANGLES))
@pytest.mark.parametrize("l", [1, 2, 3])
def test_gradcheck_through_axis_angle(name, l):
    axis_angle = torch.tensor(AXIS_ANGLES[name], dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda w: wigner_D(l, axis_angle_to_matrix(w)), (axis_angle,))


def test_gradcheck_irreps_and_blocks():
    axis_angle = torch.tensor([[0.3, 0.2, -0.4], [0.0, math.pi, 0.0]], dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda w: wigner_D_irreps("2x0e+1x1o+1x2e", axis_angle_to_matrix(w)),
                                    (axis_angle,))
    assert torch.autograd.gradcheck(lambda w: tuple(wigner_D_blocks(3, axis_angle_to_matrix(w), m_max=1)),
                                    (axis_angle,))


def test_second_derivatives_for_force_training():
    axis_angle = torch.tensor([[0.0, 0.0, 0.0], [0.3, -0.2, 1.0], [0.0, math.pi, 0.0]], dtype=F64, requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda w: wigner_D(3, axis_angle_to_matrix(w)), (axis_angle,))


def test_cache_built_under_inference_mode_still_trains(monkeypatch):
    monkeypatch.setattr(wigner_module, "_SOLVERS", {})  # force the constants to be built right here
    with torch.inference_mode():
        wigner_D(3, torch.eye(3, dtype=F64))
    matrix = rotations(1, seed=11)[0].requires_grad_(True)
    wigner_D(3, matrix).sum().backward()
    assert matrix.grad is not None


def test_gradient_flows_to_matrix():
    matrix = rotations(2, seed=8).requires_grad_(True)
    (wigner_D(4, matrix) * torch.randn(9, 9, dtype=F64)).sum().backward()
    assert matrix.grad is not None and torch.isfinite(matrix.grad).all() and matrix.grad.abs().sum() > 0


def test_irreps_parities_for_improper_matrices():
    rotation = rotations(1, seed=9)[0]
    d = wigner_D_irreps("2x0e+1x0o+1x1o+1x1e+1x2e+1x2o", -rotation)
    expected = torch.block_diag(torch.eye(2, dtype=F64), -torch.eye(1, dtype=F64), -rotation, rotation,
                                wigner_D(2, rotation), -wigner_D(2, rotation))
    assert max_error(d, expected) < 1e-13
    # Spherical harmonics carry parity (-1)^l, so they transform with the improper matrix itself.
    vectors = torch.randn(50, 3, dtype=F64)
    sh = o3.Irreps.spherical_harmonics(3)
    rotated = harmonics(sh, vectors @ (-rotation).T)
    assert max_error(rotated, harmonics(sh, vectors) @ wigner_D_irreps(sh, -rotation).T) < 1e-12


def test_irreps_batches_mix_proper_and_improper():
    matrices = rotations(3, seed=10) * torch.tensor([1.0, -1.0, 1.0], dtype=F64)[:, None, None]
    irreps = "1x0o+2x1o+1x1e+1x3o"
    batched = wigner_D_irreps(irreps, matrices)
    looped = torch.stack([wigner_D_irreps(irreps, m) for m in matrices])
    torch.testing.assert_close(batched, looped, rtol=0, atol=1e-14)
    assert wigner_D_irreps("", matrices[0]).shape == (0, 0)


def test_testing_wigner_D_is_the_same_function():
    rotation = testing.random_rotation(F64, torch.Generator().manual_seed(0))
    irreps = "3x0e+2x1o+1x2e+1x1e"
    assert torch.equal(testing.wigner_D(irreps, rotation), wigner_D_irreps(irreps, rotation))


def test_rejects_wrong_shapes():
    with pytest.raises(ValueError):
        wigner_D(2, torch.eye(4))
    with pytest.raises(TypeError):
        wigner_D(2, torch.eye(3, dtype=torch.int64))
