"""SE(3)-Transformer (Fuchs et al., NeurIPS 2020) and the Efficient SE(3)-Transformer (Qiu, Nisonoff et al.).

Layout of the model (Fuchs' QM9 model, NVIDIA's ``SE3TransformerPooled``)::

    input scalars (one-hot type [+ Z])
    -> num_layers x [attention block (-> hidden fiber), norm non-linearity]   (+ edge update, Efficient)
    -> final convolution with self-interaction (-> out_channels scalars, mean over neighbours)
    -> per-graph max / mean / sum pooling -> head MLP

Backbone features: ``node_scalars`` [N, out_channels] (after the final convolution),
``pooled_scalars`` [N, out_channels] (their per-graph pool, repeated on every atom of the graph,
so that a ``graph_scalar`` head with ``pool: mean`` computes MLP(pool(h)) as the papers do) and
``node_irreps`` [N, hidden.dim] (the last block's output, every degree labelled even).

Edge vectors are the library's ``x_j - x_i`` (sender minus receiver, :func:`~equiformers.models.geometry.edge_vectors`);
the papers write kernels of ``x_i - x_j``. The two differ by the sign (-1)^J of the odd-J basis kernels,
which the learned radial coefficients absorb: the same family of models.
"""

from typing import Any, Dict, List, Optional, Tuple

import torch
from e3nn import o3
from torch import nn

from ...data import keys as K
from ...data.graph import GraphSpec
from ...data.types import TypeMap
from ...errors import InvalidStructureError
from ..base import AtomisticModel
from ...ops.scatter import scatter_sum
from ..geometry import edge_vectors, num_graphs
from .attention import AttentionBlock
from .basis import KernelBases
from .config import REFERENCE_AVG_NUM_NODES, SE3TransformerConfig
from .convolution import EdgeContext, EquivariantConvolution
from .edges import EdgeEmbedding, EdgeUpdate
from .fiber import Features, Fiber
from .layers import LinearSE3, NormSE3, graph_pool

DEFAULT_HEADS = {"y": {"type": "graph_scalar"}}
PAPER_READOUT = {"feature": "pooled_scalars", "pool": "mean"}  # mean of per-atom copies of pool(h): MLP(pool(h))


def with_paper_readout(heads: Dict[str, Any]) -> Dict[str, Any]:
    """``heads`` where every ``graph_scalar`` head that sets neither ``feature`` nor ``pool`` reads the papers'
    readout, MLP(pool(h)) with the pool of ``config.pooling`` (tasks declare such bare heads by default).
    A head that sets either is kept as written (e.g. ``feature: node_scalars, pool: sum`` for sum(MLP(h_i))).

    Example:
        >>> with_paper_readout({"gap": {"type": "graph_scalar"}})
        {'gap': {'type': 'graph_scalar', 'feature': 'pooled_scalars', 'pool': 'mean'}}
    """
    out = {}
    for name, values in heads.items():
        if isinstance(values, dict) and values.get("type") == "graph_scalar" and not {"feature", "pool"} & set(values):
            values = {**values, **PAPER_READOUT}
        out[name] = values
    return out


class SE3Layer(nn.Module):
    """One attention block and (``config.norm``) the norm non-linearity, on flat features.

    Shapes: [N, fiber_in.dim] -> [N, fiber_out.dim] (flat ``irreps`` layout, see :mod:`.fiber`).
    """

    def __init__(self, fiber_in: Fiber, fiber_out: Fiber, config: SE3TransformerConfig, edge_feature_dim: int,
                 where: str):
        super().__init__()
        self.fiber_in, self.fiber_out = fiber_in, fiber_out
        self.attention = AttentionBlock(fiber_in, fiber_out, config, edge_feature_dim, where=where)
        self.norm = NormSE3(fiber_out) if config.norm else None

    def forward(self, x: torch.Tensor, edges: EdgeContext, edge_features: Optional[torch.Tensor]) -> torch.Tensor:
        out = self.attention(self.fiber_in.split(x), edges, edge_features)
        if self.norm is not None:
            out = self.norm(out)
        return self.fiber_out.merge(out)


