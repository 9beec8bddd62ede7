"""Proteins (PDB, mmCIF) as blocks through gemmi (the optional ``bio`` extra, imported lazily).

Policy, each a keyword of :func:`read_protein`:

* **models**: the first model only (``model=0``).
* **chains**: all, in file order (``chains=[...]`` keeps those ids; an absent id is an error).
  ``segment_by="none"`` puts every block in segment 0 (EPT's protein data), ``"chain"`` gives each
  chain its own segment in file order.
* **alternate locations**: the first conformer of every atom is kept (gemmi's
  ``remove_alternative_conformations``), the others dropped.
* **hydrogens** (and deuterium): dropped by default, as the official converter does ("not all data
  include them"); ``hydrogens=True`` keeps them in their residue's block.
* **waters**: dropped by default; ``waters=True`` keeps each as a small-molecule ``o`` block.
* **insertion codes**: every (residue number, insertion code) is its own block; the label keeps both.
* **residues**: the 20 standard amino acids (and MSE, read as MET as in the official code, and
  force-field protonation names such as HSD/HIE/CYX, read as their residue) are
  residue blocks, their atoms coded by name (CA -> ``A``); nucleotides are nucleotide blocks.
  Anything else (ligands, ions, modified residues) follows ``unknown_residues``:
  ``"small_molecule"`` (default: one block per heavy atom with its hydrogens, position ``sml``),
  ``"unk"`` (the official code: one UNK block), ``"skip"``, or ``"error"``.
* **elements**: from the file's element column; where it is missing or unreadable (MD files such as
  CHARMM's), atoms of standard residues take the first letter of their name (H C N O S P); an
  unknown element anywhere else is an error.
* **limits**: more than ``max_atoms`` atoms (after filtering) is an :class:`InvalidStructureError`.

The official converter also trims trailing chain residues without a CA; we keep them (they are
real atoms of the file), which only matters for files with solvent-like junk after a chain.
"""

from pathlib import Path
from typing import List, Optional, Sequence, Union

from ...errors import ConfigError, DatasetError, InvalidStructureError
from ...optional import require
from . import vocabulary as V
from .residues import UNKNOWN_RESIDUE_POLICIES, residue_blocks
from .structure import BlockLabel, BlockStructure, concatenate


def gemmi_module():
    """gemmi, or a :class:`DatasetError` naming the extra that installs it."""
    return require("gemmi", "reading PDB/mmCIF files")


def read_protein(path: Union[str, Path], chains: Optional[Sequence[str]] = None, segment_by: str = "none",
                 hydrogens: bool = False, waters: bool = False, unknown_residues: str = "small_molecule",
                 model: int = 0, max_atoms: Optional[int] = None) -> BlockStructure:
    """Read a PDB or mmCIF file (optionally gzipped) into residue blocks; see the module for the policy.

    Raises:
        DatasetError: a missing file, gemmi missing, or a requested chain absent.
        InvalidStructureError: a file gemmi cannot parse or without atoms, an unknown residue under
            ``unknown_residues="error"``, atoms of unknown element, or more than ``max_atoms`` atoms.
    """
    if unknown_residues not in UNKNOWN_RESIDUE_POLICIES:
        raise ConfigError(f"unknown_residues must be one of {UNKNOWN_RESIDUE_POLICIES}, got {unknown_residues!r}")
    if segment_by not in ("none", "chain"):
        raise ConfigError(f"segment_by must be 'none' or 'chain', got {segment_by!r}")
    path = Path(path)
    st = open_structure(path, hydrogens, waters)
    if len(st) <= model:
        raise InvalidStructureError(f"{path.name}: no model {model} (the file has {len(st)} models; is it empty?)")
    return tokenise_model(st[model], path.name, chains, segment_by, hydrogens, unknown_residues, max_atoms)


def open_structure(path: Union[str, Path], hydrogens: bool = False, waters: bool = False):
    """The gemmi ``Structure`` of a PDB/mmCIF file with the reading policy's filters applied (first
    alternate location; hydrogens and waters removed unless asked), every model kept.

    Raises:
        DatasetError: a missing file or gemmi missing. InvalidStructureError: gemmi cannot parse it.
    """
    gemmi = gemmi_module()
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"structure file not found: {path}")
    try:
        st = gemmi.read_structure(str(path))
    except (RuntimeError, ValueError) as err:
        raise InvalidStructureError(f"{path.name}: not a readable PDB/mmCIF file ({err})") from None
    st.remove_alternative_conformations()
    if not hydrogens:
        st.remove_hydrogens()
    if not waters:
        st.remove_waters()
    return st


