"""EquiformerV2 passes the shared model suites: exactly in the gate variants and with EquiformerV3's
switches, up to S² grid aliasing in the grid variants (the reference's configuration)."""

import pytest
import torch

from equiformers.testing.suites import BasicModelSuite, EnergyModelSuite

from .conftest import EXACT, V3, V3_ENERGY, tiny_spec

CONSERVATIVE = {"energy": {"type": "eqv2_energy"}}

EXACT_VARIANTS = {
    "gate-layer_norm_sh": {**EXACT, "norm_type": "layer_norm_sh"},
    "gate-layer_norm": {**EXACT, "norm_type": "layer_norm"},
    "gate-rms_norm_sh-shared-pair-mean": {**EXACT, "norm_type": "rms_norm_sh", "share_atom_edge_embedding": True,
                                          "heads": {"energy": {"type": "eqv2_energy", "pool": "mean"},
                                                    "forces": {"type": "eqv2_forces"}}},
    "gate-no-pair-embedding-mmax1-generic-heads": {
        **EXACT, "use_atom_edge_embedding": False, "mmax": 1, "elements": 10,
        "heads": {"energy": {"type": "graph_scalar"}, "moment": {"type": "atom_vector"}}},
    "v3-switches": {**V3, "heads": {"energy": V3_ENERGY, "forces": {"type": "eqv2_forces"}}},
    "v3-merge_rms_norm-mmax3-max-elements": {**V3, "norm_type": "merge_rms_norm", "mmax": 3, "max_num_elements": 12,
                                             "heads": {"energy": {"type": "eqv2_energy"}}},
}
GRID_VARIANTS = {
    "separable-s2-grid-mlp (reference)": {"use_grid_mlp": True, "norm_type": "layer_norm_sh"},
    "separable-s2-rms_norm_sh": {"norm_type": "rms_norm_sh"},
    "plain-s2": {"use_sep_s2_act": False},
    "gate-grid-mlp": {"use_gate_act": True, "use_grid_mlp": True},
}
#: Pointwise non-linearities on an 18 x 18 S² grid alias (products of band-limited functions are not
#: band-limited), so the grid variants are equivariant only to ~1e-4 (energies) and ~5e-3 (forces,
#: l > 0 features) relative, in float64 and float32 alike; test_equivariance.py shows the error is
#: the grid's (it falls with the resolution and is zero without grid layers).
GRID_TOLERANCE = {torch.float64: 3e-2, torch.float32: 3e-2}


def _spec(values, default_heads=None):
    values = dict(values)
    heads = values.pop("heads", default_heads)
    return tiny_spec(heads=heads, **values)


class TestExactBasic(BasicModelSuite):
    @pytest.fixture(params=list(EXACT_VARIANTS), ids=list(EXACT_VARIANTS))
    def model_spec(self, request):
        return _spec(EXACT_VARIANTS[request.param])


class TestGridBasic(BasicModelSuite):
    tolerance = GRID_TOLERANCE

    @pytest.fixture(params=list(GRID_VARIANTS), ids=list(GRID_VARIANTS))
    def model_spec(self, request):
        return _spec(GRID_VARIANTS[request.param])


class TestExactEnergy(EnergyModelSuite):
    @pytest.fixture(params=["conservative", "direct"])
    def model_spec(self, request):
        return _spec({**EXACT, "num_layers": 1}, CONSERVATIVE if request.param == "conservative" else None)


class TestGridEnergy(EnergyModelSuite):
    tolerance = GRID_TOLERANCE

    @pytest.fixture(params=["conservative", "direct"])
    def model_spec(self, request):
        return _spec({"use_grid_mlp": True, "num_layers": 1},
                     CONSERVATIVE if request.param == "conservative" else None)


class TestV3Energy(EnergyModelSuite):
    """EquiformerV3's switches: exact equivariance, and (envelope, no neighbour cap) smooth at the cutoff."""

    @pytest.fixture(params=["conservative", "direct"])
    def model_spec(self, request):
        heads = {"energy": V3_ENERGY} if request.param == "conservative" else {"energy": V3_ENERGY,
                                                                               "forces": {"type": "eqv2_forces"}}
        return _spec({**V3, "num_layers": 1}, heads)
