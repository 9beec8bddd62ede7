"""Every SE(3)-Transformer variant passes the shared model suites (tiny sizes, so they run in seconds)."""

import pytest

from equiformers.testing.suites import BasicModelSuite, EnergyModelSuite

#: degrees 0-2 with 4 channels, 2 blocks, 2 heads: every code path at a size that runs in milliseconds
TINY = {"num_layers": 2, "num_degrees": 3, "channels": 4, "num_heads": 2, "channels_div": 2, "out_channels": 6,
        "num_edge_types": 0}
VARIANTS = {
    "original": {"preset": "se3-transformer-qm9"},
    "nvidia": {"preset": "se3-transformer-qm9-nvidia"},  # output_pool: sum
    "efficient": {"preset": "se3-transformer-qm9-efficient"},
    "efficient-dot": {"preset": "se3-transformer-qm9", "kernel": "separable"},
    "efficient-dot-full-keys": {"preset": "se3-transformer-qm9", "kernel": "separable", "key_kernel": "full"},
    "full-values-separable-keys": {"preset": "se3-transformer-qm9-nvidia", "key_kernel": "separable"},
    "scalar-only": {"preset": "se3-transformer-qm9-efficient", "num_degrees": 1},
    "efficient-options": {"preset": "se3-transformer-qm9-efficient", "num_heads": 1, "num_layers": 3,
                          "edge_features": {"num_rbf": 8, "update_scalars": "output", "update_layers": 3,
                                            "update_activation": "silu", "update_hidden": 5}},
    "unequal-channels": {"preset": "se3-transformer-qm9", "channels": [8, 4, 4], "skip": "sum", "norm": False,
                         "pooling": "mean"},
    "radius-low-memory": {"preset": "se3-transformer-pdbbind-efficient", "low_memory": True, "pooling": "sum"},
}


def tiny(name: str) -> dict:
    spec = {**TINY, **VARIANTS[name]}
    if spec["preset"].startswith("se3-transformer-pdbbind"):
        spec["elements"] = ["H", "C", "N", "O", "F", "P", "S", "Cl", "Br", "I"]
    return spec


class TestSE3Transformer(BasicModelSuite):
    @pytest.fixture(params=list(VARIANTS), ids=list(VARIANTS))
    def model_spec(self, request):
        return tiny(request.param)


class TestSE3TransformerEnergy(EnergyModelSuite):
    """Energy = sum over atoms of an MLP of the final scalars, on a 3 Å radius graph (periodic cells too).

    The SE(3)-Transformer is ReLU throughout (radial networks, norm non-linearity), so its energy is
    only piecewise smooth; these seeded configurations have no kink within the suite's 1e-5 Å
    finite-difference step (with 16 edge Gaussians the Efficient one happens to have one there).
    """

    @pytest.fixture(params=["original", "efficient"])
    def model_spec(self, request):
        spec = {**tiny(request.param), "graph": "radius", "cutoff": 3.0, "elements": ["H", "C", "N", "O"],
                "edge_features": {"num_rbf": 12}}
        return {**spec, "heads": {"energy": {"type": "graph_scalar", "feature": "node_scalars", "pool": "sum"}}}
