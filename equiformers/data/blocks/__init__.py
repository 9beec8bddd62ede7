"""Blocks: atoms grouped into residues (proteins) or heavy atoms with their hydrogens (small
molecules), EPT's unified representation.

* :mod:`.vocabulary`: the block (150, or the official 142), atom (121) and position (14) vocabularies.
* :mod:`.structure`: :class:`BlockStructure` (what readers return) and its atomic-data record.
* :mod:`.molecules`: ASE, RDKit, SDF, MOL2, SMILES. :mod:`.proteins`: PDB/mmCIF through gemmi.
* :mod:`.pocket`: residues near a ligand, and the pocket-ligand complex.
* :mod:`.tokenise`: blocks for records that have none (any ASE structure given to EPT).
* :mod:`.corpus`: pretraining corpora built from files (and QM9), with a size/coverage report;
  :mod:`.dataset`: the ``blocks`` dataset serving them.

Example:
    >>> from ase.build import molecule
    >>> from equiformers.data.blocks import from_ase
    >>> record = from_ase(molecule("CH3OH")).to_record()
    >>> record["block_index"].tolist(), record["num_blocks"].tolist()
    ([0, 1, 0, 1, 0, 0], [2])
"""

from .corpus import build_corpus, corpus_report, load_corpus, save_corpus
from .dataset import BlocksDataset
from .molecules import from_ase, from_rdkit, from_smiles, read_mol2, read_sdf, small_molecule_blocks
from .pocket import crop_pocket, pocket_blocks, pocket_complex
from .proteins import read_protein, write_pdb
from .structure import BlockLabel, BlockStructure, concatenate
from .tokenise import ensure_blocks
from .vocabulary import BlockVocabulary

__all__ = ["BlockLabel", "BlockStructure", "BlockVocabulary", "BlocksDataset", "build_corpus", "concatenate",
           "corpus_report", "load_corpus", "save_corpus", "crop_pocket", "ensure_blocks", "from_ase",
           "from_rdkit", "from_smiles", "pocket_blocks", "pocket_complex", "read_mol2", "read_protein", "read_sdf",
           "small_molecule_blocks", "write_pdb"]
