"""Graph construction declared by a model and applied by the data pipeline.

A model says which edges it needs with a :class:`GraphSpec`; datasets yield structures
without edges and the pipeline (``AtomisticModel.prepare``) builds them, so the cutoff
lives in one place (the model config) and a dataset serves any model.

Kinds:
    ``radius``: every ordered pair closer than ``cutoff`` Å (periodic images included),
    optionally only the ``max_neighbors`` nearest sources of each target atom (ties broken
    by the pair order of the neighbour list, so the choice is deterministic).
    ``fully_connected``: every ordered pair of distinct atoms of a molecule (no cutoff).
    ``bonded``: both directions of every chemical bond of a molecule (:mod:`.bonds`: the record's
    ``bond_index``, perceived with RDKit from the geometry when absent).

Edge types (``edge_types``), for models that read ``edge_type`` [E]:
    ``bonds``: the bond order of each edge's pair (0 single, 1 double, 2 triple, 3 aromatic), 4 for
    a pair that is not bonded (never on a ``bonded`` graph).
    ``covalent``: 1 for pairs closer than ``covalent_cutoff`` Å (default 1.5), else 0 — the covalent
    and non-covalent graphs of PDBBind models (SG-CNN, Efficient SE(3)-Transformer) on one edge list.
"""

from dataclasses import dataclass
from typing import Dict, Optional

import numpy as np
import torch

from ..errors import ConfigError, InvalidStructureError
from . import keys as K
from .bonds import bond_edges, edge_bond_types, with_bonds
from .graph_size import check_graph_size, max_edges_limit
from .neighbors import neighbor_list

GRAPH_KINDS = ("radius", "fully_connected", "bonded")
EDGE_TYPE_SOURCES = (None, "bonds", "covalent")


@dataclass(frozen=True)
class GraphSpec:
    """Which edges a model needs.

    Example:
        >>> from ase.build import molecule
        >>> from equiformers.data import from_ase
        >>> record = GraphSpec("radius", cutoff=1.2).build(from_ase(molecule("H2O")))
        >>> record["edge_index"].shape
        torch.Size([2, 4])
    """

    kind: str = "radius"
    cutoff: Optional[float] = None
    max_neighbors: Optional[int] = None
    edge_types: Optional[str] = None
    covalent_cutoff: float = 1.5

    def __post_init__(self):
        if self.kind not in GRAPH_KINDS:
            raise ConfigError(f"graph kind must be one of {GRAPH_KINDS}, got {self.kind!r}")
        if self.kind == "radius" and (self.cutoff is None or not self.cutoff > 0):
            raise ConfigError(f"a radius graph needs a positive cutoff in Å, got {self.cutoff!r}")
        if self.edge_types not in EDGE_TYPE_SOURCES:
            raise ConfigError(f"edge_types must be one of {EDGE_TYPE_SOURCES}, got {self.edge_types!r}")
        if self.edge_types == "covalent" and not self.covalent_cutoff > 0:
            raise ConfigError(f"covalent_cutoff must be a positive distance in Å, got {self.covalent_cutoff!r}")
        if self.max_neighbors is not None and self.max_neighbors < 1:
            raise ConfigError(f"max_neighbors must be a positive integer or null, got {self.max_neighbors}")

    def build(self, record: Dict[str, torch.Tensor], max_edges: Optional[int] = None) -> Dict[str, torch.Tensor]:
        """``record`` with ``edge_index`` [2, E] and ``edge_cell_shift`` [E, 3] for this spec (a new dict).

        ``max_edges``: refuse (:class:`InvalidStructureError`) a graph whose estimated size exceeds
        this (default: :func:`~equiformers.data.graph_size.max_edges_limit`; 0: no limit)."""
        if self.kind == "bonded" or self.edge_types == "bonds":
            record = with_bonds(record)
        pos = record[K.POSITIONS].detach().cpu().numpy().astype(np.float64)
        if self.kind == "bonded":
            edge_index, _ = bond_edges(record[K.BOND_INDEX], record[K.BOND_TYPE])
            edge_index, shifts = edge_index.numpy(), np.zeros((edge_index.shape[1], 3))
        elif self.kind == "fully_connected":
            if bool(record[K.PBC].any()):
                raise InvalidStructureError("a fully connected graph is for molecules, not periodic cells")
            n = pos.shape[0]
            limit = max_edges_limit(max_edges)
            if 0 < limit < n * (n - 1):
                raise InvalidStructureError(f"a fully connected graph of {n} atoms has {n * (n - 1):,} edges, above "
                                            f"the limit of {limit:,} (--max-edges or EQUIFORMERS_MAX_EDGES)")
            src, dst = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
            keep = src != dst
            edge_index = np.stack([src[keep], dst[keep]]).astype(np.int64)
            shifts = np.zeros((edge_index.shape[1], 3))
        else:
            cell = record[K.CELL][0].detach().cpu().numpy().astype(np.float64)
            pbc = record[K.PBC][0].cpu().numpy()
            check_graph_size(pos, self.cutoff, cell, pbc, max_edges)
            edge_index, shifts = neighbor_list(pos, self.cutoff, cell, pbc)
            if self.max_neighbors is not None:
                edge_index, shifts = _nearest(edge_index, shifts, pos, cell, self.max_neighbors)
        out = dict(record)
        out[K.EDGE_INDEX] = torch.from_numpy(edge_index)
        out[K.EDGE_CELL_SHIFT] = torch.from_numpy(shifts)
        if self.edge_types == "bonds":
            out[K.EDGE_TYPE] = edge_bond_types(out[K.EDGE_INDEX], record[K.BOND_INDEX], record[K.BOND_TYPE],
                                               pos.shape[0])
        elif self.edge_types == "covalent":
            src, dst = edge_index
            length = np.linalg.norm(pos[src] - pos[dst] + shifts @ record[K.CELL][0].cpu().numpy(), axis=1)
            out[K.EDGE_TYPE] = torch.from_numpy((length < self.covalent_cutoff).astype(np.int64))
        return out


def _nearest(edge_index: np.ndarray, shifts: np.ndarray, pos: np.ndarray, cell: np.ndarray, k: int):
    """Keep the ``k`` shortest incoming edges of every target atom (stable: ties keep list order)."""
    src, dst = edge_index
    length = np.linalg.norm(pos[src] - pos[dst] + shifts @ cell, axis=1)
    order = np.lexsort((np.arange(len(dst)), length, dst))  # by target, then length, then list order
    ranked_dst = dst[order]
    first = np.searchsorted(ranked_dst, ranked_dst, side="left")
    keep = np.sort(order[np.arange(len(order)) - first < k])
    return edge_index[:, keep], shifts[keep]
