"""Per-residue crystallographic B-factors of real protein structures: block-level labels for EPT.

A B-factor (Å², B = 8π²⟨u²⟩ of an atom's displacement u) measures how much an atom's position varies
over the crystal: thermal motion and static disorder, i.e. flexibility. Its absolute scale depends on
the resolution, the refinement and the crystal, so labels are standardised per chain, the usual
practice in flexibility prediction.

Policy (:func:`read_bfactors`):

* **input**: the corpus reading policy of :func:`.proteins.read_protein` (first model, first alternate
  location, hydrogens and waters dropped, ligands and ions as small-molecule blocks): exactly what
  EPT sees when the file is in a pretraining corpus;
* **label of a block**: for standard amino-acid residues, the mean B-factor of the residue's heavy
  atoms, z-scored over the labelled residues of its chain: (B - mean) / std (population std);
  NaN (no label) for ligands, ions, nucleotides and modified residues, and for every residue of a
  chain with fewer than ``min_chain_residues`` residues (10: too few to standardise, e.g. the
  9-residue peptides of MHC complexes) or with B-factors all equal (std below 1e-3 Å²);
* **refused** (:class:`InvalidStructureError` naming the reason): files with more than one model
  (NMR ensembles, MD frames: no crystallographic B), a header whose experimental method is not X-ray
  diffraction (EM, NMR, theoretical models; files without a method record are accepted, e.g.
  force-field-processed crystal structures), and structures left without any label (files whose
  B-factors are all 0 or constant: models, MD frames, processed sets such as PoseBusters').
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Union

import numpy as np

from ...errors import InvalidStructureError
from . import vocabulary as V
from .proteins import open_structure, tokenise_model
from .structure import BlockLabel, BlockStructure

MIN_CHAIN_RESIDUES = 10
CONSTANT_B = 1e-3  # Å²: a chain whose residue B-factors vary less than this carries no information
_FIRST_AMINO_ACID = V.FIRST_ELEMENT_BLOCK - len(V.AMINO_ACIDS)


@dataclass
class LabelledStructure:
    """A structure with its per-block labels.

    Attributes:
        structure: the blocks (Nb). bfactor: [Nb] float64 z-scores, NaN for unlabelled blocks.
        raw_bfactor: [Nb] float64 Å², the mean B-factor of each block's atoms (every block).
        method: the header's experimental method ("" when absent). resolution: Å (0 when absent).
    """

    structure: BlockStructure
    bfactor: np.ndarray
    raw_bfactor: np.ndarray
    method: str = ""
    resolution: float = 0.0

    @property
    def labelled(self) -> int:
        return int(np.isfinite(self.bfactor).sum())


def is_amino_acid_block(block_type: int) -> bool:
    """Whether a block-vocabulary index is one of the 20 standard amino acids."""
    return _FIRST_AMINO_ACID <= int(block_type) < V.FIRST_ELEMENT_BLOCK


def read_bfactors(path: Union[str, Path], min_chain_residues: int = MIN_CHAIN_RESIDUES) -> LabelledStructure:
    """A PDB/mmCIF file as blocks with per-residue B-factor labels (see the module for the policy).

    Raises:
        DatasetError: a missing file, or gemmi missing (the ``bio`` extra).
        InvalidStructureError: an unreadable file, or one refused by the policy (the reason is named).
    """
    path = Path(path)
    st = open_structure(path)
    if len(st) != 1:
        raise InvalidStructureError(f"{path.name}: {len(st)} models (an NMR ensemble or MD frames, or an empty "
                                    "file); B-factor labels need one crystal structure")
    method = st.info["_exptl.method"] if "_exptl.method" in st.info else ""
    if method and "X-RAY" not in method.upper():
        raise InvalidStructureError(f"{path.name}: experimental method {method!r}; B-factor labels are taken from "
                                    "X-ray crystal structures only")
    structure = tokenise_model(st[0], path.name)
    raw = _block_bfactors(st[0], structure)
    labels = chain_zscores(structure, raw, min_chain_residues)
    if not np.isfinite(labels).any():
        raise InvalidStructureError(f"{path.name}: no labels: every chain has fewer than {min_chain_residues} "
                                    "residues or B-factors all equal (a model, MD frame or processed file)")
    return LabelledStructure(structure, labels, raw, method, float(st.resolution))


def _block_bfactors(model, structure: BlockStructure) -> np.ndarray:
    """[Nb] mean B-factor (Å²) of each block's residue, matched through the block labels."""
    by_label: Dict[BlockLabel, float] = {}
    for chain in model:
        for residue in chain:
            label = BlockLabel(chain.name, int(residue.seqid.num), residue.seqid.icode.strip(), residue.name,
                               residue.het_flag == "H")
            if len(residue) and label not in by_label:  # a repeated label (rare) keeps its first residue
                by_label[label] = float(np.mean([atom.b_iso for atom in residue]))
    return np.array([by_label.get(label, np.nan) for label in structure.labels], dtype=np.float64)


def chain_zscores(structure: BlockStructure, raw: np.ndarray, min_chain_residues: int = MIN_CHAIN_RESIDUES
                  ) -> np.ndarray:
    """[Nb] z-score of each amino-acid block's B-factor within its chain (NaN elsewhere; see the module).

    Example:
        >>> s = BlockStructure(np.zeros((3, 3)), [6, 6, 6], [0, 1, 2], [4, 4, 4], [5, 5, 5], [0, 0, 0],
        ...                    [BlockLabel("A", i) for i in range(3)])
        >>> chain_zscores(s, np.array([10.0, 20.0, 30.0]), min_chain_residues=3).round(3).tolist()
        [-1.225, 0.0, 1.225]
    """
    out = np.full(structure.num_blocks, np.nan)
    amino = np.array([is_amino_acid_block(t) for t in structure.block_types], dtype=bool) & np.isfinite(raw)
    chains = np.array([label.chain for label in structure.labels], dtype=object)
    for chain in dict.fromkeys(chains[amino].tolist()):
        members = np.nonzero(amino & (chains == chain))[0]
        values = raw[members]
        if len(members) >= min_chain_residues and values.std() >= CONSTANT_B:
            out[members] = (values - values.mean()) / values.std()
    return out


def chain_sequences(structure: BlockStructure, min_residues: int = MIN_CHAIN_RESIDUES) -> List[List[str]]:
    """The amino-acid sequence (three-letter names, block order) of every chain with at least
    ``min_residues`` residues: what :mod:`.bfactor_corpus` compares to group related proteins."""
    chains: Dict[str, List[str]] = {}
    for block_type, label in zip(structure.block_types, structure.labels):
        if is_amino_acid_block(block_type):
            chains.setdefault(label.chain, []).append(V.BLOCKS[int(block_type)][1])
    return [sequence for sequence in chains.values() if len(sequence) >= min_residues]
