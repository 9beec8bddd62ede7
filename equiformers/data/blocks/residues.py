"""One residue -> blocks, shared by the PDB/mmCIF reader (gemmi) and ASE structures with residue
annotations. The policy is stated in :mod:`.proteins`."""

from typing import List, Optional, Sequence

import numpy as np

from ...errors import InvalidStructureError
from . import vocabulary as V
from .molecules import small_molecule_blocks
from .structure import BlockLabel, BlockStructure, concatenate

UNKNOWN_RESIDUE_POLICIES = ("small_molecule", "unk", "skip", "error")
WATER_NAMES = ("HOH", "WAT", "H2O", "DOD", "TIP3", "SOL")
# selenomethionine is read as methionine (official converter); force-field names of protonation
# states (CHARMM HSD/HSE/HSP, AMBER HID/HIE/HIP, CYX, ASH, GLH, LYN) are the standard residue
_RENAMED = {"MSE": "MET", "HSD": "HIS", "HSE": "HIS", "HSP": "HIS", "HID": "HIS", "HIE": "HIS", "HIP": "HIS",
            "CYX": "CYS", "CYM": "CYS", "ASH": "ASP", "GLH": "GLU", "LYN": "LYS"}
_RNA = {"A": "R-A", "G": "R-G", "C": "R-C", "U": "R-U"}
_NAME_ELEMENTS = {"H": 1, "C": 6, "N": 7, "O": 8, "P": 15, "S": 16}


def vocabulary_name(residue_name: str) -> str:
    """The vocabulary's name for a residue name: MSE -> MET, HSD -> HIS (and other force-field
    protonation names), RNA A/G/C/U -> R-A ... R-U."""
    name = residue_name.strip().upper()
    name = _RENAMED.get(name, name)
    return _RNA.get(name, name)


def residue_blocks(label: BlockLabel, atom_names: Sequence[str], atomic_numbers, positions, segment: int,
                   hydrogens: bool, unknown: str, source: str, is_water: Optional[bool] = None
                   ) -> Optional[BlockStructure]:
    """Blocks of one residue: a residue block for standard amino acids and nucleotides, otherwise per
    ``unknown`` (small_molecule | unk | skip | error). Waters become small-molecule blocks (callers
    drop them first unless asked). Hydrogens are dropped unless ``hydrogens``. None when nothing is left.
    """
    z = np.asarray(atomic_numbers, dtype=np.int64).copy()
    pos = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    names = [n.strip() for n in atom_names]
    where = f"{source}: residue {label.name} {label.chain}{label.number}{label.insertion}"
    name = vocabulary_name(label.name)
    if (z < 1).any() and (V.is_amino_acid(name) or V.is_nucleotide(name)):
        z = _elements_from_names(z, names)
    if (z < 1).any():
        raise InvalidStructureError(f"{where}: atom {names[int(np.argmin(z))]!r} has an unknown element (no element column, and "
                                    "not a standard residue whose atom names give it)")
    if not hydrogens:
        keep = z > 1
        z, pos, names = z[keep], pos[keep], [n for n, k in zip(names, keep) if k]
    if len(z) == 0:
        return None
    water = label.name.strip().upper() in WATER_NAMES if is_water is None else is_water
    if water or not (V.is_amino_acid(name) or V.is_nucleotide(name)):
        if not water and unknown == "skip":
            return None
        if not water and unknown == "error":
            raise InvalidStructureError(f"{where} is not a standard amino acid or nucleotide (unknown_residues="
                                        "'error'; use 'small_molecule' to read it as atoms)")
        if water or unknown == "small_molecule":
            blocks = small_molecule_blocks(z, pos, None, segment, True, source)
            blocks.labels = [label] * blocks.num_blocks
            blocks.atom_names = names
            return blocks
        block_type = V.block_index(V.UNK)
    else:
        block_type = V.residue_block(name)
    codes = [V.position_index(V.position_code(n, V.ELEMENTS[e - 1])) for n, e in zip(names, z)]
    return BlockStructure(pos, z, np.zeros(len(z), dtype=np.int64), codes, [block_type], [segment], [label], names,
                          source)


def _elements_from_names(z: np.ndarray, names: List[str]) -> np.ndarray:
    """Fill unknown elements (0) of a standard residue from its atom names (files without an element
    column, e.g. CHARMM's HT1): in amino acids and nucleotides the first letter after any leading
    digits is the element, one of H C N O S P."""
    for i, atom_name in enumerate(names):
        letters = atom_name.lstrip("0123456789")
        if z[i] < 1 and letters[:1].upper() in _NAME_ELEMENTS:
            z[i] = _NAME_ELEMENTS[letters[:1].upper()]
    return z


def from_ase_residues(atoms, segment: int = 0, hydrogens: bool = True, unknown_residues: str = "small_molecule"
                      ) -> BlockStructure:
    """Blocks of an ASE ``Atoms`` that carries residue annotations (``residuenames``,
    ``residuenumbers``, ``atomtypes``, as ASE's PDB reader sets them). ASE keeps no chain ids, so a
    residue is a run of consecutive atoms with the same residue number and name."""
    names, numbers, types = (atoms.arrays[k] for k in ("residuenames", "residuenumbers", "atomtypes"))
    source = atoms.get_chemical_formula() or "structure"
    parts: List[BlockStructure] = []
    start = 0
    for end in range(1, len(atoms) + 1):
        if end == len(atoms) or (numbers[end], names[end]) != (numbers[start], names[start]):
            label = BlockLabel("", int(numbers[start]), "", str(names[start]).strip(), False)
            block = residue_blocks(label, list(types[start:end]), atoms.numbers[start:end],
                                   atoms.positions[start:end], segment, hydrogens, unknown_residues, source)
            if block is not None:
                parts.append(block)
            start = end
    if not parts:
        raise InvalidStructureError(f"{source}: no atoms left to tokenise")
    return concatenate(parts, separate_segments=False, name=source)
