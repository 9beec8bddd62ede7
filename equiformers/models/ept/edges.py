"""EPT's graph: block edges (paper eq. 1) and the k nearest atom pairs of each block edge (E_u).

Block distance D_bc = the minimum atom-atom distance between blocks b and c. A block edge (b, c)
is kept when D_bc <= ``cutoff`` (10 Å; every pair in the fully connected mode used for QM9), self
loops included. Its type (the official code's ids, embedded by the model):

==  ===================  =====================================================
3   intra-block          b == c (or D_bc < 1e-10)
2   cross-segment        blocks of different segments (e.g. pocket - ligand)
1   topological          D_bc < ``topo_cutoff`` (1.6 Å, roughly bonded)
0   spatial              otherwise
==  ===================  =====================================================

For each block edge (b, c) every atom i of b is paired with its ``k`` nearest atoms j of c (ties:
lower atom index first; within a block i's nearest atom is i itself, as in the official code).
The pairs are stored as library edges: ``edge_index`` = (source j, target i), i.e. messages flow
from j to i, with ``edge_type`` the type of their block edge. Blocks edges are stored as
``block_edge_index`` (source c, target b) and ``block_edge_type``.

The self pairs (i, i) -- every atom has exactly one, in its own block at distance 0 -- are not
stored: to the rest of the library a zero-length edge means overlapping atoms (the structure
checks of ``predict`` and the calculator refuse it). The model adds them back (type intra-block),
so E_u is the official set.

Edges are built once per structure when data is prepared (selection is not differentiable
anyway); distances are recomputed from the positions in the model, so forces flow through them.
"""

from typing import Tuple

import torch

from ...data import keys as K
from ...data.atomic_data import AtomicData
from ...data.graph_size import max_edges_limit
from ...errors import InvalidStructureError

INTRA, CROSS_SEGMENT, TOPOLOGICAL, SPATIAL = 3, 2, 1, 0
NUM_EDGE_TYPES = 4
_ROWS_PER_CHUNK = 2048  # atoms per slice of the atom-atom distance matrix (bounds memory at N x 2048)


def block_distances(pos: torch.Tensor, block_index: torch.Tensor, num_blocks: int) -> torch.Tensor:
    """[Nb, Nb] minimum atom-atom distance (Å) between every two blocks of one structure."""
    out = pos.new_full((num_blocks, num_blocks), float("inf"))
    for start in range(0, pos.shape[0], _ROWS_PER_CHUNK):
        rows = slice(start, start + _ROWS_PER_CHUNK)
        d = torch.cdist(pos[rows], pos)  # [c, N]
        per_block = d.new_full((d.shape[0], num_blocks), float("inf"))
        per_block = per_block.scatter_reduce(1, block_index.expand(d.shape[0], -1), d, "amin")  # [c, Nb]
        out = out.scatter_reduce(0, block_index[rows, None].expand(-1, num_blocks), per_block, "amin")
    return out


def block_edges(pos: torch.Tensor, block_index: torch.Tensor, segment: torch.Tensor, cutoff: float,
                topo_cutoff: float, fully_connected: bool) -> Tuple[torch.Tensor, torch.Tensor]:
    """Block edges of one structure: ``(targets b, sources c)`` as [2, Eb] and their types [Eb]."""
    num_blocks = segment.shape[0]
    D = block_distances(pos, block_index, num_blocks)
    keep = torch.ones_like(D, dtype=torch.bool) if fully_connected else D <= cutoff
    b, c = torch.nonzero(keep, as_tuple=True)  # row-major: sorted by b, then c (deterministic)
    d = D[b, c]
    kind = torch.where(d < topo_cutoff, TOPOLOGICAL, SPATIAL)
    kind = torch.where((b == c) | (d < 1e-10), torch.full_like(kind, INTRA), kind)
    kind = torch.where(segment[b] != segment[c], torch.full_like(kind, CROSS_SEGMENT), kind)
    return torch.stack([b, c]), kind


