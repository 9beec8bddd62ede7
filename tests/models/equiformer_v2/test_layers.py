"""EquiformerV2 layers against their definitions: edge frames and rotations, m-truncation, the SO(2)
convolution's symmetry, norms, grid activations."""

import pytest
import torch
from e3nn import o3

from equiformers.models.equiformer_v2.activation import GateActivation, S2Activation, SphereGrid
from equiformers.models.equiformer_v2.norm import EquivariantLayerNorm, SeparableLayerNorm, SeparableRMSNorm
from equiformers.models.equiformer_v2.so2 import SO2Convolution
from equiformers.models.equiformer_v2.sphere import SO3Linear, SphereToIrreps
from equiformers.so3 import random_rotation, rebuild_constants, wigner_D_blocks
from equiformers.so3.coefficients import m_major_coefficients, m_major_index, truncated_size
from equiformers.so3.edge_wigner import edge_rotation_matrices
from equiformers.so3.frames import edge_frames, rotation_about_y

DTYPE = torch.float64


def close(a: torch.Tensor, b: torch.Tensor, atol: float) -> bool:
    """Absolute agreement only (torch.allclose's default rtol would hide float32-level errors)."""
    return bool((a - b).abs().max() <= atol)


def double(module: torch.nn.Module) -> torch.nn.Module:
    """``module`` in float64 with its declared constants rebuilt exactly, as models do on ``.double()``."""
    module = module.double()
    rebuild_constants(module)
    return module


def sphere_D(lmax: int, rotation: torch.Tensor) -> torch.Tensor:
    """Block-diagonal Wigner-D [(lmax+1)², (lmax+1)²] of one rotation (the exact reference)."""
    return torch.block_diag(*wigner_D_blocks(lmax, rotation))


def rotate_sphere(x: torch.Tensor, rotation: torch.Tensor, lmax: int) -> torch.Tensor:
    return torch.einsum("ij,njc->nic", sphere_D(lmax, rotation), x)


@pytest.mark.parametrize("roll", ["fixed", "random"])
def test_edge_frames_turn_edges_onto_y_and_are_rotations(roll):
    vectors = torch.randn(200, 3, dtype=DTYPE, generator=torch.Generator().manual_seed(0))
    vectors[:3] = torch.tensor([[0.0, 2.0, 0.0], [0.0, -1.0, 0.0], [1.0, 0.0, -1.0]], dtype=DTYPE)  # poles, equator
    frames = edge_frames(vectors, roll)
    unit = vectors / vectors.norm(dim=-1, keepdim=True)
    assert close(torch.einsum("eij,ej->ei", frames, unit), torch.tensor([0.0, 1.0, 0.0], dtype=DTYPE), atol=1e-14)
    assert close(frames @ frames.transpose(1, 2), torch.eye(3, dtype=DTYPE).expand(200, 3, 3), atol=1e-14)
    assert close(torch.linalg.det(frames), torch.ones(200, dtype=DTYPE), atol=1e-14)


def test_fixed_frames_are_smooth_within_a_chart_and_differentiable():
    vectors = torch.tensor([[0.3, 0.8, -0.4], [0.5, -0.2, 0.9]], dtype=DTYPE, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: edge_frames(v), (vectors,))
    assert torch.equal(edge_frames(vectors.detach()), edge_frames(vectors.detach()))  # deterministic


def test_edge_rotation_rows_are_the_truncated_wigner_rows_in_m_major_order():
    lmax, mmax = 4, 2
    vectors = torch.randn(6, 3, dtype=DTYPE, generator=torch.Generator().manual_seed(1))
    frames = edge_frames(vectors)
    to_edge, from_edge = edge_rotation_matrices(frames, lmax, mmax)
    for e in range(6):
        assert close(to_edge[e], sphere_D(lmax, frames[e])[list(m_major_index(lmax, mmax))], atol=1e-14)
    # Rotating back is the transpose with degrees l > mmax scaled by √((2l+1)/(2 mmax+1)).
    scale = torch.tensor([((2 * l + 1) / (2 * mmax + 1)) ** 0.5 if l > mmax else 1.0
                          for l, _ in m_major_coefficients(lmax, mmax)], dtype=DTYPE)
    assert close(from_edge, to_edge.transpose(1, 2) * scale, atol=1e-15)
    assert to_edge.shape == (6, truncated_size(lmax, mmax), (lmax + 1) ** 2) and truncated_size(6, 2) == 29


