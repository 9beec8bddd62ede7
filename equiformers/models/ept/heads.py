"""EPT's own output heads: property heads with the reference's pooling, and the vector (force /
noise) head. Declared in a model spec as::

    heads:
      y: {type: ept_property, pool: graph}    # graph | block | block_sum | atom | atom_sum (QM9's sum_unit)
      bfactor: {type: ept_property, pool: per_block}   # one value per block (residue): [Nb]
      noise: {type: ept_vector}               # direct per-atom vectors [N, 3] (forces, denoising)

Property heads use MLP = Linear(d, d) - SiLU - Linear(d, outputs) and pool as the official
predictors (z_b = sum_{i in b} h_i / sqrt(n_b), z_G = sum_b z_b / sqrt(N_b); global blocks and
atoms included):

* ``graph``: y = MLP(z_G);  ``block``: y = sum_b MLP(z_b) / sqrt(N_b);
* ``block_sum``: y = sum_b MLP(z_b), the official denoising energy (``pred_type=gradient``, whose
  comment insists on a sum, not a mean, so that -dE/dx is not shrunk);
* ``atom``: y = sum_i MLP(h_i) / sqrt(N);  ``atom_sum``: y = sum_i MLP(h_i);
* ``per_block``: y_b = MLP(z_b) for every real block, a block-level output [Nb] (global blocks take part
  in attention but get no output), e.g. per-residue properties (not in the official code, whose
  block head sums over blocks).

The vector head is the official output GVP (d_output = 1) on h and per-channel unit vectors
V / (|V| + 1e-5). Gradient forces are not a head: :class:`~equiformers.tasks.forces.ConservativeForces`
differentiates an energy written by a property head (the reference's ``pred_type=gradient`` sums
block energies: ``pool: block_sum``; ``atom_sum`` is the other extensive choice). The library's
generic heads (``graph_scalar``, ``atom_scalar``, ``atom_vector``) also work on EPT's
``node_scalars`` / ``node_irreps``.
"""

from dataclasses import dataclass
from typing import Dict, List, Optional

import torch
from torch import nn

from ...data import keys as K
from ...errors import ConfigError
from ...ops.scatter import scatter_sum
from ..heads import OutputInfo, parse_head_spec, register_head_type
from .backbone import block_and_graph_embeddings
from .layers import GVPFeedForward, safe_norm

FAMILY_HEAD_TYPES = ("ept_property", "ept_vector")
POOLS = ("graph", "block", "block_sum", "atom", "atom_sum", "per_block")
UNIT_VECTOR_EPS = 1e-5  # official: V / (|V| + 1e-5)


@dataclass
class EPTHeadSpec:
    """An EPT head: ``type`` (ept_property | ept_vector), ``outputs`` (default ``[head name]``; one for
    a vector head), ``pool`` (property heads: graph | block | block_sum | atom | atom_sum | per_block), ``hidden``
    (MLP width, default d)."""

    type: str
    outputs: Optional[List[str]] = None
    pool: str = "graph"
    hidden: Optional[int] = None

    def validate(self) -> None:
        if self.type not in FAMILY_HEAD_TYPES:
            raise ConfigError(f"head type must be one of {FAMILY_HEAD_TYPES}, got {self.type!r}")
        if self.pool not in POOLS:
            raise ConfigError(f"head pool must be one of {POOLS}, got {self.pool!r}")
        if self.outputs is not None and (not self.outputs or (self.type == "ept_vector" and len(self.outputs) != 1)):
            raise ConfigError(f"an {self.type} head needs {'exactly one' if self.type == 'ept_vector' else 'at least one'}"
                              f" output, got {self.outputs}")


def family_head_spec(name: str, values: Dict) -> EPTHeadSpec:
    return parse_head_spec(name, values, EPTHeadSpec)


class PropertyHead(nn.Module):
    """Scalars pooled as the reference (see the module docstring). Output: {name: [B]}, or {name: [Nb]}
    with ``pool: per_block``."""

    def __init__(self, spec: EPTHeadSpec, channels: int):
        super().__init__()
        self.outputs, self.pool = list(spec.outputs), spec.pool
        hidden = spec.hidden or channels
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.SiLU(), nn.Linear(hidden, len(self.outputs)))

    def output_info(self) -> Dict[str, OutputInfo]:
        level = "block" if self.pool == "per_block" else "graph"
        return {name: OutputInfo(level, "scalar") for name in self.outputs}

    def forward(self, data: Dict[str, torch.Tensor], features) -> Dict[str, torch.Tensor]:
        num_graphs = data[K.NUM_ATOMS].shape[0]
        if self.pool in ("graph", "block", "block_sum", "per_block"):
            z_b, z_g = block_and_graph_embeddings(features, num_graphs)
            if self.pool == "per_block":  # the real blocks come first, the global ones after them
                y = self.mlp(z_b[:data[K.BLOCK_TYPE].shape[0]])
            elif self.pool == "graph":
                y = self.mlp(z_g)
            else:
                graph = features["block_graph"]
                y = scatter_sum(self.mlp(z_b), graph, num_graphs)
                if self.pool == "block":
                    count = scatter_sum(torch.ones_like(graph, dtype=z_b.dtype), graph, num_graphs)
                    y = y / count.sqrt().unsqueeze(-1)
        else:
            h, graph = features["all_scalars"], features["node_graph"]
            y = scatter_sum(self.mlp(h), graph, num_graphs)
            if self.pool == "atom":
                y = y / scatter_sum(torch.ones_like(graph, dtype=h.dtype), graph, num_graphs).sqrt().unsqueeze(-1)
        return {name: y[:, i] for i, name in enumerate(self.outputs)}


class VectorHead(nn.Module):
    """One vector per real atom from the output GVP (official ``final_v``). Output: {name: [N, 3]}."""

    def __init__(self, spec: EPTHeadSpec, channels: int, ffn_channels: int):
        super().__init__()
        self.outputs = list(spec.outputs)
        self.gvp = GVPFeedForward(channels, ffn_channels, out_channels=1, vector_act="none")

    def output_info(self) -> Dict[str, OutputInfo]:
        return {self.outputs[0]: OutputInfo("atom", "vector")}

    def forward(self, data: Dict[str, torch.Tensor], features) -> Dict[str, torch.Tensor]:
        n = data[K.POSITIONS].shape[0]
        h, vectors = features["all_scalars"][:n], features["all_vectors"][:n]
        unit = vectors / (safe_norm(vectors, dim=-2).unsqueeze(-2) + UNIT_VECTOR_EPS)
        _, out = self.gvp(h, unit)  # [N, 3, 1]
        return {self.outputs[0]: out.squeeze(-1)}


def build_family_head(name: str, values: Dict, backbone) -> nn.Module:
    """EPT head ``name`` on ``backbone`` (through the library's head-type registry)."""
    spec = family_head_spec(name, values)
    config = backbone.config
    if spec.type == "ept_vector":
        return VectorHead(spec, config.hidden_channels, config.ffn_channels)
    return PropertyHead(spec, config.hidden_channels)


for _type in FAMILY_HEAD_TYPES:
    register_head_type(_type, build_family_head)