def nearest_atom_pairs(pos: torch.Tensor, block_index: torch.Tensor, edges: torch.Tensor, k: int,
                       max_pairs: int = 0) -> Tuple[torch.Tensor, torch.Tensor]:
    """For each block edge (b, c) and each atom i of b, the ``k`` nearest atoms j of c, self pairs
    (i, i) left out (they count among the k).

    Returns ``(i, j)`` [2, E] and the block edge of each pair [E]. ``max_pairs`` > 0 refuses
    structures whose candidate pairs (sum over block edges of n_b n_c) exceed it.
    """
    num_blocks = int(block_index.max()) + 1 if block_index.numel() else 0
    order = torch.sort(block_index, stable=True).indices  # atoms grouped by block, original order within
    count = torch.bincount(block_index, minlength=num_blocks)
    start = torch.cumsum(count, 0) - count
    b, c = edges
    n_b, n_c = count[b], count[c]
    pairs_per_edge = n_b * n_c
    total = int(pairs_per_edge.sum())
    if 0 < max_pairs < total:
        raise InvalidStructureError(f"the block graph has {total:,} candidate atom pairs, above the limit of "
                                    f"{max_pairs:,} (--max-edges or EQUIFORMERS_MAX_EDGES); crop the structure")
    edge_of_pair = torch.repeat_interleave(torch.arange(len(b), device=pos.device), pairs_per_edge)
    local = torch.arange(total, device=pos.device) - (torch.cumsum(pairs_per_edge, 0) - pairs_per_edge)[edge_of_pair]
    i_local, j_local = local // n_c[edge_of_pair], local % n_c[edge_of_pair]
    i = order[start[b][edge_of_pair] + i_local]
    j = order[start[c][edge_of_pair] + j_local]
    group = (torch.cumsum(n_b, 0) - n_b)[edge_of_pair] + i_local  # one group per (block edge, atom i)
    dist = (pos[i] - pos[j]).norm(dim=-1)
    # sort by (group, distance, j): stable sorts from the last key to the first
    perm = torch.sort(j, stable=True).indices
    perm = perm[torch.sort(dist[perm], stable=True).indices]
    perm = perm[torch.sort(group[perm], stable=True).indices]
    sorted_group = group[perm]
    first = torch.searchsorted(sorted_group, sorted_group, right=False)
    keep = perm[(torch.arange(total, device=pos.device) - first) < k]
    keep = torch.sort(keep).values  # block-edge order, then atom order
    keep = keep[i[keep] != j[keep]]  # self pairs are implicit (see the module docstring)
    return torch.stack([i[keep], j[keep]]), edge_of_pair[keep]


def build_block_graph(record: AtomicData, cutoff: float, topo_cutoff: float, k: int, fully_connected: bool,
                      max_edges=None) -> AtomicData:
    """``record`` (one structure with block keys) with ``edge_index`` [2, E], ``edge_type`` [E],
    ``block_edge_index`` [2, Eb] and ``block_edge_type`` [Eb] (a new dict; see the module docstring).

    Example:
        >>> import torch
        >>> rec = {"pos": torch.tensor([[0., 0, 0], [1.0, 0, 0], [5.0, 0, 0]]), "block_index": torch.tensor([0, 0, 1]),
        ...        "segment": torch.tensor([0, 0])}
        >>> out = build_block_graph(rec, cutoff=10.0, topo_cutoff=1.6, k=1, fully_connected=False)
        >>> out["edge_index"].tolist(), out["edge_type"].tolist()
        ([[2, 2, 1], [0, 1, 2]], [0, 0, 0])
    """
    pos = record[K.POSITIONS].detach().to(torch.float64)
    block_index, segment = record[K.BLOCK_INDEX], record[K.SEGMENT]
    edges, kind = block_edges(pos, block_index, segment, cutoff, topo_cutoff, fully_connected)
    pairs, edge_of_pair = nearest_atom_pairs(pos, block_index, edges, k, max(0, max_edges_limit(max_edges)))
    out = dict(record)
    out[K.EDGE_INDEX] = torch.stack([pairs[1], pairs[0]])  # (source j, target i)
    out[K.EDGE_TYPE] = kind[edge_of_pair]
    out[K.BLOCK_EDGE_INDEX] = torch.stack([edges[1], edges[0]])  # (source c, target b)
    out[K.BLOCK_EDGE_TYPE] = kind
    return out
