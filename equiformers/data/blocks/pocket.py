"""Binding pockets: the residues of a protein near a ligand, and the pocket-ligand complex."""

from typing import Optional

import numpy as np

from ...errors import ConfigError, InvalidStructureError
from .structure import BlockStructure, concatenate

#: Å; the PDBbind pocket convention (residues with an atom within 10 Å of the ligand)
DEFAULT_POCKET_CUTOFF = 10.0


def pocket_blocks(protein: BlockStructure, ligand_positions, cutoff: float = DEFAULT_POCKET_CUTOFF) -> np.ndarray:
    """Indices of the blocks of ``protein`` with at least one atom within ``cutoff`` Å of any ligand atom.

    Shapes: ligand_positions [M, 3] Å -> [K] int64 block indices in increasing order.

    Example:
        >>> from equiformers.data.blocks.molecules import small_molecule_blocks
        >>> p = small_molecule_blocks([6, 6, 6], [[0, 0, 0], [5, 0, 0], [20, 0, 0]])
        >>> pocket_blocks(p, [[2.0, 0, 0]], cutoff=4.0).tolist()
        [0, 1]
    """
    if not cutoff > 0:
        raise ConfigError(f"the pocket cutoff must be a positive distance in Å, got {cutoff!r}")
    ligand = np.asarray(ligand_positions, dtype=np.float64).reshape(-1, 3)
    if len(ligand) == 0:
        raise InvalidStructureError("the ligand has no atoms")
    near = np.zeros(protein.num_atoms, dtype=bool)
    chunk = max(1, 2_000_000 // len(ligand))  # bound the distance matrix to ~16 MB
    for start in range(0, protein.num_atoms, chunk):
        d = np.linalg.norm(protein.positions[start:start + chunk, None] - ligand[None], axis=-1)
        near[start:start + chunk] = d.min(axis=1) <= cutoff
    return np.unique(protein.block_of_atom[near])


def crop_pocket(protein: BlockStructure, ligand: BlockStructure, cutoff: float = DEFAULT_POCKET_CUTOFF,
                min_blocks: int = 1) -> BlockStructure:
    """The pocket: blocks of ``protein`` within ``cutoff`` Å of ``ligand`` (file order kept).

    Raises:
        InvalidStructureError: fewer than ``min_blocks`` blocks are that close (a ligand placed elsewhere).
    """
    blocks = pocket_blocks(protein, ligand.positions, cutoff)
    if len(blocks) < min_blocks:
        raise InvalidStructureError(f"{protein.name}: {len(blocks)} residues within {cutoff} Å of {ligand.name}; is "
                                    "the ligand in the same frame as the protein?")
    pocket = protein.select_blocks(blocks)
    pocket.name = f"{protein.name}:pocket"
    return pocket


def pocket_complex(protein: BlockStructure, ligand: BlockStructure, cutoff: float = DEFAULT_POCKET_CUTOFF,
                   max_atoms: Optional[int] = None) -> BlockStructure:
    """Pocket (segment 0) and ligand (segment 1) as one structure, EPT's complex layout.

    Raises:
        InvalidStructureError: an empty pocket, or more than ``max_atoms`` atoms in the complex.
    """
    out = concatenate([crop_pocket(protein, ligand, cutoff), ligand], separate_segments=True,
                      name=f"{protein.name}+{ligand.name}")
    if max_atoms is not None and out.num_atoms > max_atoms:
        raise InvalidStructureError(f"{out.name}: {out.num_atoms:,} atoms, above the limit of {max_atoms:,} "
                                    "(use a smaller pocket cutoff)")
    return out
