"""Edge-frame tensor products equal e3nn's, values and gradients, in float64."""

import pytest
import torch
from e3nn import o3

from equiformers.nn import DepthwiseTensorProduct, EquivariantLinear, GateActivation, SeparableTensorProduct
from equiformers.nn.frame_product import FramedProductLinear
from equiformers.so3 import random_rotation, rebuild_constants, wigner_D_irreps
from equiformers.so3.frame_coupling import frame_coupling, frame_terms
from equiformers.so3.irreps_frame import EdgeFrame

DTYPE = torch.float64

CASES = {
    "se3-lmax2": ("8x0e+4x1e+2x2e", "1x0e+1x1e+1x2e"),
    "e3-lmax2": ("8x0e+2x0o+2x1e+2x1o+2x2e+2x2o", o3.Irreps.spherical_harmonics(2)),
    "se3-lmax3": ("4x0e+4x1e+2x2e+2x3e", "1x0e+1x1e+1x2e+1x3e"),
    "lmax1": ("6x0e+3x1e", "1x0e+1x1e"),
}


def _vectors(num_edges, seed=0):
    vectors = torch.randn(num_edges, 3, dtype=DTYPE, generator=torch.Generator().manual_seed(seed))
    vectors[0] = torch.tensor([0.0, 2.0, 0.0])  # along +y: the frame is the identity
    vectors[1] = torch.tensor([0.0, -1.5, 0.0])  # along -y: the other chart's pole
    vectors[2] = torch.tensor([1.0, 0.0, -0.5])  # on the chart boundary (y = 0)
    return vectors


def _modules(irreps, irreps_sh, internal):
    torch.manual_seed(0)
    dtp = DepthwiseTensorProduct(irreps, irreps_sh, irreps, internal_weights=internal)
    consumers = [EquivariantLinear(dtp.irreps_out.simplify(), "5x0e+3x1e+2x2e+1x1o"),
                 EquivariantLinear(dtp.irreps_out, "4x0e+1x0o")]  # unsimplified input, like alpha_linear
    modules = torch.nn.ModuleList([dtp, *consumers]).to(DTYPE)
    rebuild_constants(modules)
    for consumer in consumers:
        for bias in consumer.biases:
            torch.nn.init.normal_(bias)
    if internal:
        torch.nn.init.normal_(dtp.tp.weight)
    return dtp, consumers


def test_couplings_are_the_contracted_clebsch_gordan_and_sparse():
    y = o3.spherical_harmonics(2, torch.tensor([0.0, 1.0, 0.0], dtype=DTYPE), normalize=True,
                               normalization="component")
    full = torch.einsum("ijk,j->ik", o3.wigner_3j(2, 2, 1, dtype=DTYPE), y)
    assert torch.allclose(frame_coupling(2, 2, 1), full, atol=1e-15)
    for l1 in range(4):
        for l2 in range(4):
            for l3 in range(abs(l1 - l2), min(l1 + l2, 3) + 1):
                coupling, terms = frame_coupling(l1, l2, l3), frame_terms(l1, l2, l3)
                for m3, term in zip(range(-l3, l3 + 1), terms):
                    column = coupling[:, m3 + l3]
                    if term is None:
                        assert column.abs().max() < 1e-12
                    else:
                        m1, kappa = term
                        even = (l1 + l2 + l3) % 2 == 0
                        assert m1 == (m3 if even else -m3) and (even or m3 != 0)  # m -> m, or m -> -m
                        assert column[m1 + l1] == kappa


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
@pytest.mark.parametrize("internal", [False, True], ids=["radial-weights", "internal-weights"])
def test_fused_product_equals_e3nn_values_and_gradients(case, internal):
    irreps, irreps_sh = (o3.Irreps(i) for i in CASES[case])
    dtp, consumers = _modules(irreps, irreps_sh, internal)
    fused = FramedProductLinear(dtp, consumers)
    vectors = _vectors(7).requires_grad_()
    x = torch.randn(7, irreps.dim, dtype=DTYPE, requires_grad=True)
    weight = None if internal else torch.randn(7, dtp.weight_numel, dtype=DTYPE, requires_grad=True)

    sh = o3.spherical_harmonics(irreps_sh, vectors, normalize=True, normalization="component")
    product = dtp(x, sh, weight)
    expected = [consumer(product) for consumer in consumers]
    frame = EdgeFrame.from_vectors(vectors, max(irreps_sh.lmax, 2))  # consumers output up to l = 2
    blocks = fused(frame.rotate_in(x, irreps), consumers, dtp.tp.weight if internal else weight)
    got = [frame.rotate_out(b, consumer.irreps_out) for b, consumer in zip(blocks, consumers)]
    for g, e in zip(got, expected):
        assert (g - e).abs().max() < 1e-12 * e.abs().max()

    # first and second derivatives (forces, and training on forces) agree too
    inputs = [vectors, x] + ([weight] if weight is not None else []) + [consumers[0].weights[0]]
    loss = lambda outputs: sum((o * torch.sin(o)).sum() for o in outputs)  # noqa: E731
    grads_e = torch.autograd.grad(loss(expected), inputs, create_graph=True)
    grads_g = torch.autograd.grad(loss(got), inputs, create_graph=True)
    for g, e in zip(grads_g, grads_e):
        assert (g - e).abs().max() < 1e-11 * e.abs().max()
    second_e = torch.autograd.grad(grads_e[0].square().sum(), consumers[1].weights[0], retain_graph=True)[0]
    second_g = torch.autograd.grad(grads_g[0].square().sum(), consumers[1].weights[0])[0]
    assert (second_g - second_e).abs().max() < 1e-10 * second_e.abs().max()


