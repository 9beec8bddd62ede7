"""EquiformerV2's own output heads: the feed-forward energy head and the attention force head.

The reference's heads are not the library's generic MLP/linear heads: energy comes from a
feed-forward network on the whole sphere feature (its l = 0 output per atom, summed and divided by
``avg_num_nodes``), direct forces from one more SO(2) graph-attention block with one output
channel (its l = 1 coefficients). Declared in a model spec as::

    heads:
      energy: {type: eqv2_energy}            # pool: sum (÷ avg_num_nodes, the reference) | mean;
                                             # block: ffn (V2) | scalar_mlp (EquiformerV3)
      forces: {type: eqv2_forces}            # direct forces [N, 3]; omit for -dE/dx forces
      stress: {type: eqv2_stress}            # direct stress [B, 3, 3] (fairchem's OMat24 rank-2 head,
                                             # :mod:`.stress_head`); omit for the virial stress

The library's generic heads (``graph_scalar`` on ``node_scalars``, ``atom_vector`` on
``node_irreps``) work on this backbone too.
"""

from dataclasses import dataclass
from typing import Dict, List, Optional

import torch
from torch import nn

from ...data import keys as K
from ...errors import ConfigError
from ...ops.scatter import scatter_mean, scatter_sum
from ..heads import OutputInfo, parse_head_spec, register_head_type
from .attention import SO2EquivariantGraphAttention
from .ffn import FeedForwardNetwork
from .init import init_weights

FAMILY_HEAD_TYPES = ("eqv2_energy", "eqv2_forces", "eqv2_stress")


@dataclass
class EqV2HeadSpec:
    """A family head: ``type`` (eqv2_energy | eqv2_forces), ``outputs`` (default ``[head name]``) and,
    for the energy head, ``pool`` (``sum``: divided by avg_num_nodes, the reference; ``mean``) and
    ``block`` (``ffn``: V2's feed-forward network on the whole sphere feature; ``scalar_mlp``:
    EquiformerV3's Linear-SiLU-Linear on the l = 0 channels, hidden width ffn_hidden_channels); for the
    stress head, ``source_target_embedding`` (edge features from both atoms, as the OMat24 models)."""

    type: str
    outputs: Optional[List[str]] = None
    pool: str = "sum"
    block: str = "ffn"
    source_target_embedding: bool = False

    def validate(self) -> None:
        if self.type not in FAMILY_HEAD_TYPES:
            raise ConfigError(f"head type must be one of {FAMILY_HEAD_TYPES}, got {self.type!r}")
        if self.pool not in ("sum", "mean"):
            raise ConfigError(f"head pool must be 'sum' or 'mean', got {self.pool!r}")
        if self.block not in ("ffn", "scalar_mlp"):
            raise ConfigError(f"head block must be 'ffn' or 'scalar_mlp', got {self.block!r}")
        if self.outputs is not None and len(self.outputs) != 1:
            raise ConfigError(f"an {self.type} head writes exactly one output, got {self.outputs}")


def family_head_spec(name: str, values: Dict) -> EqV2HeadSpec:
    return parse_head_spec(name, values, EqV2HeadSpec)


class EnergyHead(nn.Module):
    """Per-atom l = 0 output of ``energy_block`` (a :class:`FeedForwardNetwork` with one output
    channel, or a scalar MLP on the l = 0 channels), pooled per graph.

    Shapes: features["node_sphere"] [N, (lmax+1)², C] -> {output: [B]}.
    """

    def __init__(self, spec: EqV2HeadSpec, backbone):
        super().__init__()
        c = backbone.config
        self.output, self.pool, self.scalar = spec.outputs[0], spec.pool, spec.block == "scalar_mlp"
        self.avg_num_nodes = float(backbone.avg_num_nodes)
        if self.scalar:
            self.energy_block = nn.Sequential(nn.Linear(c.sphere_channels, c.ffn_hidden_channels), nn.SiLU(),
                                              nn.Linear(c.ffn_hidden_channels, 1))
        else:
            self.energy_block = FeedForwardNetwork(c, 1)

    def output_info(self) -> Dict[str, OutputInfo]:
        return {self.output: OutputInfo("graph", "scalar")}

    def forward(self, data: Dict[str, torch.Tensor], features) -> Dict[str, torch.Tensor]:
        if self.scalar:
            per_atom = self.energy_block(features["node_scalars"])[:, 0]
        else:
            per_atom = self.energy_block(features["node_sphere"])[:, 0, 0]
        batch, num_graphs = data[K.BATCH], data[K.NUM_ATOMS].shape[0]
        if self.pool == "sum":
            return {self.output: scatter_sum(per_atom, batch, num_graphs) / self.avg_num_nodes}
        return {self.output: scatter_mean(per_atom, batch, num_graphs)}


class ForceHead(nn.Module):
    """Direct forces: ``force_block`` (an attention block with one output channel, no attention
    dropout; gate-activated with ``use_gate_force_head``) and its l = 1 coefficients, which in
    e3nn's basis are the Cartesian (x, y, z).

    Shapes: features["node_sphere"] [N, (lmax+1)², C] -> {output: [N, 3]}.
    """

    def __init__(self, spec: EqV2HeadSpec, backbone):
        super().__init__()
        c = backbone.config
        self.output = spec.outputs[0]
        self.force_block = SO2EquivariantGraphAttention(
            c, backbone.num_types, 1, alpha_drop=0.0,
            own_pair_embedding=c.use_atom_edge_embedding and not c.share_atom_edge_embedding,
            activation="gate" if c.use_gate_force_head else None)

    def output_info(self) -> Dict[str, OutputInfo]:
        return {self.output: OutputInfo("atom", "vector")}

    def forward(self, data: Dict[str, torch.Tensor], features) -> Dict[str, torch.Tensor]:
        out = self.force_block(features["node_sphere"], features["edge_geometry"], features.get("shared_pair"))
        return {self.output: out[:, 1:4, 0]}


def build_family_head(name: str, values: Dict, backbone) -> nn.Module:
    """Build family head ``name`` on ``backbone`` (through the library's head-type registry), with the
    family's weight initialisation."""
    from .stress_head import StressHead

    spec = family_head_spec(name, values)
    head = {"eqv2_energy": EnergyHead, "eqv2_forces": ForceHead, "eqv2_stress": StressHead}[spec.type](spec, backbone)
    init_weights(head, backbone.config.weight_init)
    return head


for _type in FAMILY_HEAD_TYPES:
    register_head_type(_type, build_family_head)
