"""Turning structures (ASE ``Atoms`` or arrays) into validated atomic-data dicts."""

from typing import Dict, Mapping, Optional

import numpy as np
import torch

from ..errors import InvalidStructureError
from . import keys as K
from .elements import MAX_Z
from .neighbors import neighbor_list

AtomicData = Dict[str, torch.Tensor]


def from_arrays(positions, atomic_numbers, cutoff: Optional[float] = None, cell=None, pbc=None,
                targets: Optional[Mapping[str, float]] = None, name: str = "structure") -> AtomicData:
    """Build one structure's atomic-data dict; with ``cutoff`` (Å), also its radius-graph edges.

    Without ``cutoff`` the record has no edges: a model's :meth:`prepare` builds the graph it
    declares (``model.graph_spec``). ``cutoff`` is a shorthand for ``GraphSpec("radius", cutoff)``.

    Args:
        positions: [N, 3] in Å. atomic_numbers: [N] integers.
        cell: [3, 3] Å lattice vectors as rows (optional). pbc: 3 booleans.
        targets: graph-level targets, each a number (stored as [1] float64)
            or a per-atom array [N, ...].
        name: used in error messages.

    Raises:
        InvalidStructureError: no atoms, NaN/inf positions, bad atomic numbers,
            or a periodic direction with a degenerate cell.
    """
    pos = np.asarray(positions, dtype=np.float64)
    z = np.asarray(atomic_numbers)
    if pos.ndim != 2 or pos.shape[1] != 3:
        raise InvalidStructureError(f"{name}: positions must have shape [N, 3], got {list(pos.shape)}")
    if pos.shape[0] == 0:
        raise InvalidStructureError(f"{name}: structure has no atoms")
    if z.shape != (pos.shape[0],):
        raise InvalidStructureError(f"{name}: {z.size} atomic numbers for {pos.shape[0]} positions")
    if not np.isfinite(pos).all():
        bad = sorted(set(np.nonzero(~np.isfinite(pos))[0].tolist()))
        raise InvalidStructureError(f"{name}: positions contain NaN or infinite values (atoms {bad[:10]})")
    if not np.issubdtype(z.dtype, np.integer) or z.min() < 1 or z.max() > MAX_Z:
        raise InvalidStructureError(f"{name}: atomic numbers must be integers in 1..{MAX_Z}, got {z.tolist()[:10]}")
    pbc_arr = np.zeros(3, dtype=bool) if pbc is None else np.asarray(pbc, dtype=bool).reshape(3)
    cell_arr = np.zeros((3, 3)) if cell is None else np.asarray(cell, dtype=np.float64).reshape(3, 3)
    if pbc_arr.any():
        if not np.isfinite(cell_arr).all() or abs(np.linalg.det(cell_arr)) < 1e-8:
            raise InvalidStructureError(f"{name}: periodic structure needs a non-degenerate cell, got {cell_arr.tolist()}")
    data: AtomicData = {
        K.POSITIONS: torch.from_numpy(pos),
        K.ATOMIC_NUMBERS: torch.from_numpy(z.astype(np.int64)),
        K.CELL: torch.from_numpy(cell_arr).unsqueeze(0),
        K.PBC: torch.from_numpy(pbc_arr).unsqueeze(0),
        K.NUM_ATOMS: torch.tensor([pos.shape[0]]),
    }
    if cutoff is not None:
        edge_index, shifts = neighbor_list(pos, cutoff, cell_arr, pbc_arr)
        data[K.EDGE_INDEX] = torch.from_numpy(edge_index)
        data[K.EDGE_CELL_SHIFT] = torch.from_numpy(shifts)
    for key, value in (targets or {}).items():
        value = torch.as_tensor(np.asarray(value, dtype=np.float64))
        data[key] = value.reshape(1) if value.dim() == 0 else value
    return data


def from_ase(atoms, cutoff: Optional[float] = None, targets: Optional[Mapping[str, float]] = None) -> AtomicData:
    """Atomic-data dict of an ASE ``Atoms`` (positions in Å, cell and pbc kept); edges as in :func:`from_arrays`.

    Example:
        >>> from ase.build import molecule
        >>> data = from_ase(molecule("H2O"), cutoff=5.0)
        >>> data["edge_index"].shape
        torch.Size([2, 6])
    """
    pbc = atoms.get_pbc()
    return from_arrays(atoms.get_positions(), atoms.get_atomic_numbers(), cutoff,
                       cell=atoms.get_cell().array if pbc.any() else None, pbc=pbc,
                       targets=targets, name=atoms.get_chemical_formula() or "structure")