def test_m0_rows_are_the_spherical_harmonics_of_the_edge_direction():
    """Row (l, m = 0) of D(R) is Y_l(û)/√(2l+1) (component normalisation): the edge really is the y axis."""
    vectors = torch.randn(5, 3, dtype=DTYPE, generator=torch.Generator().manual_seed(2))
    to_edge, _ = edge_rotation_matrices(edge_frames(vectors), 3, 1)
    sh = o3.spherical_harmonics(list(range(4)), vectors, normalize=True, normalization="component")
    for l in range(4):
        assert close(to_edge[:, l, l * l:(l + 1) ** 2], sh[:, l * l:(l + 1) ** 2] / (2 * l + 1) ** 0.5,
                              atol=1e-14)


def test_without_truncation_rotating_back_undoes_the_rotation():
    frames = edge_frames(torch.randn(4, 3, dtype=DTYPE, generator=torch.Generator().manual_seed(3)))
    to_edge, from_edge = edge_rotation_matrices(frames, 3, 3)
    assert close(from_edge @ to_edge, torch.eye(16, dtype=DTYPE).expand(4, 16, 16), atol=1e-13)


def roll_matrix(lmax: int, mmax: int, angle: float) -> torch.Tensor:
    """A rotation about the edge (y) axis on the m-major truncated layout [K, K] (it never mixes |m|)."""
    index = list(m_major_index(lmax, mmax))
    return sphere_D(lmax, rotation_about_y(torch.tensor(angle, dtype=DTYPE)))[index][:, index]


@pytest.mark.parametrize("lmax,mmax", [(3, 2), (4, 4), (2, 0)])
def test_so2_convolution_commutes_with_rotations_about_the_edge(lmax, mmax):
    """The dense operator of the SO(2) convolution equals its conjugate by any roll about the edge."""
    torch.manual_seed(0)
    conv = double(SO2Convolution(3, 2, lmax, mmax, radial_channels=[5, 4, 4], extra_m0_channels=3))
    with torch.no_grad():  # non-trivial biases: they must only touch m = 0
        conv.fc_m0.bias.normal_()
    x = torch.randn(7, truncated_size(lmax, mmax), 3, dtype=DTYPE)
    scalars = torch.randn(7, 5, dtype=DTYPE)
    roll = roll_matrix(lmax, mmax, 0.7)
    y, extra = conv(x, scalars)
    y_rolled, extra_rolled = conv(torch.einsum("ij,ejc->eic", roll, x), scalars)
    assert close(y_rolled, torch.einsum("ij,ejc->eic", roll, y), atol=1e-12)
    assert close(extra_rolled, extra, atol=1e-12)  # the extra m = 0 outputs are invariant


def test_so2_convolution_is_the_most_general_roll_equivariant_map_for_m1():
    """For one degree block the m > 0 map is a complex multiplication:
    y_+ = W_r x_+ - W_i x_-, y_- = W_r x_- + W_i x_+."""
    conv = double(SO2Convolution(1, 1, 1, 1))
    w_r, w_i = conv.so2_m_conv[0].fc.weight.detach()[:, 0]
    x = torch.randn(2, 4, 1, dtype=DTYPE)  # m-major: (l0,m0), (l1,m0), (l1,+1), (l1,-1)
    y, _ = conv(x)
    plus, minus = x[:, 2, 0], x[:, 3, 0]
    assert close(y[:, 2, 0], w_r * plus - w_i * minus, atol=1e-15)
    assert close(y[:, 3, 0], w_r * minus + w_i * plus, atol=1e-15)