def tokenise_model(model, name: str, chains=None, segment_by: str = "none", hydrogens: bool = False,
                   unknown: str = "small_molecule", max_atoms: Optional[int] = None) -> BlockStructure:
    """One gemmi model (from :func:`open_structure`) as blocks, by the policy of :func:`read_protein`;
    each block's label names its residue."""
    present = [chain.name for chain in model]
    if chains is not None:
        missing = [c for c in chains if c not in present]
        if missing:
            raise DatasetError(f"{name}: chain(s) {missing} not in the file; it has {present}")
    total = sum(len(residue) for chain in model for residue in chain)
    if max_atoms is not None and total > max_atoms:
        raise InvalidStructureError(f"{name}: {total:,} atoms, above the limit of {max_atoms:,} "
                                    "(select chains, crop a pocket, or raise max_atoms)")
    parts: List[BlockStructure] = []
    for chain_number, chain in enumerate(model):
        if chains is not None and chain.name not in chains:
            continue
        segment = chain_number if segment_by == "chain" else 0
        for residue in chain:
            block = _residue_blocks(residue, chain.name, segment, hydrogens, unknown, name)
            if block is not None:
                parts.append(block)
    if not parts:
        raise InvalidStructureError(f"{name}: no atoms left after the reading policy (first model, "
                                    f"hydrogens={hydrogens}, waters dropped unless asked)")
    out = concatenate(parts, separate_segments=False, name=name)
    return out


def _residue_blocks(residue, chain: str, segment: int, hydrogens: bool, unknown: str,
                    file_name: str) -> Optional[BlockStructure]:
    atoms = list(residue)
    label = BlockLabel(chain, int(residue.seqid.num), residue.seqid.icode.strip(), residue.name,
                       residue.het_flag == "H")
    return residue_blocks(label, [a.name for a in atoms], [a.element.atomic_number for a in atoms],
                          [[a.pos.x, a.pos.y, a.pos.z] for a in atoms], segment, hydrogens, unknown, file_name,
                          is_water=residue.is_water())


def to_gemmi(structure: BlockStructure):
    """A gemmi ``Structure`` (one model) from the blocks' labels and atom names: consecutive blocks
    with the same label form one residue, so a ligand split into atom blocks is one residue again."""
    gemmi = gemmi_module()
    residues = []  # (label, [atom indices]) in block order
    for b in range(structure.num_blocks):
        label = structure.labels[b]
        if not residues or residues[-1][0] != label:
            residues.append((label, []))
        residues[-1][1].extend(structure.atoms_of_block(b).tolist())
    model, chains = gemmi.Model("1"), {}
    for label, atoms in residues:
        residue = gemmi.Residue()
        residue.name = label.name or V.BLOCKS[int(structure.block_types[structure.block_of_atom[atoms[0]]])][1]
        residue.seqid = gemmi.SeqId(int(label.number), label.insertion or " ")
        residue.het_flag = "H" if label.hetero else "A"
        for a in atoms:
            atom = gemmi.Atom()
            atom.name = structure.atom_names[a] or V.ELEMENTS[structure.atomic_numbers[a] - 1]
            atom.element = gemmi.Element(int(structure.atomic_numbers[a]))
            atom.pos = gemmi.Position(*structure.positions[a])
            atom.occ = 1.0
            residue.add_atom(atom)
        chains.setdefault(label.chain or "A", []).append(residue)
    for name, chain_residues in chains.items():
        chain = gemmi.Chain(name)
        for residue in chain_residues:
            chain.add_residue(residue)
        model.add_chain(chain)
    st = gemmi.Structure()
    st.add_model(model)
    st.setup_entities()
    return st


def write_pdb(structure: BlockStructure, path: Union[str, Path]) -> Path:
    """Write ``structure`` as a PDB file (see :func:`to_gemmi`); returns the path."""
    path = Path(path)
    path.write_text(to_gemmi(structure).make_pdb_string())
    return path
