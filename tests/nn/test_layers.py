"""Equivariance and correctness of the individual building blocks, in float64."""

import math

import pytest
import torch
from e3nn import o3

from equiformers.models.equiformer import DotProductGraphAttention, MLPGraphAttention
from equiformers.models.equiformer.heads_layout import merge_heads, split_heads
from equiformers.nn import (BesselBasis, DepthwiseTensorProduct, EquivariantDropout, EquivariantLayerNorm,
                            EquivariantLinear, ExpNormalBasis, GateActivation, GaussianBasis, GraphDropPath,
                            PolynomialCutoff, SeparableTensorProduct)
from equiformers.so3 import rebuild_constants
from equiformers.ops.scatter import scatter_mean, scatter_sum, segment_softmax
from equiformers.testing import random_rotation, wigner_D

IRREPS = o3.Irreps("8x0e+4x0o+4x1e+4x1o+2x2e")
SH = o3.Irreps.spherical_harmonics(2)


@pytest.fixture
def rotation():
    return random_rotation(torch.float64, torch.Generator().manual_seed(0))


def rel(a, b):
    return float(((a - b).abs().max() / b.abs().max()).detach())


def check_equivariant(layer, irreps_in, irreps_out, matrix, n=6):
    torch.manual_seed(1)
    x = o3.Irreps(irreps_in).randn(n, -1, dtype=torch.float64)
    out_of_rotated = layer(x @ wigner_D(irreps_in, matrix).T)
    rotated_out = layer(x) @ wigner_D(irreps_out, matrix).T
    assert rel(out_of_rotated, rotated_out) < 1e-12


@pytest.mark.parametrize("improper", [False, True])
def test_pointwise_layers_equivariant(rotation, improper):
    matrix = -rotation if improper else rotation
    check_equivariant(EquivariantLinear(IRREPS, "6x0e+2x0o+3x1e+3x1o+2x2e").double(), IRREPS,
                      "6x0e+2x0o+3x1e+3x1o+2x2e", matrix)
    check_equivariant(EquivariantLayerNorm(IRREPS).double(), IRREPS, IRREPS, matrix)
    gate = GateActivation("8x0e+4x1e+2x2e").double()
    check_equivariant(gate, gate.irreps_in, gate.irreps_out, matrix)


def test_exact_wigner_matrices_are_orthogonal_representations(rotation):
    other = random_rotation(torch.float64, torch.Generator().manual_seed(5))
    d_product = wigner_D(SH, rotation @ other)
    assert torch.allclose(d_product, wigner_D(SH, rotation) @ wigner_D(SH, other), atol=1e-12)
    d = wigner_D(SH, rotation)
    assert torch.allclose(d @ d.T, torch.eye(SH.dim, dtype=torch.float64), atol=1e-12)


def test_depthwise_tensor_product_equivariant(rotation):
    tp = DepthwiseTensorProduct(IRREPS, SH, IRREPS).double()
    rebuild_constants(tp)
    x = IRREPS.randn(5, -1, dtype=torch.float64)
    vec = torch.randn(5, 3, dtype=torch.float64)
    weight = torch.randn(5, tp.weight_numel, dtype=torch.float64)
    sh = o3.spherical_harmonics(SH, vec, True, normalization="component")
    sh_rot = o3.spherical_harmonics(SH, vec @ rotation.T, True, normalization="component")
    out_rot = tp(x @ wigner_D(IRREPS, rotation).T, sh_rot, weight)
    assert rel(out_rot, tp(x, sh, weight) @ wigner_D(tp.irreps_out, rotation).T) < 1e-12


def test_refresh_makes_clebsch_gordan_exact():
    tp = DepthwiseTensorProduct("1x2e", "1x2e", "1x2e").double()
    rebuild_constants(tp)
    buffers = {n: b for n, b in tp.named_buffers() if "_w3j_2_2_2" in n}
    assert buffers and all(torch.equal(b, o3.wigner_3j(2, 2, 2, dtype=torch.float64)) for b in buffers.values())


