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
