"""The kernel basis, the convolutions and their fusion levels, checked against the formulas."""

import math

import pytest
import torch
from e3nn import o3

from equiformers.errors import ConfigError
from equiformers.models.se3_transformer.basis import BasisGroup, KernelBases, num_frequencies
from equiformers.models.se3_transformer.convolution import EdgeContext, EquivariantConvolution
from equiformers.models.se3_transformer.fiber import Fiber
from equiformers.models.se3_transformer.radial import RadialConfig
from equiformers.testing import random_rotation
from equiformers.testing.symmetry import wigner_D

DEGREES = range(4)


def rotation(seed=0):
    return random_rotation(torch.float64, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("d_in", DEGREES)
@pytest.mark.parametrize("d_out", DEGREES)
def test_basis_is_equivariant_for_every_degree_pair(d_in, d_out):
    """W_J(R x) = D_in(R) W_J(x) D_out(R)^T for every frequency J (messages out = W^T f rotate with D_out)."""
    group = BasisGroup.of([(d_in, d_out)])
    vec = torch.randn(7, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(d_in * 4 + d_out))
    R = rotation(d_in + 10 * d_out)
    before, after = KernelBases(vec, [group])[group], KernelBases(vec @ R.T, [group])[group]
    D_in, D_out = wigner_D(f"1x{d_in}e", R), wigner_D(f"1x{d_out}e", R)
    expected = torch.einsum("ab,ebfc,dc->eafd", D_in, before, D_out)
    assert group.num_freq == 2 * min(d_in, d_out) + 1
    assert torch.allclose(after, expected, atol=1e-12)
    assert before.abs().amax(dim=(0, 1, 3)).min() > 1e-3  # no frequency is identically zero


def test_basis_matches_clebsch_gordan_times_harmonics():
    """basis[e, l, J, k] = sum_m Y_Jm(x_e) wigner_3j(J, d_in, d_out)[m, l, k] (NVIDIA's definition)."""
    vec = torch.randn(5, 3, dtype=torch.float64)
    group = BasisGroup.of([(2, 1)])
    basis = KernelBases(vec, [group])[group]
    for f, j in enumerate(range(1, 4)):
        sh = o3.spherical_harmonics(j, vec, normalize=True, normalization="integral")
        expected = torch.einsum("em,mlk->elk", sh, o3.wigner_3j(j, 2, 1, dtype=torch.float64))
        assert torch.allclose(basis[:, :, f, :], expected, atol=1e-14)


def random_edges(num_nodes=5, num_edges=14, seed=0, dtype=torch.float64, groups=()):
    gen = torch.Generator().manual_seed(seed)
    src = torch.randint(0, num_nodes, (num_edges,), generator=gen)
    dst = (src + torch.randint(1, num_nodes, (num_edges,), generator=gen)) % num_nodes
    vec = torch.randn(num_edges, 3, dtype=dtype, generator=gen)
    radial_inputs = vec.norm(dim=-1, keepdim=True)
    return EdgeContext(src, dst, num_nodes, radial_inputs, KernelBases(vec, groups)), vec


def random_features(fiber: Fiber, num_nodes=5, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return {d: torch.randn(num_nodes, c, 2 * d + 1, dtype=torch.float64, generator=gen) for d, c in fiber}


def run(conv, fiber_in, seed=0):
    edges, _ = random_edges(seed=seed, groups=conv.groups)
    return conv(random_features(fiber_in), edges)


CASES = {  # name: (fiber_in, fiber_out, depthwise)
    "uniform": (Fiber.create(3, 3), Fiber.create(4, 2), False),
    "uneven-out": (Fiber.create(3, 3), Fiber.of({0: 4, 1: 2, 3: 1}), False),
    "uneven-in": (Fiber.of({0: 2, 2: 3}), Fiber.create(2, 2), False),
    "depthwise": (Fiber.create(4, 3), Fiber.create(3, 3), True),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("sharing", ["pair", "convolution", "nvidia"])
def test_every_fusion_level_equals_the_unfused_path(case, sharing):
    fiber_in, fiber_out, depthwise = CASES[case]
    radial = RadialConfig(sharing=sharing)
    torch.manual_seed(0)
    reference = EquivariantConvolution(fiber_in, fiber_out, 0, radial, depthwise=depthwise, fusion="none").double()
    expected = run(reference, fiber_in)
    levels = set()
    for fusion in ("auto", "full", "partial"):
        conv = EquivariantConvolution(fiber_in, fiber_out, 0, radial, depthwise=depthwise, fusion=fusion,
                                      strict=False).double()
        conv.load_state_dict(reference.state_dict())  # fusion decides the products, not the parameters
        out = run(conv, fiber_in)
        levels.add(conv.fusion)
        for d in expected:
            assert torch.allclose(out[d], expected[d], atol=1e-12, rtol=1e-12), (fusion, d)
    assert levels - {"none"}, "no fused level was exercised"


def test_tfn_convolution_matches_the_explicit_sum():
    """out^{l,o} = sum_{k,c,J} phi_J^{lo,kc}(r) sum_m Y_Jm(x) Q_J[m, :, :]^T f^{k,c}, written out with e3nn."""
    fiber_in, fiber_out = Fiber.of({0: 2, 1: 2, 2: 1}), Fiber.of({0: 1, 1: 3, 2: 2})
    torch.manual_seed(1)
    conv = EquivariantConvolution(fiber_in, fiber_out, 0, RadialConfig(), fusion="auto").double()
    edges, vec = random_edges(groups=conv.groups)
    x = random_features(fiber_in)
    out = conv(x, edges)
    weights = conv.pair_weights(edges.radial_inputs)
    for d_out, c_out in fiber_out:
        expected = 0
        for d_in, _ in fiber_in:
            w = weights[(d_in, d_out)]  # [E, C_out, C_in, F]
            for f, j in enumerate(range(abs(d_in - d_out), d_in + d_out + 1)):
                sh = o3.spherical_harmonics(j, vec, normalize=True, normalization="integral")
                kernel = torch.einsum("em,mlk->elk", sh, o3.wigner_3j(j, d_in, d_out, dtype=torch.float64))
                expected = expected + torch.einsum("eoc,ecl,elk->eok", w[..., f], x[d_in][edges.src], kernel)
        assert torch.allclose(out[d_out], expected, atol=1e-12)


def test_separable_kernel_on_a_hand_computed_case():
    """Degree 0 -> 1, one edge: V~^1_0(x) f = phi_1(r) f x/|x| / sqrt(4 pi) for every channel (eqs. 16-18).

    (e3nn: Y_1(u) = sqrt(3 / 4 pi) u, wigner_3j(1, 0, 1) = I / sqrt(3).)
    """
    conv = EquivariantConvolution(Fiber.of({0: 3}), Fiber.of({1: 3}), 0, RadialConfig(), depthwise=True).double()
    vec = torch.tensor([[1.0, -2.0, 2.0]], dtype=torch.float64)
    edges = EdgeContext(torch.tensor([1]), torch.tensor([0]), 2, vec.norm(dim=-1, keepdim=True),
                        KernelBases(vec, conv.groups))
    f = torch.tensor([[0.0, 0.0, 0.0], [0.5, -1.0, 2.0]], dtype=torch.float64).unsqueeze(-1)
    out = conv({0: f}, edges)[1]  # [1 edge, 3 channels, 3 components]
    phi = conv.pair_weights(edges.radial_inputs)[(0, 1)][0, 0]
    expected = phi * f[1] * (vec[0] / 3.0) / math.sqrt(4 * math.pi)  # |vec| = 3
    assert num_frequencies(0, 1) == 1 and torch.allclose(out[0], expected, atol=1e-14)


def test_full_fusion_with_unequal_channels_is_a_clear_error():
    with pytest.raises(ConfigError, match="fusion 'full' needs the same number of channels"):
        EquivariantConvolution(Fiber.of({0: 5, 1: 1}), Fiber.create(2, 4), 0, RadialConfig(), fusion="full")
    with pytest.raises(ConfigError, match="fusion 'partial' needs"):
        EquivariantConvolution(Fiber.of({0: 5, 1: 1}), Fiber.of({0: 2, 1: 3}), 0, RadialConfig(), fusion="partial")
    conv = EquivariantConvolution(Fiber.of({0: 5, 1: 1}), Fiber.create(2, 4), 0, RadialConfig(), fusion="full",
                                  strict=False)
    assert conv.fusion == "partial_in"  # as a cap, the highest level the fibers allow


def test_depthwise_kernel_needs_uniform_channels():
    with pytest.raises(ConfigError, match="depth-wise"):
        EquivariantConvolution(Fiber.of({0: 4, 1: 2}), Fiber.of({0: 4}), 0, RadialConfig(), depthwise=True)


def test_a_degree_without_channels_is_a_clear_error():
    with pytest.raises(ConfigError, match="degree 1 has 0 channels"):
        Fiber.of({0: 4, 1: 0})
