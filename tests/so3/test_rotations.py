"""Random rotations and the axis-angle map: orthogonality, Haar statistics, round trips, gradients."""

import math

import pytest
import torch
from e3nn import o3

from equiformers.so3 import axis_angle_to_matrix, matrix_to_axis_angle, random_rotation

F64 = torch.float64


def max_error(a, b):
    return float((a - b).abs().max())


def assert_rotations(matrices, atol=1e-13):
    eye = torch.eye(3, dtype=matrices.dtype)
    assert max_error(matrices @ matrices.transpose(-1, -2), eye) < atol
    assert max_error(torch.linalg.det(matrices), torch.ones(())) < atol


def test_random_rotations_are_rotations():
    matrices = random_rotation(F64, torch.Generator().manual_seed(0), batch_shape=(50, 2))
    assert matrices.shape == (50, 2, 3, 3)
    assert_rotations(matrices)
    single = random_rotation(torch.float32)
    assert single.shape == (3, 3) and single.dtype == torch.float32
    assert_rotations(single, atol=1e-6)


def test_single_rotation_draws_as_before():
    # The recipe testing.random_rotation used before batch_shape: seeded tests keep their rotations.
    q, r = torch.linalg.qr(torch.randn(3, 3, dtype=F64, generator=torch.Generator().manual_seed(3)))
    q = q * torch.sign(torch.diagonal(r)).unsqueeze(0)
    if torch.det(q) < 0:
        q[:, 0] = -q[:, 0]
    assert torch.equal(random_rotation(F64, torch.Generator().manual_seed(3)), q)


def test_random_rotations_are_uniform():
    # Haar measure on SO(3): E[R] = 0, E[tr R] = 0, E[(tr R)²] = 1; and R e_z is uniform on the sphere.
    matrices = random_rotation(F64, torch.Generator().manual_seed(1), batch_shape=(20000,))
    trace = matrices.diagonal(dim1=-2, dim2=-1).sum(-1)
    assert float(matrices.mean(0).abs().max()) < 0.03
    assert abs(float(trace.mean())) < 0.03 and abs(float((trace ** 2).mean()) - 1) < 0.05
    assert abs(float((matrices[:, 2, 2] > 0).double().mean()) - 0.5) < 0.02


def test_axis_angle_to_matrix_matches_e3nn():
    axis_angle = torch.randn(100, 3, dtype=F64, generator=torch.Generator().manual_seed(2))
    angle = axis_angle.norm(dim=-1)
    expected = o3.axis_angle_to_matrix(axis_angle / angle[:, None], angle)
    assert max_error(axis_angle_to_matrix(axis_angle), expected) < 1e-13
    assert_rotations(axis_angle_to_matrix(axis_angle))
    fixed = (axis_angle_to_matrix(axis_angle) @ axis_angle[:, :, None]).squeeze(-1)
    assert max_error(fixed, axis_angle) < 1e-12  # the axis is fixed


def test_axis_angle_to_matrix_near_zero():
    assert torch.equal(axis_angle_to_matrix(torch.zeros(3, dtype=F64)), torch.eye(3, dtype=F64))
    small = torch.tensor([1e-9, -3e-9, 2e-9], dtype=F64)
    x, y, z = small.tolist()
    first_order = torch.eye(3, dtype=F64) + torch.tensor([[0, -z, y], [z, 0, -x], [-y, x, 0]], dtype=F64)
    assert max_error(axis_angle_to_matrix(small), first_order) < 1e-16
    # Just below and above the switch to the Taylor series both branches agree with the closed form.
    switch = torch.finfo(F64).eps ** 0.25
    axis = torch.tensor([0.6, 0.0, 0.8], dtype=F64)
    for angle in (switch * (1 - 1e-6), switch * (1 + 1e-6)):
        expected = o3.axis_angle_to_matrix(axis, torch.tensor(angle, dtype=F64))
        assert max_error(axis_angle_to_matrix(axis * angle), expected) < 5e-16  # ~2 ulp of 1


@pytest.mark.parametrize("axis_angle", [[0.0, 0.0, 0.0], [1e-9, 0.0, -1e-9], [1.2e-4, 0.0, 0.0],
                                        [0.3, -0.7, 1.1], [0.0, math.pi, 0.0]])
def test_axis_angle_to_matrix_gradcheck(axis_angle):
    w = torch.tensor(axis_angle, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(axis_angle_to_matrix, (w,))


def test_round_trip_below_half_turn():
    generator = torch.Generator().manual_seed(4)
    direction = torch.nn.functional.normalize(torch.randn(2000, 3, dtype=F64, generator=generator), dim=-1)
    angle = torch.rand(2000, 1, dtype=F64, generator=generator) * (math.pi - 1e-3)
    axis_angle = torch.cat([direction * angle, torch.zeros(1, 3, dtype=F64), 1e-10 * direction[:5]])
    assert max_error(matrix_to_axis_angle(axis_angle_to_matrix(axis_angle)), axis_angle) < 1e-12


@pytest.mark.parametrize("axis", [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.48, -0.6, 0.64]])
def test_half_turns_give_a_vector_of_norm_pi(axis):
    axis = torch.tensor(axis, dtype=F64)
    for angle in (math.pi, math.pi - 1e-6):
        matrix = axis_angle_to_matrix(axis * angle)
        recovered = matrix_to_axis_angle(matrix)
        assert abs(float(recovered.norm()) - angle) < 1e-9
        assert max_error(axis_angle_to_matrix(recovered), matrix) < 1e-12


def test_matrix_round_trip_for_random_rotations():
    matrices = random_rotation(F64, torch.Generator().manual_seed(5), batch_shape=(500,))
    axis_angle = matrix_to_axis_angle(matrices)
    assert float(axis_angle.norm(dim=-1).max()) <= math.pi + 1e-12
    assert max_error(axis_angle_to_matrix(axis_angle), matrices) < 1e-12


@pytest.mark.parametrize("axis_angle", [[0.0, 0.0, 0.0], [1e-10, 2e-10, 0.0], [0.5, -0.2, 0.9], [0.0, 2.5, 0.0]])
def test_matrix_to_axis_angle_gradient_inverts(axis_angle):
    w = torch.tensor(axis_angle, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(matrix_to_axis_angle, (axis_angle_to_matrix(w).detach().requires_grad_(),))
    jacobian = torch.autograd.functional.jacobian(lambda v: matrix_to_axis_angle(axis_angle_to_matrix(v)), w)
    assert max_error(jacobian, torch.eye(3, dtype=F64)) < 1e-9
