"""Small molecules as blocks: one heavy atom with its hydrogens per block (EPT's tokenisation).

Readers: any ASE ``Atoms`` (hydrogens join the nearest heavy atom within a bond length), RDKit
molecules, SDF and MOL2 files and SMILES strings (hydrogens join the heavy atom they are bonded
to). RDKit is imported only when an RDKit reader is used.

Policy: every heavy atom is one element block (``c``, ``n``, ...) with all its atoms at position
``sml``; a hydrogen bonded to no heavy atom (H2, a stray proton) becomes its own ``h`` block.
Hydrogens are kept by default (``hydrogens=False`` drops them, as the official converter's default;
the published QM9 and pretraining data keep them).
"""

from pathlib import Path
from typing import List, Optional, Sequence, Union

import numpy as np
from ase.data import covalent_radii

from ...errors import DatasetError, InvalidStructureError
from ...optional import require
from . import vocabulary as V
from .structure import BlockLabel, BlockStructure

#: an H belongs to a heavy atom closer than this factor times the sum of their covalent radii
BOND_TOLERANCE = 1.25


def small_molecule_blocks(atomic_numbers, positions, bonds: Optional[Sequence] = None, segment: int = 0,
                          hydrogens: bool = True, name: str = "molecule") -> BlockStructure:
    """Tokenise one molecule: a block per heavy atom (in atom order) holding it and its hydrogens.

    Args:
        atomic_numbers: [N]. positions: [N, 3] Å.
        bonds: pairs of atom indices; without them each H joins the nearest heavy atom within
            ``BOND_TOLERANCE`` x the sum of covalent radii.
        segment: the segment of every block. hydrogens: keep hydrogens (False drops them).

    Example:
        >>> from ase.build import molecule
        >>> w = molecule("H2O")
        >>> s = small_molecule_blocks(w.numbers, w.positions)
        >>> s.num_blocks, s.block_of_atom.tolist(), V.BLOCKS[int(s.block_types[0])][0]
        (1, [0, 0, 0], 'o')
    """
    z = np.asarray(atomic_numbers, dtype=np.int64).reshape(-1)
    pos = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    if len(z) != len(pos):
        raise InvalidStructureError(f"{name}: {len(z)} atomic numbers for {len(pos)} positions")
    owner = _hydrogen_owners(z, pos, bonds)
    keep = np.ones(len(z), dtype=bool) if hydrogens else z > 1
    centres = [i for i in range(len(z)) if keep[i] and owner[i] == i]  # heavy atoms and lone hydrogens
    block_of_centre = {c: b for b, c in enumerate(centres)}
    atoms = [i for i in range(len(z)) if keep[i]]
    return BlockStructure(
        positions=pos[atoms], atomic_numbers=z[atoms],
        block_of_atom=np.array([block_of_centre[int(owner[i])] for i in atoms], dtype=np.int64),
        position_codes=np.full(len(atoms), V.position_index(V.POS_SMALL_MOLECULE)),
        block_types=np.array([V.element_block(int(z[c])) for c in centres], dtype=np.int64),
        segments=np.full(len(centres), int(segment)), labels=[BlockLabel(name=V.ELEMENTS[z[c] - 1]) for c in centres],
        atom_names=[V.ELEMENTS[z[i] - 1] for i in atoms], name=name)


def _hydrogen_owners(z: np.ndarray, pos: np.ndarray, bonds: Optional[Sequence]) -> np.ndarray:
    """[N] the atom whose block each atom joins: itself for heavy atoms, its heavy partner for H."""
    owner = np.arange(len(z))
    heavy = np.nonzero(z > 1)[0]
    if bonds is not None:
        for a, b in bonds:
            for h, x in ((a, b), (b, a)):
                if z[h] == 1 and z[x] > 1 and owner[h] == h:  # the first heavy partner of a (rare) bridging H
                    owner[h] = x
        return owner
    if len(heavy) == 0:
        return owner
    for h in np.nonzero(z == 1)[0]:
        d = np.linalg.norm(pos[heavy] - pos[h], axis=1)
        j = int(np.argmin(d))
        if d[j] < BOND_TOLERANCE * (covalent_radii[1] + covalent_radii[z[heavy[j]]]):
            owner[h] = heavy[j]
    return owner


