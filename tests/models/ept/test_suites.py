"""EPT passes the library's model suites (tiny configs: seconds each)."""

import pytest
import torch
from ase.build import bulk

from equiformers.errors import InvalidStructureError
from equiformers.testing.suites import BasicModelSuite, BlockModelSuite, EnergyModelSuite

TINY = {"elements": ["H", "C", "N", "O"], "hidden_channels": 16, "ffn_channels": 16, "num_heads": 2, "num_layers": 2,
        "num_rbf": 8, "edge_channels": 4}
ALL_HEADS = {"y": {"type": "ept_property", "pool": "graph"}, "yb": {"type": "ept_property", "pool": "block"},
             "ya": {"type": "ept_property", "pool": "atom"}, "ys": {"type": "ept_property", "pool": "atom_sum"},
             "noise": {"type": "ept_vector"}, "generic": {"type": "graph_scalar"}}
VARIANTS = {
    "radial": {},
    "fully_connected_qm9": {"graph": "fully_connected", "position_embedding": False},
    "local_mask": {"local_mask": True, "block_cutoff": 3.0},
    "no_biases_sigmoid": {"distance_bias": False, "edge_bias": False, "vector_act": "sigmoid", "qkv_bias": False},
}


class TestEPTBasic(BasicModelSuite):
    @pytest.fixture(params=sorted(VARIANTS))
    def model_spec(self, request):
        return {"model": "ept", "config": {**TINY, **VARIANTS[request.param]}, "heads": ALL_HEADS}


class TestEPTBlocks(BlockModelSuite):
    @pytest.fixture(params=["radial", "local_mask"])
    def model_spec(self, request):
        return {"model": "ept", "config": {**TINY, **VARIANTS[request.param]}, "heads": ALL_HEADS}


class TestEPTEnergy(EnergyModelSuite):
    @pytest.fixture(params=["gradient", "direct"])
    def model_spec(self, request):
        heads = {"energy": {"type": "ept_property", "pool": "atom_sum"}}
        if request.param == "direct":
            heads["forces"] = {"type": "ept_vector"}
        return {"model": "ept", "config": TINY, "heads": heads}

    def test_every_parameter_gets_a_gradient(self, model_spec, structures):
        """Without a vector head the last layer's vector gate feeds nothing (as in the official LBA
        model); every other parameter gets a finite gradient."""
        model = self.build(model_spec, torch.float32).train()
        out = model(self.batch(model, structures))
        sum(v.pow(2).sum() for v in out.values()).backward()
        last_gate = f"backbone.layers.{model.config.num_layers - 1}.ffn.gate_norm."
        vector_head = any(info.kind == "vector" for info in model.outputs.values())
        missing = [n for n, p in model.named_parameters() if (p.grad is None or not torch.isfinite(p.grad).all())
                   and (vector_head or not n.startswith(last_gate))]
        assert not missing, f"parameters without (finite) gradients: {missing[:5]}"

    def test_stress_equals_finite_difference_of_strain(self, model_spec):
        """EPT has no periodic images: periodic structures are refused with a clear error."""
        model = self.build(model_spec)
        with pytest.raises(InvalidStructureError, match="periodic"):
            self.batch(model, [bulk("C", "diamond", a=3.57)])
