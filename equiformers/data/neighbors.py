"""Neighbour lists within a cutoff, for molecules and periodic cells, through vesin."""

from typing import Tuple

import numpy as np
import vesin


def neighbor_list(positions: np.ndarray, cutoff: float, cell: np.ndarray = None,
                  pbc=(False, False, False)) -> Tuple[np.ndarray, np.ndarray]:
    """All ordered pairs closer than ``cutoff`` (Å), periodic images included.

    Args:
        positions: [N, 3] Å. cell: [3, 3] Å, rows are lattice vectors (ignored
            when no direction is periodic). pbc: periodicity per direction.

    Returns:
        ``edge_index`` [2, E] int64 as (source, target) and ``cell_shift``
        [E, 3] float64: integer lattice translations such that the edge vector
        is ``pos[source] - pos[target] + cell_shift @ cell``. Both directions of
        every pair are listed; self-pairs only appear for periodic images.

    Example:
        >>> ei, shift = neighbor_list(np.array([[0., 0, 0], [1, 0, 0], [9, 0, 0]]), 2.0)
        >>> ei.tolist()
        [[1, 0], [0, 1]]
    """
    positions = np.ascontiguousarray(positions, dtype=np.float64)
    pbc = np.asarray(pbc, dtype=bool).reshape(3)
    if cell is None or not pbc.any():
        box, periodic = np.zeros((3, 3)), False
    else:
        box, periodic = np.ascontiguousarray(cell, dtype=np.float64), pbc.tolist()
    calculator = vesin.NeighborList(cutoff=float(cutoff), full_list=True, sorted=True)
    i, j, shifts = calculator.compute(points=positions, box=box, periodic=periodic, quantities="ijS")
    # vesin: vector = pos[j] - pos[i] + S @ cell; messages flow j (source) -> i (target)
    edge_index = np.stack([j, i]).astype(np.int64)
    return edge_index, shifts.astype(np.float64).reshape(-1, 3)