def from_ase(atoms, segment: int = 0, hydrogens: bool = True, unknown_residues: str = "small_molecule"
             ) -> BlockStructure:
    """Blocks of any ASE ``Atoms``: residue blocks when it carries residue annotations (ASE's PDB
    reader sets ``residuenames``, ``residuenumbers``, ``atomtypes``; see
    :func:`~.residues.from_ase_residues`), otherwise a molecule whose hydrogens join the nearest heavy
    atom within bonding distance. Periodicity is ignored (EPT has no periodic images)."""
    if all(k in atoms.arrays for k in ("residuenames", "residuenumbers", "atomtypes")):
        from .residues import from_ase_residues

        return from_ase_residues(atoms, segment, hydrogens, unknown_residues)
    return small_molecule_blocks(atoms.numbers, atoms.positions, None, segment, hydrogens,
                                 atoms.get_chemical_formula() or "molecule")


def _rdkit():
    return require("rdkit.Chem", "reading SDF/MOL2/SMILES")


def from_rdkit(mol, conformer: int = 0, segment: int = 0, hydrogens: bool = True,
               name: Optional[str] = None) -> BlockStructure:
    """Blocks of an RDKit molecule with 3D coordinates (conformer ``conformer``)."""
    if mol is None:
        raise InvalidStructureError(f"{name or 'molecule'}: RDKit could not read the molecule")
    name = name or (mol.GetProp("_Name") if mol.HasProp("_Name") and mol.GetProp("_Name") else "molecule")
    if mol.GetNumConformers() <= conformer:
        raise InvalidStructureError(f"{name}: no 3D conformer {conformer} (the molecule has "
                                    f"{mol.GetNumConformers()}); embed one first, e.g. with from_smiles")
    pos = mol.GetConformer(conformer).GetPositions()
    z = [a.GetAtomicNum() for a in mol.GetAtoms()]
    if any(n < 1 for n in z):
        raise InvalidStructureError(f"{name}: dummy atoms (atomic number 0) cannot be tokenised")
    bonds = [(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()]
    return small_molecule_blocks(z, pos, bonds, segment, hydrogens, name)


def read_sdf(path: Union[str, Path], segment: int = 0, hydrogens: bool = True,
             sanitize: bool = True) -> List[BlockStructure]:
    """Every molecule of an SDF file (hydrogens as written in the file are kept)."""
    Chem = _rdkit()
    path = _existing(path)
    supplier = Chem.SDMolSupplier(str(path), removeHs=False, sanitize=sanitize)
    out = []
    for i, mol in enumerate(supplier):
        if mol is None:
            raise InvalidStructureError(f"{path}: molecule {i} could not be parsed by RDKit (malformed or "
                                        "unsanitisable; try sanitize=False)")
        out.append(from_rdkit(mol, segment=segment, hydrogens=hydrogens, name=f"{path.name}[{i}]"))
    if not out:
        raise InvalidStructureError(f"{path}: no molecules in the SDF file")
    return out


def read_mol2(path: Union[str, Path], segment: int = 0, hydrogens: bool = True,
              sanitize: bool = True) -> BlockStructure:
    """The molecule of a MOL2 file."""
    Chem = _rdkit()
    path = _existing(path)
    mol = Chem.MolFromMol2File(str(path), removeHs=False, sanitize=sanitize)
    if mol is None:
        raise InvalidStructureError(f"{path}: RDKit could not parse the MOL2 file (malformed or unsanitisable; "
                                    "try sanitize=False)")
    return from_rdkit(mol, segment=segment, hydrogens=hydrogens, name=path.name)


def from_smiles(smiles: str, seed: int = 0, segment: int = 0, hydrogens: bool = True) -> BlockStructure:
    """A 3D molecule from SMILES: hydrogens added, one ETKDG conformer (``seed``), MMFF-relaxed when
    MMFF has parameters for it."""
    Chem = _rdkit()
    from rdkit.Chem import AllChem

    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise InvalidStructureError(f"invalid SMILES {smiles!r}")
    mol = Chem.AddHs(mol)
    params = AllChem.ETKDGv3()
    params.randomSeed = int(seed)
    if AllChem.EmbedMolecule(mol, params) != 0:
        raise InvalidStructureError(f"RDKit could not embed {smiles!r} in 3D")
    if AllChem.MMFFHasAllMoleculeParams(mol):
        AllChem.MMFFOptimizeMolecule(mol)
    return from_rdkit(mol, segment=segment, hydrogens=hydrogens, name=smiles)


def _existing(path: Union[str, Path]) -> Path:
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"structure file not found: {path}")
    return path