def test_gate_and_s2_activations_on_the_edge_layout():
    lmax, mmax = 3, 2
    coefficients = m_major_index(lmax, mmax)
    roll = roll_matrix(lmax, mmax, 1.1)
    x = torch.randn(4, len(coefficients), 5, dtype=DTYPE)
    gate = GateActivation(lmax, 5, coefficients)
    gates = torch.randn(4, lmax * 5, dtype=DTYPE)
    assert close(gate(gates, torch.einsum("ij,ejc->eic", roll, x)),
                          torch.einsum("ij,ejc->eic", roll, gate(gates, x)), atol=1e-13)
    # A roll about the grid's polar axis is a shift in longitude: exact on a grid for |m| < res/2.
    s2 = double(S2Activation(SphereGrid(lmax, mmax, 18, coefficients)))
    errors = [(s2(torch.einsum("ij,ejc->eic", roll_matrix(lmax, mmax, 2 * torch.pi * k / 18), x))
               - torch.einsum("ij,ejc->eic", roll_matrix(lmax, mmax, 2 * torch.pi * k / 18), s2(x))).abs().max()
              for k in (1, 5)]
    assert max(errors) < 1e-12


def test_s2_activation_equivariance_error_falls_with_the_grid_resolution():
    """Grid aliasing, not a bug: the error of a pointwise SiLU on S² shrinks as the grid grows."""
    lmax = 3
    x = torch.randn(8, 16, 4, dtype=DTYPE, generator=torch.Generator().manual_seed(4))
    rotation = random_rotation(DTYPE, torch.Generator().manual_seed(5))
    errors = []
    for resolution in (8, 12, 18, 30):
        act = double(S2Activation(SphereGrid(lmax, lmax, resolution, range(16))))
        error = act(rotate_sphere(x, rotation, lmax)) - rotate_sphere(act(x), rotation, lmax)
        errors.append(float(error.abs().max()))
    assert errors[0] > errors[1] > errors[2] > errors[3] and errors[3] < errors[0] / 10


@pytest.mark.parametrize("norm_class", [EquivariantLayerNorm, SeparableLayerNorm, SeparableRMSNorm])
def test_norms_are_equivariant(norm_class):
    lmax = 3
    norm = double(norm_class(lmax, 6))
    with torch.no_grad():
        for p in norm.parameters():
            p.normal_()
    x = torch.randn(5, 16, 6, dtype=DTYPE)
    rotation = random_rotation(DTYPE, torch.Generator().manual_seed(6))
    assert close(norm(rotate_sphere(x, rotation, lmax)), rotate_sphere(norm(x), rotation, lmax), atol=1e-12)


def test_norms_match_their_formulas():
    lmax, eps = 3, 1e-5
    x = torch.randn(5, 16, 6, dtype=DTYPE)
    degree = [l for l in range(lmax + 1) for _ in range(2 * l + 1)]
    # layer_norm_sh: LayerNorm on l = 0; l > 0 divided by √(mean_c Σ_l 1/((2l+1) lmax) Σ_m x²).
    sln = double(SeparableLayerNorm(lmax, 6))
    ms = sum(x[:, i].pow(2) / ((2 * degree[i] + 1) * lmax) for i in range(1, 16)).mean(-1)
    expected = torch.cat([torch.nn.functional.layer_norm(x[:, :1], (6,), eps=eps),
                          x[:, 1:] / (ms + eps).sqrt()[:, None, None]], dim=1)
    assert close(sln(x), expected, atol=1e-12)
    # rms_norm_sh: centre l = 0, one RMS over all degrees with weights 1/((2l+1)(lmax+1)).
    centred = torch.cat([x[:, :1] - x[:, :1].mean(-1, keepdim=True), x[:, 1:]], dim=1)
    ms = sum(centred[:, i].pow(2) / ((2 * degree[i] + 1) * (lmax + 1)) for i in range(16)).mean(-1)
    assert close(double(SeparableRMSNorm(lmax, 6))(x), centred / (ms + eps).sqrt()[:, None, None], atol=1e-12)
    # layer_norm: every degree by its own RMS (l = 0 centred).
    per_degree = []
    for l in range(lmax + 1):
        f = centred[:, l * l:(l + 1) ** 2]
        per_degree.append(f / (f.pow(2).mean(dim=(1, 2), keepdim=True) + eps).sqrt())
    assert close(double(EquivariantLayerNorm(lmax, 6))(x), torch.cat(per_degree, 1), atol=1e-12)


