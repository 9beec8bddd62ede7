"""Proof that the model contracts hold: a second family, defined only in this file, plugs in with
one registry line, passes the basic and energy suites, trains through ``equiformers train`` and
runs in the ASE calculator, with no edit anywhere else.

The family is a scalar message-passing network (SchNet-like continuous filters) whose backbone
also offers per-atom vector features (filtered sums of edge directions), so an ``atom_vector``
head can read them.
"""

from dataclasses import dataclass, field
from typing import List, Optional

import pytest
import torch
from e3nn import o3
from torch import nn

from equiformers.data import keys as K
from equiformers.data.graph import GraphSpec
from equiformers.data.types import TypeMap
from equiformers.models.base import AtomisticModel
from equiformers.models.geometry import edge_vectors
from equiformers.models.registry import register_family
from equiformers.nn import GaussianBasis, PolynomialCutoff
from equiformers.ops.scatter import scatter_sum
from equiformers.testing.suites import BasicModelSuite, BlockModelSuite, EnergyModelSuite

register_family("tiny", f"{__name__}:TinyModel")  # the one line that plugs the family in


@dataclass
class TinyConfig:
    elements: List[str] = field(default_factory=lambda: ["H", "C", "N", "O", "Ni", "Cu"])
    channels: int = 8
    num_layers: int = 2
    num_basis: int = 8
    cutoff: float = 4.0
    avg_num_nodes: Optional[float] = None
    use_blocks: bool = False  # add a block-type embedding and a block-mean to every atom (needs block keys)


class TinyBackbone(nn.Module):
    def __init__(self, config: TinyConfig, num_types: int):
        super().__init__()
        c = config.channels
        self.embedding = nn.Embedding(num_types, c)
        self.basis = GaussianBasis(config.num_basis, config.cutoff)
        self.envelope = PolynomialCutoff(config.cutoff)
        # no bias: a filter must vanish with the envelope at the cutoff (smoothness)
        self.filters = nn.ModuleList(nn.Linear(config.num_basis, c, bias=False) for _ in range(config.num_layers))
        self.updates = nn.ModuleList(nn.Sequential(nn.Linear(c, c), nn.SiLU(), nn.Linear(c, c))
                                     for _ in range(config.num_layers))
        self.vector_filter = nn.Linear(config.num_basis, c, bias=False)
        self.block_embedding = nn.Embedding(119, c) if config.use_blocks else None
        self.avg_num_nodes = config.avg_num_nodes or 10.0
        self.vector_irrep = "1o"
        self.smooth_at_cutoff = True
        self.feature_irreps = {"node_scalars": o3.Irreps(f"{c}x0e"), "node_irreps": o3.Irreps(f"{c}x1o")}

    def equivariance_probes(self):
        return [(self.updates[-1], o3.Irreps(f"{self.filters[0].out_features}x0e"))]

    def forward(self, data):
        src, dst = data[K.EDGE_INDEX]
        vec = edge_vectors(data, self.embedding.weight.dtype)
        length = vec.norm(dim=-1)
        radial = self.basis(length) * self.envelope(length).unsqueeze(-1)
        h = self.embedding(data[K.ATOM_TYPE])
        n = h.shape[0]
        if self.block_embedding is not None:
            block = data[K.BLOCK_INDEX]
            num_blocks = data[K.BLOCK_TYPE].shape[0]
            h = h + self.block_embedding(data[K.BLOCK_TYPE])[block]
            counts = scatter_sum(torch.ones_like(h[:, :1]), block, num_blocks)
            h = h + (scatter_sum(h, block, num_blocks) / counts)[block]
        for filt, update in zip(self.filters, self.updates):
            h = h + update(scatter_sum(filt(radial) * h[src], dst, n))
        direction = o3.spherical_harmonics(1, vec, normalize=True)  # [E, 3], Cartesian l = 1
        vectors = scatter_sum(self.vector_filter(radial).unsqueeze(-1) * direction.unsqueeze(1), dst, n)  # [N, C, 3]
        h = h + vectors.pow(2).sum(-1)  # the vectors' norms inform the scalars (an invariant)
        return {"node_scalars": h, "node_irreps": vectors.reshape(n, -1)}


class TinyModel(AtomisticModel):
    family = "tiny"
    Config = TinyConfig

    @classmethod
    def graph_for(cls, config):
        return GraphSpec("radius", config.cutoff)

    def __init__(self, config: TinyConfig, heads=None):
        type_map = TypeMap(config.elements)
        super().__init__(config, type_map, TinyBackbone(config, type_map.num_types),
                         heads or {"energy": {"type": "graph_scalar"}}, self.graph_for(config))


SPEC = {"model": "tiny", "config": {"channels": 8}}


class TestTinyBasic(BasicModelSuite):
    @pytest.fixture(params=["energy+vector"])
    def model_spec(self, request):
        return {**SPEC, "heads": {"energy": {"type": "graph_scalar"}, "moment": {"type": "atom_vector"}}}


class TestTinyEnergy(EnergyModelSuite):
    @pytest.fixture(params=["conservative", "direct"])
    def model_spec(self, request):
        heads = {"energy": {"type": "graph_scalar"}}
        if request.param == "direct":
            heads["forces"] = {"type": "atom_vector"}
        return {**SPEC, "heads": heads}


class TestTinyBlocks(BlockModelSuite):
    @pytest.fixture(params=["blocks"])
    def model_spec(self, request):
        return {"model": "tiny", "config": {"channels": 8, "use_blocks": True}}


def test_atom_vector_output_rotates():
    from equiformers.data import collate, from_ase
    from equiformers.models.registry import build_model
    from equiformers.testing import random_rotation, rattled_molecules
    from equiformers.testing.suites import relative_error, transform

    torch.manual_seed(0)
    model = build_model({**SPEC, "heads": {"energy": {"type": "graph_scalar"}, "moment": {"type": "atom_vector"}}})
    model = model.double()
    data = collate([model.prepare(from_ase(a)) for a in rattled_molecules(["CH3OH"])])
    rotation = random_rotation(torch.float64, torch.Generator().manual_seed(0))
    assert model.outputs["moment"].level == "atom" and model.outputs["moment"].kind == "vector"
    before, after = model(data)["moment"], model(transform(data, rotation, 1.0))["moment"]
    assert relative_error(after, before @ rotation.T) < 1e-12


def test_trains_with_the_cli_and_runs_in_the_calculator(tmp_path):
    from ase.build import bulk

    from equiformers.calculators import EquiformerCalculator
    from equiformers.cli.main import main
    from equiformers.testing.workflows import train_on_emt_copper

    model_file = train_on_emt_copper(tmp_path, {**SPEC})
    assert main(["evaluate", str(model_file)]) == 0
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    atoms.calc = EquiformerCalculator(model_file)
    assert atoms.get_forces().shape == (4, 3) and atoms.get_stress().shape == (6,)
