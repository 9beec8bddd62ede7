"""A structure tokenised into blocks, and its atomic-data record.

:class:`BlockStructure` is what every reader returns (PDB/mmCIF, SDF/MOL2/SMILES, ASE): atoms grouped
into blocks (a residue, or one heavy atom with its hydrogens), each block with a vocabulary type and a
segment (e.g. receptor 0, ligand 1), each atom with a position code. Strings (chains, residue and atom
names) stay here, beside the record, for error messages and round trips; they never enter tensors.

Global blocks are not stored: EPT adds one per segment at the segment's centroid inside the model,
where it is recomputed from the current coordinates (the official code re-centres them after every
noising step; computing them on the fly is the same and keeps records free of atoms without an
element). :meth:`BlockStructure.to_official` writes the official flat format, global blocks included.
"""

from dataclasses import dataclass, field
from typing import List, Optional, Sequence

import numpy as np
import torch

from ...errors import InvalidStructureError
from .. import keys as K
from ..atomic_data import AtomicData, from_arrays
from . import vocabulary as V


@dataclass(frozen=True)
class BlockLabel:
    """Where a block came from: chain id, residue number, insertion code, residue name, and whether
    it was a HETATM/non-polymer residue (empty strings for small molecules)."""

    chain: str = ""
    number: int = 0
    insertion: str = ""
    name: str = ""
    hetero: bool = False


