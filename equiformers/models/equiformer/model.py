"""Equiformer (Liao & Smidt, ICLR 2023): equivariant graph attention transformer."""

from typing import Any, Dict, List, Optional, Tuple

import torch
from e3nn import o3
from torch import nn

from ...data import keys as K
from ...data.graph import GraphSpec
from ...data.types import TypeMap
from ...nn import EquivariantDropout, EquivariantLayerNorm, PolynomialCutoff, build_radial_basis
from ...so3.irreps_frame import EdgeFrame
from ..base import AtomisticModel
from ..geometry import edge_vectors, num_graphs
from .block import TransformerBlock
from .config import REFERENCE_AVG_DEGREE, REFERENCE_AVG_NUM_NODES, EquiformerConfig
from .embedding import AtomEmbedding, EdgeDegreeEmbedding
from .legacy import migrate_spec, migrate_state_dict

DEFAULT_HEADS = {"y": {"type": "graph_scalar"}}


class EquiformerBackbone(nn.Module):
    """Atom + edge-degree embedding, ``num_layers`` pre-norm transformer blocks of equivariant
    graph attention, and a final layer norm.

    Features (``feature_irreps``): ``node_scalars`` [N, readout_channels] (``0e``, after the last
    block and the norm; what scalar heads read) and ``node_irreps`` [N, irreps_node.dim] (the
    features entering the last block; what a direct-force ``atom_vector`` head reads).
    """

    def __init__(self, config: EquiformerConfig, num_types: int):
        super().__init__()
        self.config = config
        radial_widths = [config.num_basis] + list(config.radial_hidden)
        self.irreps_sh = config.irreps_sh
        self.atom_embedding = AtomEmbedding(num_types, config.irreps_node)
        self.radial_basis = build_radial_basis(config.radial_basis, config.num_basis, config.cutoff)
        # smooth_cutoff: every edge's influence fades with a C2 envelope (an MD option, not the paper)
        self.envelope = PolynomialCutoff(config.cutoff) if config.smooth_cutoff else None
        avg_degree = config.avg_degree if config.avg_degree is not None else REFERENCE_AVG_DEGREE
        self.edge_degree_embedding = EdgeDegreeEmbedding(config.irreps_node, self.irreps_sh, radial_widths,
                                                         avg_degree)
        self.blocks = nn.ModuleList(
            TransformerBlock(config, config.irreps_readout if i == config.num_layers - 1 else config.irreps_node,
                             radial_widths)
            for i in range(config.num_layers)
        )
        self.norm = EquivariantLayerNorm(config.irreps_readout)
        self.out_dropout = EquivariantDropout(config.irreps_readout, config.out_drop) if config.out_drop else None
        self.avg_num_nodes = config.avg_num_nodes if config.avg_num_nodes is not None else REFERENCE_AVG_NUM_NODES
        # l = 1 with the parity of a vector: "1e" in the SE(3) models (all-even labels), "1o" in E(3) ones
        self.vector_irrep = "1e" if config.symmetry == "se3" else "1o"
        self.smooth_at_cutoff = config.smooth_cutoff
        self.feature_irreps = {"node_scalars": config.irreps_readout, "node_irreps": config.irreps_node}

    def unused_parameters(self) -> List[str]:
        """Parameters that structurally never influence the output (see the test suite's gradient check)."""
        return [f"edge_degree_embedding.{name}" for name in self.edge_degree_embedding.unused_parameters()]

    def equivariance_probes(self) -> List[Tuple[nn.Module, o3.Irreps]]:
        """Each block with the irreps of its output (checked by the test suite)."""
        return [(block, block.irreps_out) for block in self.blocks]

    def forward(self, data: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        batch, n_graphs = data[K.BATCH], num_graphs(data)
        edge_src, edge_dst = data[K.EDGE_INDEX][0], data[K.EDGE_INDEX][1]
        dtype = self.norm_dtype()
        vec = edge_vectors(data, dtype)
        if self.config.tensor_product == "edge_frame":
            sh, frame = None, EdgeFrame.from_vectors(vec, self.irreps_sh.lmax)
        else:
            sh, frame = o3.spherical_harmonics(self.irreps_sh, vec, normalize=True, normalization="component"), None
        length = vec.norm(dim=-1)
        edge_scalars = self.radial_basis(length)
        edge_weight = self.envelope(length) if self.envelope is not None else None
        x = self.atom_embedding(data[K.ATOM_TYPE])
        x = x + self.edge_degree_embedding(sh, edge_scalars, edge_src, edge_dst, x.shape[0], edge_weight, frame)
        entering_last = x
        for i, block in enumerate(self.blocks):
            if i == len(self.blocks) - 1:
                entering_last = x
            x = block(x, sh, edge_scalars, edge_src, edge_dst, batch, n_graphs, edge_weight, frame)
        x = self.norm(x)
        if self.out_dropout is not None:
            x = self.out_dropout(x)
        return {"node_scalars": x, "node_irreps": entering_last}

    def norm_dtype(self) -> torch.dtype:
        return self.atom_embedding.linear.weights[0].dtype


class Equiformer(AtomisticModel):
    """Equiformer: :class:`EquiformerBackbone` with named heads (default: one graph scalar ``y``).

    Input: a batch of atomic data (see :mod:`equiformers.data.keys`) with positions (Å), atomic
    numbers, edges within ``config.cutoff`` and the batch vector. Output: ``{name: tensor}`` for
    every head output ([B] for graph outputs, [N, 3] for vector outputs).

    Example:
        >>> import torch, equiformers
        >>> from ase.build import molecule
        >>> model = equiformers.build_model("equiformer-qm9", num_layers=1, channels=[16, 8])
        >>> data = equiformers.data.collate([model.prepare(equiformers.data.from_ase(molecule("CH4")))])
        >>> model(data)["y"].shape
        torch.Size([1])
    """

    family = "equiformer"
    Config = EquiformerConfig
    migrate_spec = staticmethod(migrate_spec)
    migrate_state_dict = staticmethod(migrate_state_dict)
    supports_meta_init = False  # e3nn's tensor products compute Clebsch-Gordan constants when built

    @classmethod
    def graph_for(cls, config: EquiformerConfig) -> GraphSpec:
        return GraphSpec("radius", config.cutoff)

    def __init__(self, config: EquiformerConfig, heads: Optional[Dict[str, Dict[str, Any]]] = None):
        type_map = TypeMap(config.elements)
        backbone = EquiformerBackbone(config, type_map.num_types)
        super().__init__(config, type_map, backbone, heads or DEFAULT_HEADS, self.graph_for(config))
