"""Equiformer passes the shared model suite in every architectural variant."""

import pytest

from equiformers.testing.model_suite import ModelTestSuite

TINY = {"channels": [16, 8, 4], "num_layers": 2, "num_heads": 2, "readout_channels": 16, "num_basis": 8,
        "radial_hidden": [8, 8], "alpha_drop": 0.0}

VARIANTS = {
    "mlp-nonlinear": {},
    "mlp-linear": {"message": "linear"},
    "dot-product": {"attention": "dot_product", "message": "linear"},
    "e3-parity": {"symmetry": "e3"},
    "bessel-basis": {"radial_basis": "bessel"},
    "exp-normal-lmax3-two-outputs": {"radial_basis": "exp_normal", "channels": [16, 8, 4, 4],
                                     "elements": 64, "outputs": ["a", "b"]},
    "mean-readout": {"readout": "mean", "num_layers": 1},
    "smooth-cutoff-dot-product": {"smooth_cutoff": True, "attention": "dot_product", "message": "linear"},
    "smooth-cutoff-mlp": {"smooth_cutoff": True},
}


class TestEquiformer(ModelTestSuite):
    @pytest.fixture(params=list(VARIANTS), ids=list(VARIANTS))
    def model_spec(self, request):
        return {"preset": "equiformer-qm9", **TINY, **VARIANTS[request.param]}