def test_so3_linear_is_equivariant_and_biases_only_scalars():
    lmax = 3
    linear = double(SO3Linear(4, 5, lmax))
    with torch.no_grad():
        linear.bias.normal_()
    x = torch.randn(3, 16, 4, dtype=DTYPE)
    rotation = random_rotation(DTYPE, torch.Generator().manual_seed(7))
    assert close(linear(rotate_sphere(x, rotation, lmax)), rotate_sphere(linear(x), rotation, lmax), atol=1e-12)
    assert close(linear(torch.zeros(1, 16, 4, dtype=DTYPE))[0, 0], linear.bias, atol=0.0)


def test_sphere_to_irreps_rotates_with_e3nn_wigner_matrices():
    from equiformers.testing.symmetry import wigner_D

    lmax, channels = 3, 2
    view = SphereToIrreps(lmax, channels)
    x = torch.randn(4, 16, channels, dtype=DTYPE)
    rotation = random_rotation(DTYPE, torch.Generator().manual_seed(8))
    D = wigner_D(view.irreps_out, rotation)
    assert close(view(rotate_sphere(x, rotation, lmax)), view(x) @ D.T, atol=1e-12)


def test_merged_norms_are_rms_norm_sh_and_its_uncentred_variant():
    from equiformers.models.equiformer_v2.norm import build_norm

    lmax, eps = 3, 1e-5
    x = torch.randn(5, 16, 6, dtype=DTYPE)
    reference = double(build_norm("rms_norm_sh", lmax, 6))
    merged = double(build_norm("merge_layer_norm", lmax, 6))
    with torch.no_grad():
        for p, q in zip(reference.parameters(), merged.parameters()):
            p.normal_()
            q.copy_(p)
    assert close(merged(x), reference(x), atol=0.0)
    degree = [l for l in range(lmax + 1) for _ in range(2 * l + 1)]
    ms = sum(x[:, i].pow(2) / ((2 * degree[i] + 1) * (lmax + 1)) for i in range(16)).mean(-1)
    uncentred = double(build_norm("merge_rms_norm", lmax, 6))
    assert not any("bias" in name for name, _ in uncentred.named_parameters())
    assert close(uncentred(x), x / (ms + eps).sqrt()[:, None, None], atol=1e-12)


@pytest.mark.parametrize("grid,exact", [((10, 7), True), ((8, 8), True), ((10, 6), False), ((8, 5), False)])
def test_swiglu_s2_activation_is_exactly_roll_equivariant_on_a_fine_enough_grid(grid, exact):
    """In the edge frame only rolls about the pole matter: the product of two signals of orders
    ≤ mmax is resolved exactly from 3 mmax + 1 longitudes on (any latitudes); below, it aliases."""
    from equiformers.models.equiformer_v2.activation import SwiGLUS2Activation

    lmax, mmax = 3, 2
    coefficients = m_major_index(lmax, mmax)
    act = double(SwiGLUS2Activation(SphereGrid(lmax, mmax, grid, coefficients), 3))
    x = torch.randn(5, len(coefficients), 6, dtype=DTYPE, generator=torch.Generator().manual_seed(9))
    scalars = torch.randn(5, 9, dtype=DTYPE, generator=torch.Generator().manual_seed(10))
    roll = roll_matrix(lmax, mmax, 0.77)
    error = (act(scalars, torch.einsum("ij,ejc->eic", roll, x)) - torch.einsum("ij,ejc->eic", roll, act(scalars, x)))
    assert (error.abs().max() < 1e-13) == exact


@pytest.mark.parametrize("resolution,exact", [(None, True), (12, True), (8, False)])
def test_gated_swiglu_feed_forward_is_exactly_equivariant(resolution, exact):
    from equiformers.models.equiformer_v2.config import EquiformerV2Config
    from equiformers.models.equiformer_v2.ffn import FeedForwardNetwork

    config = EquiformerV2Config(lmax=3, mmax=2, sphere_channels=4, ffn_hidden_channels=6, use_swiglu_s2=True,
                                grid_resolution=None)
    config.grid_resolution = resolution  # set after construction: 8 is below what validate() allows
    torch.manual_seed(0)
    ffn = double(FeedForwardNetwork(config, 4))
    x = torch.randn(5, 16, 4, dtype=DTYPE)
    rotation = random_rotation(DTYPE, torch.Generator().manual_seed(11))
    error = (ffn(rotate_sphere(x, rotation, 3)) - rotate_sphere(ffn(x), rotation, 3)).abs().max()
    assert (error < 1e-13) == exact
