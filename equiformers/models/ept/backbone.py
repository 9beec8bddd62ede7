"""The EPT encoder: global atoms, graph embedding, dense equivariant attention + GVP layers.

Global atoms: one per (structure, segment), at the centroid of the segment's atoms, with tokens
``glb`` / GLB / ``glb``. They have no pair edges (the official code drops every edge touching a
global block) but take part in attention and in pooling. They are appended inside the model, after
the real atoms, so records hold real atoms only.
"""

from typing import Dict, List, Tuple

import torch
from e3nn import o3
from torch import nn

from ...data import keys as K
from ...data.blocks import vocabulary as V
from ...ops.scatter import scatter_mean, scatter_sum
from .config import EPTConfig
from .dense import AttentionBias, DenseLayout
from .edges import INTRA
from .embedding import EPTEmbedding
from .layers import EPTLayer

GLOBAL_ATOM, GLOBAL_POSITION, GLOBAL_BLOCK = V.ATOMS.index(V.ATOM_GLOBAL), V.position_index(V.POS_GLOBAL), \
    V.block_index(V.GLB)


def add_global_nodes(data: Dict[str, torch.Tensor], pos: torch.Tensor) -> Dict[str, torch.Tensor]:
    """Every node of the batch, real atoms first, then one global atom per (graph, segment).

    Returns tensors over all nodes (M_all = N + G): ``pos`` [M_all, 3], ``atom_token``,
    ``position_code``, ``block`` (block of each node; global blocks are Nb..Nb+G-1), ``graph``
    [M_all]; over all blocks: ``block_type``, ``block_graph`` [Nb + G]; and ``is_global`` [M_all].
    """
    block_index, block_type, segment = data[K.BLOCK_INDEX], data[K.BLOCK_TYPE], data[K.SEGMENT]
    batch = data[K.BATCH]
    n, nb = pos.shape[0], block_type.shape[0]
    block_graph = data.get(K.BLOCK_BATCH)
    if block_graph is None:
        block_graph = torch.zeros(nb, dtype=torch.long, device=pos.device).index_put((block_index,), batch)
    stride = int(segment.max()) + 1 if nb else 1
    keys, group_of_block = torch.unique(block_graph * stride + segment, return_inverse=True)
    g = keys.shape[0]
    group_of_atom = group_of_block[block_index]
    centroid = scatter_mean(pos, group_of_atom, g)
    full = lambda value: torch.full((g,), value, dtype=torch.long, device=pos.device)  # noqa: E731
    return {
        "pos": torch.cat([pos, centroid]),
        "atom_token": torch.cat([data[K.ATOM_TOKEN], full(GLOBAL_ATOM)]),
        "position_code": torch.cat([data[K.POSITION_CODE], full(GLOBAL_POSITION)]),
        "block": torch.cat([block_index, nb + torch.arange(g, device=pos.device)]),
        "graph": torch.cat([batch, keys // stride]),
        "block_type": torch.cat([block_type, full(GLOBAL_BLOCK)]),
        "block_graph": torch.cat([block_graph, keys // stride]),
        "is_global": torch.cat([torch.zeros(n, dtype=torch.bool, device=pos.device),
                                torch.ones(g, dtype=torch.bool, device=pos.device)]),
    }


def with_self_pairs(edge_index: torch.Tensor, edge_type: torch.Tensor, num_atoms: int):
    """The stored pairs plus the self pair (i, i) of every real atom, type intra-block (edges.py
    keeps them out of records). Shapes: [2, E], [E] -> [2, E + N], [E + N]."""
    atoms = torch.arange(num_atoms, device=edge_index.device)
    return (torch.cat([edge_index, torch.stack([atoms, atoms])], dim=1),
            torch.cat([edge_type, torch.full_like(atoms, INTRA)]))


class EPTBackbone(nn.Module):
    """Embedding, ``num_layers`` x (attention, GVP FFN), final LayerNorm on h.

    Features: ``node_scalars`` [N, d] and ``node_irreps`` [N, 3d] (``dx1o``, channel-major) of the
    real atoms, for the library's generic heads; ``all_scalars`` [M_all, d], ``all_vectors``
    [M_all, 3, d], ``node_block`` [M_all], ``node_graph`` [M_all], ``block_graph`` [Nb + G] over
    every node and block, global ones included, for EPT's own heads.
    """

    def __init__(self, config: EPTConfig):
        super().__init__()
        d = config.hidden_channels
        self.config = config
        self.embedding = EPTEmbedding(d, config.num_block_types, config.num_rbf, config.edge_channels,
                                      config.rbf_cutoff, config.position_embedding,
                                      config.omit_small_molecule_positions)
        # W_beta: one scalar per layer for every pair of E_u, shared by the heads (official rbf_mapping)
        self.edge_bias = nn.Linear(config.num_rbf + config.edge_channels, config.num_layers) if config.edge_bias \
            else None
        self.layers = nn.ModuleList(EPTLayer(d, config.ffn_channels, config.num_heads, config.vector_act,
                                             config.qkv_bias) for _ in range(config.num_layers))
        self.norm = nn.LayerNorm(d)
        self.probes = nn.ModuleList(nn.Identity() for _ in range(config.num_layers + 1))
        self.avg_num_nodes = 1.0  # unused by EPT's heads (they pool with the actual counts)
        self.vector_irrep = "1o"
        self.smooth_at_cutoff = False  # k-nearest pair selection and block edges change discontinuously
        self.feature_irreps = {"node_scalars": o3.Irreps(f"{d}x0e"), "node_irreps": o3.Irreps(f"{d}x1o")}

    def equivariance_probes(self) -> List[Tuple[nn.Module, o3.Irreps]]:
        """The embedding's and every layer's output on the real atoms, as ``dx0e + dx1o``."""
        d = self.config.hidden_channels
        return [(probe, o3.Irreps(f"{d}x0e+{d}x1o")) for probe in self.probes]

    def _probe(self, i: int, h: torch.Tensor, vectors: torch.Tensor, n: int) -> None:
        if self.probes[i]._forward_hooks:  # only the test suite listens; skip the copy otherwise
            self.probes[i](torch.cat([h[:n], vectors[:n].transpose(1, 2).reshape(n, -1)], dim=-1))

    def forward(self, data: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        dtype = self.norm.weight.dtype
        pos = data[K.POSITIONS].to(dtype)
        n, num_graphs = pos.shape[0], data[K.NUM_ATOMS].shape[0]
        nodes = add_global_nodes(data, pos)
        h = self.embedding.tokens(nodes["atom_token"], nodes["block_type"][nodes["block"]], nodes["position_code"])
        edge_index, edge_type = with_self_pairs(data[K.EDGE_INDEX], data[K.EDGE_TYPE], n)
        h, vectors, pair = self.embedding(h, nodes["pos"], edge_index, edge_type)
        self._probe(0, h, vectors, n)
        layout = DenseLayout(nodes["graph"], num_graphs)
        beta = self.edge_bias(pair) if self.edge_bias is not None else None
        targets_sources = edge_index.flip(0)  # (i, j)
        bias = AttentionBias(layout, nodes["pos"], targets_sources, beta, self.config.distance_bias,
                             self.config.local_mask, nodes["is_global"])
        h, vectors = layout.pad(h), layout.pad(vectors)
        for i, layer in enumerate(self.layers):
            h, vectors = layer(h, vectors, bias.layer(i))
            if self.probes[i + 1]._forward_hooks:
                self._probe(i + 1, layout.unpad(h), layout.unpad(vectors), n)
        h, vectors = layout.unpad(self.norm(h)), layout.unpad(vectors)
        return {"node_scalars": h[:n], "node_irreps": vectors[:n].transpose(1, 2).reshape(n, -1),
                "all_scalars": h, "all_vectors": vectors, "node_block": nodes["block"], "node_graph": nodes["graph"],
                "block_graph": nodes["block_graph"]}


def block_and_graph_embeddings(features: Dict[str, torch.Tensor], num_graphs: int):
    """EPT's pooling (official ``std_conserve_scatter_sum``): z_b = sum_{i in b} h_i / sqrt(n_b) and
    z_G = sum_b z_b / sqrt(N_b), global blocks and atoms included. Shapes: [Nb + G, d], [B, d]."""
    h, block, block_graph = features["all_scalars"], features["node_block"], features["block_graph"]
    nb = block_graph.shape[0]
    n_b = scatter_sum(torch.ones_like(block, dtype=h.dtype), block, nb)
    z_b = scatter_sum(h, block, nb) / n_b.sqrt().unsqueeze(-1)
    blocks_per_graph = scatter_sum(torch.ones_like(block_graph, dtype=h.dtype), block_graph, num_graphs)
    z_g = scatter_sum(z_b, block_graph, num_graphs) / blocks_per_graph.sqrt().unsqueeze(-1)
    return z_b, z_g