class OutputConvolution(nn.Module):
    """The final convolution with self-interaction, to ``out_channels`` scalars.

    ``output_pool: mean`` (Fuchs' ``GConvSE3``): mean over neighbours of the kernel messages plus a
    self-interaction W x_i. ``sum`` (NVIDIA's ``ConvSE3``): W x_i is added to every incoming edge's
    message and the edges are summed, i.e. sum of messages plus in-degree times W x_i.

    With ``kernel: separable`` the messages are depth-wise (one radial coefficient per edge, shared by
    all channels), followed by the channel mixing U.

    Shapes: ``{l: [N, C_l, 2l+1]}`` -> [N, out_channels].
    """

    def __init__(self, fiber_in: Fiber, out_channels: int, config: SE3TransformerConfig):
        super().__init__()
        fiber_out = Fiber.of({0: out_channels})
        common = dict(edge_dim=config.num_edge_types, radial=config.radial, fusion=config.fusion, strict=False,
                      pool=config.output_pool, low_memory=config.low_memory, max_degree=config.num_degrees - 1,
                      where="output convolution")
        self.mix = None
        if config.kernel == "separable":
            depthwise = Fiber.of({0: fiber_in.channels[0]})
            self.conv = EquivariantConvolution(fiber_in, depthwise, depthwise=True, **common)
            self.mix = LinearSE3(depthwise, fiber_out)
        else:
            self.conv = EquivariantConvolution(fiber_in, fiber_out, **common)
        self.self_interaction = LinearSE3(fiber_in.restricted([0]), fiber_out)
        self.per_edge_self_interaction = config.output_pool == "sum"

    def forward(self, x: Features, edges: EdgeContext) -> torch.Tensor:
        messages = self.conv(x, edges)
        if self.mix is not None:
            messages = self.mix(messages)
        own = self.self_interaction({0: x[0]})[0]  # [N, C_out, 1]
        if self.per_edge_self_interaction:
            in_degree = scatter_sum(torch.ones_like(edges.dst, dtype=own.dtype), edges.dst, edges.num_nodes)
            own = own * in_degree[:, None, None]
        return (messages[0] + own).squeeze(-1)