@dataclass
class BlockStructure:
    """Atoms grouped into blocks.

    Attributes (N atoms, Nb blocks):
        positions: [N, 3] float64, Å. atomic_numbers: [N] int64.
        block_of_atom: [N] int64, block of each atom (0..Nb-1; atoms of a block need not be contiguous).
        position_codes: [N] int64, position-vocabulary index of each atom.
        block_types: [Nb] int64, block-vocabulary index. segments: [Nb] int64.
        labels: [Nb] :class:`BlockLabel`. atom_names: [N] str. name: for error messages.
    """

    positions: np.ndarray
    atomic_numbers: np.ndarray
    block_of_atom: np.ndarray
    position_codes: np.ndarray
    block_types: np.ndarray
    segments: np.ndarray
    labels: List[BlockLabel] = field(default_factory=list)
    atom_names: List[str] = field(default_factory=list)
    name: str = "structure"

    def __post_init__(self):
        self.positions = np.asarray(self.positions, dtype=np.float64).reshape(-1, 3)
        self.atomic_numbers = np.asarray(self.atomic_numbers, dtype=np.int64).reshape(-1)
        self.block_of_atom = np.asarray(self.block_of_atom, dtype=np.int64).reshape(-1)
        self.position_codes = np.asarray(self.position_codes, dtype=np.int64).reshape(-1)
        self.block_types = np.asarray(self.block_types, dtype=np.int64).reshape(-1)
        self.segments = np.asarray(self.segments, dtype=np.int64).reshape(-1)
        n, nb = len(self.atomic_numbers), len(self.block_types)
        if not self.labels:
            self.labels = [BlockLabel() for _ in range(nb)]
        if not self.atom_names:
            self.atom_names = [""] * n
        sizes = {"positions": len(self.positions), "block_of_atom": len(self.block_of_atom),
                 "position_codes": len(self.position_codes), "atom_names": len(self.atom_names)}
        if any(v != n for v in sizes.values()) or len(self.segments) != nb or len(self.labels) != nb:
            raise InvalidStructureError(f"{self.name}: inconsistent block structure sizes ({n} atoms: {sizes}; "
                                        f"{nb} blocks, {len(self.segments)} segments, {len(self.labels)} labels)")
        if n and (self.block_of_atom.min() < 0 or self.block_of_atom.max() >= nb):
            raise InvalidStructureError(f"{self.name}: block_of_atom must index the {nb} blocks")
        if nb and np.bincount(self.block_of_atom, minlength=nb).min() == 0:
            raise InvalidStructureError(f"{self.name}: every block needs at least one atom")

    @property
    def num_atoms(self) -> int:
        return int(len(self.atomic_numbers))

    @property
    def num_blocks(self) -> int:
        return int(len(self.block_types))

    def atoms_of_block(self, block: int) -> np.ndarray:
        """Indices of the atoms of ``block``, in order."""
        return np.nonzero(self.block_of_atom == block)[0]

    def select_blocks(self, blocks: Sequence[int]) -> "BlockStructure":
        """The structure made of ``blocks`` (indices, kept in the given order), renumbered from 0."""
        blocks = np.asarray(blocks, dtype=np.int64).reshape(-1)
        new_index = np.full(self.num_blocks, -1, dtype=np.int64)
        new_index[blocks] = np.arange(len(blocks))
        atoms = np.concatenate([self.atoms_of_block(int(b)) for b in blocks]) if len(blocks) else np.zeros(0, int)
        return BlockStructure(self.positions[atoms], self.atomic_numbers[atoms], new_index[self.block_of_atom[atoms]],
                              self.position_codes[atoms], self.block_types[blocks], self.segments[blocks],
                              [self.labels[int(b)] for b in blocks], [self.atom_names[int(a)] for a in atoms],
                              self.name)

    def with_segment(self, segment: int) -> "BlockStructure":
        """A copy with every block in ``segment``."""
        out = self.select_blocks(np.arange(self.num_blocks))
        out.segments = np.full(self.num_blocks, int(segment), dtype=np.int64)
        return out

    def to_record(self, max_atoms: Optional[int] = None, max_blocks: Optional[int] = None,
                  targets=None) -> AtomicData:
        """The atomic-data record: positions (Å), atomic numbers and the block keys
        (``block_index`` [N], ``block_type`` [Nb], ``atom_token`` [N], ``position_code`` [N],
        ``segment`` [Nb], ``num_blocks`` [1]), without edges (the model builds those).

        Raises:
            InvalidStructureError: an empty structure, or more atoms / blocks than ``max_atoms`` /
                ``max_blocks`` (None: no limit).
        """
        if self.num_atoms == 0:
            raise InvalidStructureError(f"{self.name}: no atoms left to tokenise (is the file empty, or were all "
                                        "residues filtered out?)")
        for what, count, limit in (("atoms", self.num_atoms, max_atoms), ("blocks", self.num_blocks, max_blocks)):
            if limit is not None and count > limit:
                raise InvalidStructureError(f"{self.name}: {count:,} {what}, above the limit of {limit:,} "
                                            f"(crop it, e.g. with crop_pocket, or raise max_{what})")
        record = from_arrays(self.positions, self.atomic_numbers, targets=targets, name=self.name)
        record[K.BLOCK_INDEX] = torch.from_numpy(self.block_of_atom.copy())
        record[K.BLOCK_TYPE] = torch.from_numpy(self.block_types.copy())
        record[K.ATOM_TOKEN] = torch.tensor([V.atom_index(z) for z in self.atomic_numbers], dtype=torch.long)
        record[K.POSITION_CODE] = torch.from_numpy(self.position_codes.copy())
        record[K.SEGMENT] = torch.from_numpy(self.segments.copy())
        record[K.NUM_BLOCKS] = torch.tensor([self.num_blocks])
        return record

    def to_official(self) -> dict:
        """The official EPT flat format (``blocks_to_data``): per segment, a global block (type GLB, atom
        ``glb``, position ``glb``) at the centroid of the segment's atoms, then its blocks. Keys ``X``
        [Natom, 3], ``B``, ``A``, ``atom_positions``, ``block_lengths``, ``segment_ids`` (lists)."""
        X, B, A, P, lengths, segments = [], [], [], [], [], []
        for segment in np.unique(self.segments):
            blocks = np.nonzero(self.segments == segment)[0]
            atoms = np.concatenate([self.atoms_of_block(int(b)) for b in blocks])
            X.append(self.positions[atoms].mean(axis=0))
            B.append(V.block_index(V.GLB)), A.append(V.ATOMS.index(V.ATOM_GLOBAL))
            P.append(V.position_index(V.POS_GLOBAL)), lengths.append(1), segments.append(int(segment))
            for b in blocks:
                members = self.atoms_of_block(int(b))
                X.extend(self.positions[members]), B.append(int(self.block_types[b]))
                A.extend(V.atom_index(z) for z in self.atomic_numbers[members])
                P.extend(int(p) for p in self.position_codes[members])
                lengths.append(len(members)), segments.append(int(segment))
        return {"X": np.array(X), "B": B, "A": A, "atom_positions": P, "block_lengths": lengths, "segment_ids": segments}


def concatenate(structures: Sequence[BlockStructure], separate_segments: bool = True,
                name: Optional[str] = None) -> BlockStructure:
    """One structure from several (e.g. a pocket and its ligand). With ``separate_segments`` the i-th
    input becomes segment ``i`` (EPT's receptor 0 / ligand 1 convention); otherwise segments are kept."""
    if not structures:
        raise InvalidStructureError("nothing to concatenate")
    offset, parts = 0, []
    for i, s in enumerate(structures):
        parts.append((s, offset, np.full(s.num_blocks, i) if separate_segments else s.segments))
        offset += s.num_blocks
    return BlockStructure(
        np.concatenate([s.positions for s, _, _ in parts]), np.concatenate([s.atomic_numbers for s, _, _ in parts]),
        np.concatenate([s.block_of_atom + o for s, o, _ in parts]),
        np.concatenate([s.position_codes for s, _, _ in parts]), np.concatenate([s.block_types for s, _, _ in parts]),
        np.concatenate([seg for _, _, seg in parts]), [lab for s, _, _ in parts for lab in s.labels],
        [n for s, _, _ in parts for n in s.atom_names], name or "+".join(s.name for s in structures))
