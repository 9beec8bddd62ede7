"""Equiformer passes the shared suites in every architectural variant."""

import pytest

from equiformers.testing.suites import BasicModelSuite, EnergyModelSuite

TINY = {"channels": [16, 8, 4], "num_layers": 2, "num_heads": 2, "readout_channels": 16, "num_basis": 8,
        "radial_hidden": [8, 8], "alpha_drop": 0.0}

VARIANTS = {
    "mlp-nonlinear": {},
    "mlp-linear": {"message": "linear"},
    "dot-product": {"attention": "dot_product", "message": "linear"},
    "e3-parity": {"symmetry": "e3"},
    "bessel-basis": {"radial_basis": "bessel"},
    "exp-normal-lmax3-two-outputs": {"radial_basis": "exp_normal", "channels": [16, 8, 4, 4], "elements": 64,
                                     "heads": {"ab": {"type": "graph_scalar", "outputs": ["a", "b"]}}},
    "mean-readout": {"heads": {"y": {"type": "graph_scalar", "pool": "mean"}}, "num_layers": 1},
    "smooth-cutoff-dot-product": {"smooth_cutoff": True, "attention": "dot_product", "message": "linear"},
    "smooth-cutoff-mlp": {"smooth_cutoff": True},
}
ENERGY_VARIANTS = {
    "se3": {},
    "e3": {"symmetry": "e3"},
    "smooth-cutoff": {"smooth_cutoff": True, "cutoff": 3.0},
    "direct-forces-e3": {"symmetry": "e3", "heads": {"energy": {"type": "graph_scalar"},
                                                      "forces": {"type": "atom_vector"}}},
}


class TestEquiformer(BasicModelSuite):
    @pytest.fixture(params=list(VARIANTS), ids=list(VARIANTS))
    def model_spec(self, request):
        return {"preset": "equiformer-qm9", **TINY, **VARIANTS[request.param]}


class TestEquiformerEnergy(EnergyModelSuite):
    @pytest.fixture(params=list(ENERGY_VARIANTS), ids=list(ENERGY_VARIANTS))
    def model_spec(self, request):
        return {"preset": "equiformer-md17-l2", **TINY, "num_layers": 1, **ENERGY_VARIANTS[request.param]}


# The reference computation (e3nn's tensor products) passes the suites too.
E3NN_VARIANTS = {f"{name}-e3nn": {**VARIANTS[name], "tensor_product": "e3nn"}
                 for name in ("mlp-nonlinear", "dot-product", "e3-parity", "smooth-cutoff-mlp")}


class TestEquiformerE3nnProducts(BasicModelSuite):
    @pytest.fixture(params=list(E3NN_VARIANTS), ids=list(E3NN_VARIANTS))
    def model_spec(self, request):
        return {"preset": "equiformer-qm9", **TINY, **E3NN_VARIANTS[request.param]}


@pytest.mark.parametrize("variant", ["mlp-nonlinear", "mlp-linear", "dot-product", "e3-parity",
                                     "exp-normal-lmax3-two-outputs", "smooth-cutoff-mlp"])
def test_edge_frame_products_equal_e3nn(variant):
    """Same parameters, both computations: outputs, forces and the weight gradient of a force loss
    (double backward) agree to rounding in float64."""
    import torch

    from equiformers.data import collate, from_ase
    from equiformers.models.registry import build_model
    from equiformers.testing.structures import rattled_molecules

    spec = {"preset": "equiformer-md17-l2", **TINY, **VARIANTS[variant]}
    spec.setdefault("heads", {"energy": {"type": "graph_scalar"}})
    models = {}
    for tensor_product in ("edge_frame", "e3nn"):
        torch.manual_seed(0)
        models[tensor_product] = build_model({**spec, "tensor_product": tensor_product}).double().eval()
    models["e3nn"].load_state_dict(models["edge_frame"].state_dict())
    results = {}
    for name, model in models.items():
        data = collate([model.prepare(from_ase(a)) for a in rattled_molecules()])
        data = {k: v.double() if v.is_floating_point() else v for k, v in data.items()}
        data["pos"].requires_grad_(True)
        out = model(data)
        energy = sum(out[key].sum() for key in out)
        forces = -torch.autograd.grad(energy, data["pos"], create_graph=True)[0]
        weight_grad = torch.autograd.grad(forces.square().sum(), model.backbone.blocks[0].norm_attention.weight)[0]
        results[name] = (torch.stack([out[key] for key in out]), forces, weight_grad)
    for got, expected in zip(results["edge_frame"], results["e3nn"]):
        assert (got - expected).abs().max() <= 1e-11 * expected.abs().max()


def test_low_memory_recomputes_the_same_outputs_and_gradients():
    """Activation checkpointing of the attention: identical outputs, forces and double-backward
    weight gradients, in training mode with attention dropout (the same masks are redrawn)."""
    import torch

    from equiformers.data import collate, from_ase
    from equiformers.models.registry import build_model
    from equiformers.testing.structures import rattled_molecules

    results = []
    for low_memory in (False, True):
        torch.manual_seed(0)
        model = build_model({"preset": "equiformer-md17-l2", **TINY, "alpha_drop": 0.3, "low_memory": low_memory,
                             "heads": {"energy": {"type": "graph_scalar"}}}).double().train()
        data = collate([model.prepare(from_ase(a)) for a in rattled_molecules()])
        data = {k: v.double() if v.is_floating_point() else v for k, v in data.items()}
        data["pos"].requires_grad_(True)
        torch.manual_seed(1)
        energy = model(data)["energy"]
        forces = -torch.autograd.grad(energy.sum(), data["pos"], create_graph=True)[0]
        weight = model.backbone.blocks[0].attention.alpha_dot
        (grad,) = torch.autograd.grad(energy.sum() + forces.square().sum(), weight)
        results.append((energy, forces, grad))
    for plain, recomputed in zip(*results):
        assert torch.allclose(plain, recomputed, rtol=1e-12, atol=1e-12)
