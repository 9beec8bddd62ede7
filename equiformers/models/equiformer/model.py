"""Equiformer (Liao & Smidt, ICLR 2023): equivariant graph attention transformer."""

from typing import Dict

import torch
from e3nn import o3
from torch import nn

from ...data import keys as K
from ...nn import EquivariantDropout, EquivariantLayerNorm, EquivariantLinear, PolynomialCutoff, build_radial_basis
from ...tasks.heads import GraphScalarHead
from ..base import AtomisticModel
from ..geometry import edge_vectors, num_graphs
from ..registry import register_model
from .block import TransformerBlock
from .config import REFERENCE_AVG_DEGREE, REFERENCE_AVG_NUM_NODES, EquiformerConfig
from .embedding import AtomEmbedding, EdgeDegreeEmbedding


@register_model("equiformer", EquiformerConfig)
class Equiformer(AtomisticModel):
    """Equiformer: atom + edge-degree embedding, ``num_layers`` pre-norm transformer
    blocks of equivariant graph attention, layer norm, and a pooled scalar head.

    Input: an atomic-data dict (see :mod:`equiformers.data.keys`) with
    positions (Å), atomic numbers, edge index and batch vector. Output: a dict
    ``{name: [B] tensor}`` for every name in ``config.outputs``.

    Example:
        >>> import torch, equiformers
        >>> from ase.build import molecule
        >>> model = equiformers.build_model("equiformer-qm9", num_layers=1, channels=[16, 8])
        >>> data = equiformers.data.collate([equiformers.data.from_ase(molecule("CH4"), cutoff=5.0)])
        >>> model(data)["y"].shape
        torch.Size([1])
    """

    def __init__(self, config: EquiformerConfig):
        super().__init__()
        self.config = config
        avg_degree = config.avg_degree or REFERENCE_AVG_DEGREE
        avg_num_nodes = config.avg_num_nodes or REFERENCE_AVG_NUM_NODES
        radial_widths = [config.num_basis] + list(config.radial_hidden)
        self.irreps_sh = config.irreps_sh
        self.atom_embedding = AtomEmbedding(config.elements, config.irreps_node)
        self.radial_basis = build_radial_basis(config.radial_basis, config.num_basis, config.cutoff)
        # smooth_cutoff: every edge's influence fades with a C2 envelope (an MD option, not the paper)
        self.envelope = PolynomialCutoff(config.cutoff) if config.smooth_cutoff else None
        self.edge_degree_embedding = EdgeDegreeEmbedding(config.irreps_node, self.irreps_sh, radial_widths,
                                                         avg_degree)
        self.blocks = nn.ModuleList(
            TransformerBlock(config, config.irreps_readout if i == config.num_layers - 1 else config.irreps_node,
                             radial_widths)
            for i in range(config.num_layers)
        )
        self.norm = EquivariantLayerNorm(config.irreps_readout)
        self.out_dropout = EquivariantDropout(config.irreps_readout, config.out_drop) if config.out_drop else None
        self.head = GraphScalarHead(config.readout_channels, config.outputs, avg_num_nodes, config.readout,
                                    num_types=self.atom_embedding.num_types)
        # l = 1 with the parity of a vector: "1e" in the SE(3) models (all-even labels), "1o" in E(3) ones
        vector = "1x1e" if config.symmetry == "se3" else "1x1o"
        self.force_head = EquivariantLinear(config.irreps_node, vector) if config.direct_forces else None

    @property
    def cutoff(self) -> float:
        return self.config.cutoff

    def forward(self, data: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        batch, n_graphs = data[K.BATCH], num_graphs(data)
        edge_src, edge_dst = data[K.EDGE_INDEX][0], data[K.EDGE_INDEX][1]
        vec = edge_vectors(data, self.dtype)
        sh = o3.spherical_harmonics(self.irreps_sh, vec, normalize=True, normalization="component")
        length = vec.norm(dim=-1)
        edge_scalars = self.radial_basis(length)
        edge_weight = self.envelope(length) if self.envelope is not None else None
        types = self.atom_embedding.types(data[K.ATOMIC_NUMBERS])
        x = self.atom_embedding(types)
        x = x + self.edge_degree_embedding(sh, edge_scalars, edge_src, edge_dst, x.shape[0], edge_weight)
        for i, block in enumerate(self.blocks):
            if i == len(self.blocks) - 1 and self.force_head is not None:
                forces = self.force_head(x) * self.head.scale[0]  # in the units of the first output per Å
            x = block(x, sh, edge_scalars, edge_src, edge_dst, batch, n_graphs, edge_weight)
        x = self.norm(x)
        if self.out_dropout is not None:
            x = self.out_dropout(x)
        out = self.head(x, types, batch, n_graphs)
        result = {name: out[:, i] for i, name in enumerate(self.head.outputs)}
        if self.force_head is not None:
            result["forces"] = forces
        return result
