"""EquiformerV2 (Liao, Wood, Das & Smidt, ICLR 2024): equivariant transformer on eSCN SO(2) convolutions."""

import copy
from typing import Any, Dict, List, Optional, Tuple

import torch
from e3nn import o3
from torch import nn

from ...data import keys as K
from ...data.graph import GraphSpec
from ...data.types import TypeMap
from ...nn import PolynomialCutoff
from ..base import AtomisticModel
from ..geometry import num_graphs
from . import heads as _family_heads  # noqa: F401  (registers the eqv2_energy/eqv2_forces head types)
from .block import TransBlockV2
from .config import REFERENCE_AVG_DEGREE, REFERENCE_AVG_NUM_NODES, EquiformerV2Config
from .edges import build_edge_geometry, pair_embeddings
from .embedding import EdgeDegreeEmbedding
from .init import init_weights
from .norm import build_norm
from .radial import GaussianSmearing
from .sphere import SphereToIrreps

DEFAULT_HEADS = {"energy": {"type": "eqv2_energy"}, "forces": {"type": "eqv2_forces"}}


class EquiformerV2Backbone(nn.Module):
    """Atom embedding (l = 0) + edge-degree embedding, ``num_layers`` :class:`TransBlockV2`, final norm.

    Features returned by ``forward``: ``node_sphere`` [N, (lmax+1)², C] (after the final norm; what
    the family heads read), ``node_scalars`` [N, C] (its l = 0 part, ``Cx0e``), ``node_irreps``
    [N, C (lmax+1)²] (the same features as flat e3nn irreps ``Cx0e+Cx1e+...``), and for the force
    head ``edge_geometry`` (:class:`~.edges.EdgeGeometry`) and ``shared_pair`` (shared atom-pair
    embeddings or ``None``).
    """

    def __init__(self, config: EquiformerV2Config, num_types: int):
        """``num_types``: rows of the atom-type embeddings (types index them)."""
        super().__init__()
        c = self.config = config
        self.num_types = num_types
        self.sphere_embedding = nn.Embedding(num_types, c.sphere_channels)
        self.distance_expansion = GaussianSmearing(c.cutoff, c.num_distance_basis)
        self.envelope = PolynomialCutoff(c.cutoff, c.envelope_exponent) if c.use_envelope else None
        shared = c.use_atom_edge_embedding and c.share_atom_edge_embedding
        self.source_embedding, self.target_embedding = (pair_embeddings(num_types, c.edge_channels)
                                                        if shared else (None, None))
        self.avg_degree = c.avg_degree if c.avg_degree is not None else REFERENCE_AVG_DEGREE
        self.avg_num_nodes = c.avg_num_nodes if c.avg_num_nodes is not None else REFERENCE_AVG_NUM_NODES
        self.edge_degree_embedding = EdgeDegreeEmbedding(c, num_types, self.avg_degree,
                                                         own_pair_embedding=c.use_atom_edge_embedding and not shared)
        self.blocks = nn.ModuleList(TransBlockV2(c, num_types) for _ in range(c.num_layers))
        self.norm = build_norm(c.norm_type, c.lmax, c.sphere_channels)
        # Layout views (no parameters): the input of the blocks and the output, as flat irreps.
        self.embedding_view = SphereToIrreps(c.lmax, c.sphere_channels)
        self.output_view = SphereToIrreps(c.lmax, c.sphere_channels)
        self.vector_irrep = "1e"  # SE(3)-equivariant only: every degree is labelled even
        # Without the envelope (the V2 reference) energies jump when a pair crosses the cutoff; a
        # neighbour cap makes them jump anyway.
        self.smooth_at_cutoff = c.use_envelope and c.max_neighbors is None
        self.feature_irreps = {"node_scalars": o3.Irreps(f"{c.sphere_channels}x0e"),
                               "node_irreps": self.output_view.irreps_out}
        init_weights(self, c.weight_init)

    def equivariance_probes(self) -> List[Tuple[nn.Module, o3.Irreps]]:
        """The embedded input of the blocks and the backbone's output, as flat irreps."""
        return [(self.embedding_view, self.embedding_view.irreps_out), (self.output_view, self.output_view.irreps_out)]

    def forward(self, data: Dict[str, torch.Tensor]) -> Dict[str, Any]:
        c = self.config
        dtype = self.sphere_embedding.weight.dtype
        edges = build_edge_geometry(data, self.distance_expansion, c.lmax, c.mmax, c.edge_roll, dtype, self.envelope)
        shared_pair = None
        if self.source_embedding is not None:
            shared_pair = torch.cat([self.source_embedding(edges.source_type),
                                     self.target_embedding(edges.target_type)], dim=-1)
        types = data[K.ATOM_TYPE]
        n_atoms, n_graphs, batch = types.shape[0], num_graphs(data), data[K.BATCH]
        scalars = self.sphere_embedding(types)  # [N, C]: the l = 0 coefficients
        x = torch.cat([scalars.unsqueeze(1), scalars.new_zeros(n_atoms, (c.lmax + 1) ** 2 - 1, c.sphere_channels)], 1)
        x = x + self.edge_degree_embedding(edges, n_atoms, shared_pair)
        self.embedding_view(x)  # a probe point for the equivariance tests (cheap reshape)
        for block in self.blocks:
            x = block(x, edges, batch, n_graphs, shared_pair)
        x = self.norm(x)
        return {"node_sphere": x, "node_scalars": x[:, 0, :], "node_irreps": self.output_view(x),
                "edge_geometry": edges, "shared_pair": shared_pair}


class EquiformerV2(AtomisticModel):
    """EquiformerV2: :class:`EquiformerV2Backbone` with named heads (default: the reference's
    energy head and direct-force head; drop ``forces`` for conservative -dE/dx forces).

    Input: a batch of atomic data (:mod:`equiformers.data.keys`) with positions (Å), atomic numbers,
    edges within ``config.cutoff`` (periodic images included) and the batch vector. Output:
    ``{name: tensor}``: energies [B] (eV once scaled), direct forces [N, 3] (eV/Å).

    Example:
        >>> import equiformers
        >>> from ase.build import molecule
        >>> model = equiformers.build_model({"model": "equiformer_v2", "config": {
        ...     "elements": ["H", "C", "O"], "num_layers": 1, "sphere_channels": 8, "lmax": 2, "mmax": 1,
        ...     "num_heads": 2, "attn_hidden_channels": 8, "attn_alpha_channels": 4, "attn_value_channels": 4,
        ...     "ffn_hidden_channels": 8, "edge_channels": 8, "num_distance_basis": 16, "grid_resolution": 8}})
        >>> data = equiformers.data.collate([model.prepare(equiformers.data.from_ase(molecule("CH3OH")))])
        >>> out = model(data)
        >>> out["energy"].shape, out["forces"].shape
        (torch.Size([1]), torch.Size([6, 3]))
    """

    family = "equiformer_v2"
    Config = EquiformerV2Config
    supports_meta_init = True  # constants are computed on the CPU; weights need no values to be counted

    @classmethod
    def graph_for(cls, config: EquiformerV2Config) -> GraphSpec:
        return GraphSpec("radius", config.cutoff, config.max_neighbors)

    def __init__(self, config: EquiformerV2Config, heads: Optional[Dict[str, Dict[str, Any]]] = None):
        heads = copy.deepcopy(heads or DEFAULT_HEADS)
        type_map = TypeMap(config.elements)
        backbone = EquiformerV2Backbone(config, config.embedding_rows())
        super().__init__(config, type_map, backbone, heads, self.graph_for(config))