@pytest.mark.parametrize("cls", ["mlp-nonlinear", "mlp-linear", "dot-product"])
def test_attention_equivariant(rotation, cls):
    irreps, head = o3.Irreps("8x0e+4x1e+4x2e"), o3.Irreps("4x0e+2x1e+2x2e")
    sh_irreps = o3.Irreps("1x0e+1x1e+1x2e")
    torch.manual_seed(0)
    if cls == "dot-product":
        layer = DotProductGraphAttention(irreps, sh_irreps, head, 2, [6, 8])
    else:
        layer = MLPGraphAttention(irreps, sh_irreps, head, 2, [6, 8], nonlinear_message=cls == "mlp-nonlinear")
    layer = layer.double()
    rebuild_constants(layer)
    n, src, dst = 5, torch.tensor([0, 1, 2, 3, 4, 0, 2]), torch.tensor([1, 0, 0, 0, 3, 4, 4])
    vec = torch.randn(len(src), 3, dtype=torch.float64)
    radial = torch.randn(len(src), 6, dtype=torch.float64)
    x = irreps.randn(n, -1, dtype=torch.float64)
    D = wigner_D(irreps, rotation)

    def run(x, v):
        return layer(x, o3.spherical_harmonics(sh_irreps, v, True, normalization="component"), radial, src, dst)

    assert rel(run(x @ D.T, vec @ rotation.T), run(x, vec) @ D.T) < 1e-12


def test_heads_layout_roundtrip():
    irreps_all = o3.Irreps("8x0e+4x1e")
    x = torch.randn(3, irreps_all.dim)
    heads = split_heads(x, irreps_all, 2)
    assert heads.shape == (3, 2, 10)
    assert torch.equal(merge_heads(heads, o3.Irreps("4x0e+2x1e")), x)


def test_scatter_and_segment_softmax():
    index = torch.tensor([0, 0, 2, 2, 2])
    src = torch.tensor([1.0, 3.0, 2.0, 4.0, 6.0])
    assert scatter_sum(src, index, 3).tolist() == [4.0, 0.0, 12.0]
    assert scatter_mean(src, index, 3).tolist() == [2.0, 0.0, 4.0]
    logits = torch.tensor([[0.0], [1000.0], [1.0], [2.0], [3.0]])
    soft = segment_softmax(logits, index, 3)
    assert torch.isfinite(soft).all()
    assert torch.allclose(scatter_sum(soft, index, 3)[[0, 2]], torch.ones(2, 1))
    expected = torch.softmax(torch.tensor([1.0, 2.0, 3.0]), 0)
    assert torch.allclose(soft[2:, 0], expected)


def test_radial_bases_and_cutoffs():
    d = torch.linspace(0.1, 4.99, 50, dtype=torch.float64)
    for basis in (GaussianBasis(16, 5.0), BesselBasis(8, 5.0), ExpNormalBasis(32, 5.0)):
        out = basis.double()(d)
        assert out.shape == (50, basis.num_basis) and torch.isfinite(out).all()
    at_cutoff = torch.tensor([5.0, 6.0], dtype=torch.float64)
    assert BesselBasis(8, 5.0).double()(at_cutoff).abs().max() == 0
    assert ExpNormalBasis(8, 5.0).double()(at_cutoff).abs().max() == 0
    envelope = PolynomialCutoff(5.0, 5)
    x = torch.tensor([4.9999], dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(envelope(x).sum(), x)
    assert abs(float(envelope(x).detach())) < 1e-10 and abs(float(grad)) < 1e-8  # value and slope vanish
    assert float(envelope(torch.tensor([5.0, 7.0], dtype=torch.float64)).abs().max()) == 0.0


def test_dropouts_are_identity_in_eval_and_keep_equivariance_in_train(rotation):
    drop = EquivariantDropout(IRREPS, 0.5)
    x = IRREPS.randn(4, -1, dtype=torch.float64)
    assert torch.equal(drop.eval()(x), x)
    drop.train()
    torch.manual_seed(0)
    a = drop(x @ wigner_D(IRREPS, rotation).T)
    torch.manual_seed(0)
    b = drop(x) @ wigner_D(IRREPS, rotation).T
    assert rel(a, b) < 1e-12
    path = GraphDropPath(0.5).train()
    out = path(torch.ones(6, 2), torch.tensor([0, 0, 1, 1, 2, 2]), 3)
    assert set(out.flatten().tolist()) <= {0.0, 2.0}
    assert all(out[i].eq(out[i + 1]).all() for i in (0, 2, 4))


def test_linear_initialisation_scale():
    torch.manual_seed(0)
    layer = EquivariantLinear("256x0e+256x1e", "128x0e+128x1e")
    x = o3.Irreps("256x0e+256x1e").randn(2000, -1)
    out = layer(x)
    assert math.isclose(float(out.detach().pow(2).mean()), 1.0, rel_tol=0.1)