def test_zero_inputs_are_skipped_and_edgeless_batches_work():
    dtp, consumers = _modules(o3.Irreps("8x0e+4x1e+2x2e"), o3.Irreps("1x0e+1x1e+1x2e"), internal=False)
    fused = FramedProductLinear(dtp, consumers, zero_inputs=[1, 2])
    vectors = _vectors(6)
    x = torch.randn(6, dtp.irreps_in.dim, dtype=DTYPE)
    x[:, 8:] = 0.0
    weight = torch.randn(6, dtp.weight_numel, dtype=DTYPE)
    sh = o3.spherical_harmonics("1x0e+1x1e+1x2e", vectors, normalize=True, normalization="component")
    frame = EdgeFrame.from_vectors(vectors, 2)
    blocks = frame.rotate_in(x, dtp.irreps_in)
    got = frame.rotate_out(fused([blocks[0], None, None], consumers, weight)[0], consumers[0].irreps_out)
    expected = consumers[0](dtp(x, sh, weight))
    assert (got - expected).abs().max() < 1e-12 * expected.abs().max()

    empty = EdgeFrame.from_vectors(torch.zeros(0, 3, dtype=DTYPE), 2)
    out = fused(empty.rotate_in(torch.zeros(0, dtp.irreps_in.dim, dtype=DTYPE), dtp.irreps_in), consumers,
                torch.zeros(0, dtp.weight_numel, dtype=DTYPE))
    assert empty.rotate_out(out[0], consumers[0].irreps_out).shape == (0, consumers[0].irreps_out.dim)


@pytest.mark.parametrize("irreps", ["8x0e+4x1e+2x2e", "8x0e+2x0o+2x1e+2x1o+2x2e+2x2o", "6x0e"])
def test_gate_in_the_frame_is_the_gate(irreps):
    gate = GateActivation(irreps).to(DTYPE)
    vectors = _vectors(5)
    x = torch.randn(5, gate.irreps_in.dim, dtype=DTYPE)
    frame = EdgeFrame.from_vectors(vectors, 2)
    got = frame.rotate_out(gate.forward_frame(frame.rotate_in(x, gate.irreps_in)), gate.irreps_out)
    assert torch.allclose(got, gate(x), atol=1e-13)


def test_frame_round_trip_and_rotation_of_the_whole_computation():
    irreps = o3.Irreps("4x0e+2x1o+2x2e+1x3o")
    vectors = _vectors(9)
    x = torch.randn(9, irreps.dim, dtype=DTYPE)
    frame = EdgeFrame.from_vectors(vectors, 3)
    assert torch.allclose(frame.rotate_out(frame.rotate_in(x, irreps), irreps), x, atol=1e-13)
    # a separable product in the frame is equivariant: rotating the edges and the inputs rotates the output
    torch.manual_seed(1)
    product = SeparableTensorProduct("4x0e+2x1e+2x2e", "1x0e+1x1e+1x2e", "3x0e+2x1e+1x2e", [4, 8]).to(DTYPE)
    rebuild_constants(product)
    x, scalars = torch.randn(9, 20, dtype=DTYPE), torch.randn(9, 4, dtype=DTYPE)
    R = random_rotation(DTYPE, torch.Generator().manual_seed(3))

    def run(v, features):
        f = EdgeFrame.from_vectors(v, 2)
        return f.rotate_out(product.forward_frame(f.rotate_in(features, product.irreps_in), scalars),
                            product.irreps_out)

    D_in, D_out = wigner_D_irreps(product.irreps_in, R), wigner_D_irreps(product.irreps_out, R)
    rotated = run(vectors @ R.T, x @ D_in.T)
    assert torch.allclose(rotated, run(vectors, x) @ D_out.T, atol=1e-12)
    sh = o3.spherical_harmonics("1x0e+1x1e+1x2e", vectors, normalize=True, normalization="component")
    assert torch.allclose(run(vectors, x), product(x, sh, scalars), atol=1e-12)