class SE3TransformerBackbone(nn.Module):
    """Input features -> attention layers -> final convolution -> pooled scalars (see the module docstring).

    Needs per batch: positions (Å), ``atom_type``, ``edge_index``, ``batch`` and, with
    ``num_edge_types > 0``, ``edge_type`` [E].
    """

    def __init__(self, config: SE3TransformerConfig, num_types: int):
        super().__init__()
        self.config, self.num_types = config, num_types
        self.fiber_in = Fiber.of({0: num_types + int(config.atomic_number_feature)}, what="input fiber")
        hidden = config.hidden_fiber
        self.edge_embedding = EdgeEmbedding(config.edge_features, config.num_edge_types) \
            if config.attention == "edge" else None
        edge_dim = config.edge_feature_dim
        fibers = [self.fiber_in] + [hidden] * config.num_layers
        self.layers = nn.ModuleList(SE3Layer(fibers[i], hidden, config, edge_dim, where=f"layer {i}")
                                    for i in range(config.num_layers))
        # the scalars eq. 27 reads: those entering block i (f_in, the default) or leaving it
        scalar_fibers = fibers if config.edge_features.update_scalars == "input" else fibers[1:]
        self.edge_updates = nn.ModuleList(EdgeUpdate(edge_dim, scalar_fibers[i][0], config.edge_features)
                                          for i in range(config.num_layers - 1)) if config.edge_update else None
        self.update_from_input = config.edge_features.update_scalars == "input"
        self.output = OutputConvolution(hidden, config.output_channels, config)
        self.basis_groups = list(dict.fromkeys(g for m in self.modules() if isinstance(m, EquivariantConvolution)
                                               for g in m.groups))
        scalars = o3.Irreps(f"{config.output_channels}x0e")
        self.feature_irreps = {"node_scalars": scalars, "pooled_scalars": scalars, "node_irreps": hidden.irreps}
        self.avg_num_nodes = config.avg_num_nodes if config.avg_num_nodes is not None else REFERENCE_AVG_NUM_NODES
        self.vector_irrep = "1e"  # the kernels mix parities: SE(3), not E(3) (see fiber.py)
        self.smooth_at_cutoff = False  # radial networks do not vanish at a cutoff; softmax renormalises

    def equivariance_probes(self) -> List[Tuple[nn.Module, o3.Irreps]]:
        """Every layer (hidden irreps) and the final convolution (scalars)."""
        return [(layer, layer.fiber_out.irreps) for layer in self.layers] + [
            (self.output, self.feature_irreps["node_scalars"])]

    def input_features(self, data: Dict[str, torch.Tensor], dtype: torch.dtype) -> torch.Tensor:
        """[N, num_types (+1)]: one-hot type, then Z when ``atomic_number_feature``."""
        x = nn.functional.one_hot(data[K.ATOM_TYPE], self.num_types).to(dtype)
        if self.config.atomic_number_feature:
            x = torch.cat([x, data[K.ATOMIC_NUMBERS].to(dtype).unsqueeze(-1)], dim=-1)
        return x

    def forward(self, data: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        dtype = self.output.self_interaction.weights[0].dtype
        src, dst = data[K.EDGE_INDEX][0], data[K.EDGE_INDEX][1]
        vec = edge_vectors(data, dtype)
        distance = vec.norm(dim=-1)
        bond = None
        if self.config.num_edge_types:
            if K.EDGE_TYPE not in data:
                raise InvalidStructureError(f"this model reads bond types (num_edge_types = "
                                            f"{self.config.num_edge_types}) but the data has no '{K.EDGE_TYPE}'")
            bond = nn.functional.one_hot(data[K.EDGE_TYPE], self.config.num_edge_types).to(dtype)
        radial_inputs = distance.unsqueeze(-1) if bond is None else torch.cat([bond, distance.unsqueeze(-1)], dim=-1)
        x = self.input_features(data, dtype)
        edges = EdgeContext(src, dst, x.shape[0], radial_inputs, KernelBases(vec, self.basis_groups))
        e = self.edge_embedding(distance, bond) if self.edge_embedding is not None else None
        for i, layer in enumerate(self.layers):
            out = layer(x, edges, e)
            if self.edge_updates is not None and i < len(self.edge_updates):
                scalars = layer.fiber_in.split(x)[0] if self.update_from_input else layer.fiber_out.split(out)[0]
                e = self.edge_updates[i](e, scalars.squeeze(-1), src, dst)
            x = out
        hidden = self.layers[-1].fiber_out
        scalars = self.output(hidden.split(x), edges)
        batch = data[K.BATCH]
        pooled = graph_pool(scalars, batch, num_graphs(data), self.config.pooling)
        return {"node_scalars": scalars, "pooled_scalars": pooled.index_select(0, batch), "node_irreps": x}


class SE3Transformer(AtomisticModel):
    """SE(3)-Transformer / Efficient SE(3)-Transformer with named heads (default: ``y`` = MLP(pool(h))).

    Bare ``graph_scalar`` heads (no ``feature``, no ``pool``; what training tasks declare by default)
    read the papers' readout, see :func:`with_paper_readout`.

    Input: a batch of prepared atomic data (positions in Å, the graph of ``config.graph``, and
    ``edge_type`` when ``num_edge_types > 0``). Output: ``{name: tensor}`` per head ([B] for graph outputs).

    Example:
        >>> import torch, equiformers
        >>> from ase.build import molecule
        >>> model = equiformers.build_model("se3-transformer-qm9", num_layers=1, channels=4, num_heads=1,
        ...                                 num_degrees=2)  # bonded graph; bonds perceived with RDKit
        >>> data = equiformers.data.collate([model.prepare(equiformers.data.from_ase(molecule("CH4")))])
        >>> model(data)["y"].shape
        torch.Size([1])
    """

    family = "se3_transformer"
    Config = SE3TransformerConfig
    # the family builds no constants at construction (the kernel basis is made in forward), but the shared
    # scalar head does (e3nn's activation normalisation draws random numbers), so no meta-device build
    supports_meta_init = False

    @classmethod
    def graph_for(cls, config: SE3TransformerConfig) -> GraphSpec:
        return GraphSpec(config.graph, config.cutoff if config.graph == "radius" else None,
                         edge_types=config.edge_types if config.num_edge_types else None,
                         covalent_cutoff=config.covalent_cutoff)

    def __init__(self, config: SE3TransformerConfig, heads: Optional[Dict[str, Dict[str, Any]]] = None):
        type_map = TypeMap(config.elements)
        backbone = SE3TransformerBackbone(config, type_map.num_types)
        super().__init__(config, type_map, backbone, with_paper_readout(heads or DEFAULT_HEADS), self.graph_for(config))

    def prepare(self, record: Dict[str, torch.Tensor], **kwargs) -> Dict[str, torch.Tensor]:
        """As :meth:`AtomisticModel.prepare`, and bond types checked once here (not in ``forward``)."""
        out = super().prepare(record, **kwargs)
        types = self.config.num_edge_types
        if types:
            edge_type = out.get(K.EDGE_TYPE)
            num_edges = out[K.EDGE_INDEX].shape[1]
            if edge_type is None or edge_type.shape != (num_edges,):
                raise InvalidStructureError(
                    f"this model reads bond types (num_edge_types = {types}): the record needs '{K.EDGE_TYPE}' [E] "
                    f"aligned with its {num_edges} edges, got {None if edge_type is None else tuple(edge_type.shape)}")
            if num_edges and (int(edge_type.min()) < 0 or int(edge_type.max()) >= types):
                bad = sorted({int(t) for t in edge_type.tolist() if not 0 <= t < types})
                raise InvalidStructureError(f"unknown bond type(s) {bad}: this model knows edge types 0 .. {types - 1}")
        return out
