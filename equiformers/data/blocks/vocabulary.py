"""EPT's three vocabularies: blocks, atoms and atom positions within a block.

The orders follow the official EPT tokeniser (``data/format.py`` of jiaor17/EPT, paper Table 6), so
indices mean the same as in the published models:

* **Blocks** (150): 0-3 the specials ``#`` PAD, ``*`` MASK, ``?`` UNK, ``&`` GLB (global block);
  4-23 the 20 amino acids; 24-141 one-atom "element blocks" (lower-case symbol, H to Og);
  142-149 the nucleotides ``DA DG DC DT R-A R-G R-C R-U``. The released EPT configs size the block
  embedding for 142 rows, so nucleotide ids would overflow it: ``BlockVocabulary(142)`` is the
  compatibility mode for official checkpoints and refuses nucleotides.
* **Atoms** (121): 0-2 ``pad``, ``msk``, ``glb``; 3-120 the 118 elements (atomic number Z -> Z + 2).
* **Positions** (14): 0-2 ``pad``, ``msk``, ``glb``; 3-12 ``''`` (backbone), ``A``, ``B``, ``G``, ``D``,
  ``E``, ``Z``, ``H``, ``XT``, ``P``; 13 ``sml`` (every small-molecule atom).
"""

from typing import Dict, List, Tuple

from ase.data import chemical_symbols

from ...errors import ConfigError, InvalidStructureError

PAD, MASK, UNK, GLB = "#", "*", "?", "&"
SPECIAL_BLOCKS: List[Tuple[str, str]] = [(PAD, "PAD"), (MASK, "MASK"), (UNK, "UNK"), (GLB, "<G>")]
#: (one-letter, three-letter) in the official order
AMINO_ACIDS: List[Tuple[str, str]] = [
    ("G", "GLY"), ("A", "ALA"), ("V", "VAL"), ("L", "LEU"), ("I", "ILE"), ("F", "PHE"), ("W", "TRP"),
    ("Y", "TYR"), ("D", "ASP"), ("H", "HIS"), ("N", "ASN"), ("E", "GLU"), ("K", "LYS"), ("Q", "GLN"),
    ("M", "MET"), ("R", "ARG"), ("S", "SER"), ("T", "THR"), ("C", "CYS"), ("P", "PRO"),
]
ELEMENTS: List[str] = list(chemical_symbols[1:119])  # H .. Og, index = Z - 1
NUCLEOTIDES: List[Tuple[str, str]] = [("DA", "DA"), ("DG", "DG"), ("DC", "DC"), ("DT", "DT"),
                                      ("R-A", "R-A"), ("R-G", "R-G"), ("R-C", "R-C"), ("R-U", "R-U")]
#: the block table: (symbol, abbreviation) per row
BLOCKS: List[Tuple[str, str]] = (SPECIAL_BLOCKS + AMINO_ACIDS + [(e.lower(), e.upper()) for e in ELEMENTS]
                                 + NUCLEOTIDES)
ATOM_PAD, ATOM_MASK, ATOM_GLOBAL = "pad", "msk", "glb"
ATOMS: List[str] = [ATOM_PAD, ATOM_MASK, ATOM_GLOBAL] + [e.upper() for e in ELEMENTS]
POS_PAD, POS_MASK, POS_GLOBAL, POS_SMALL_MOLECULE = "pad", "msk", "glb", "sml"
POSITIONS: List[str] = [POS_PAD, POS_MASK, POS_GLOBAL, "", "A", "B", "G", "D", "E", "Z", "H", "XT", "P",
                        POS_SMALL_MOLECULE]

NUM_BLOCK_TYPES, NUM_ATOM_TYPES, NUM_POSITIONS = len(BLOCKS), len(ATOMS), len(POSITIONS)  # 150, 121, 14
OFFICIAL_NUM_BLOCK_TYPES = 142  # the rows of the released EPT configs' block embedding

_BLOCK_BY_SYMBOL: Dict[str, int] = {symbol: i for i, (symbol, _) in enumerate(BLOCKS)}
_BLOCK_BY_ABBREVIATION: Dict[str, int] = {abbreviation: i for i, (_, abbreviation) in enumerate(BLOCKS)}
_POSITION_INDEX: Dict[str, int] = {code: i for i, code in enumerate(POSITIONS)}
FIRST_ELEMENT_BLOCK = len(SPECIAL_BLOCKS) + len(AMINO_ACIDS)  # 24, the block of hydrogen
FIRST_NUCLEOTIDE_BLOCK = FIRST_ELEMENT_BLOCK + len(ELEMENTS)  # 142


def atom_index(atomic_number: int) -> int:
    """Atom-vocabulary index of element ``Z`` (``Z + 2``).

    Example:
        >>> atom_index(6), ATOMS[atom_index(6)]
        (8, 'C')
    """
    if not 1 <= int(atomic_number) <= len(ELEMENTS):
        raise InvalidStructureError(f"atomic number {atomic_number} is outside 1..{len(ELEMENTS)}")
    return int(atomic_number) + 2


def element_block(atomic_number: int) -> int:
    """Block index of the one-atom block of element ``Z`` (a small-molecule heavy atom with its hydrogens).

    Example:
        >>> element_block(8), BLOCKS[element_block(8)][0]
        (31, 'o')
    """
    atom_index(atomic_number)  # range check
    return FIRST_ELEMENT_BLOCK + int(atomic_number) - 1


def residue_block(name: str) -> int:
    """Block index of a residue name (``ALA``, ``DA``, ...), or UNK's index when it has none.

    Example:
        >>> residue_block("ALA"), residue_block("HOH") == block_index(UNK)
        (5, True)
    """
    index = _BLOCK_BY_ABBREVIATION.get(name.strip().upper())
    if index is None or index < len(SPECIAL_BLOCKS) or FIRST_ELEMENT_BLOCK <= index < FIRST_NUCLEOTIDE_BLOCK:
        return _BLOCK_BY_SYMBOL[UNK]  # residue names never match the specials or the element blocks
    return index


def block_index(symbol: str) -> int:
    """Block index of a block symbol (``&``, ``A``, ``c``, ``R-A``, ...); unknown symbols raise."""
    if symbol not in _BLOCK_BY_SYMBOL:
        raise InvalidStructureError(f"unknown block symbol {symbol!r}")
    return _BLOCK_BY_SYMBOL[symbol]


def is_amino_acid(name: str) -> bool:
    """Whether ``name`` is one of the 20 standard residue names."""
    return name.strip().upper() in {abbreviation for _, abbreviation in AMINO_ACIDS}


def is_nucleotide(name: str) -> bool:
    """Whether ``name`` is a nucleotide residue name of the vocabulary (``DA`` ... ``DT``, ``R-A`` ... ``R-U``)."""
    return name.strip().upper() in {abbreviation for _, abbreviation in NUCLEOTIDES}


def position_code(atom_name: str, element: str) -> str:
    """The position-in-block code of a residue atom, as the official tokeniser derives it: the atom
    name with leading characters of the element symbol stripped (``str.lstrip``, so ``HH11`` loses
    both H) and digits removed.

    Example:
        >>> [position_code(n, e) for n, e in [("CA", "C"), ("OG1", "O"), ("O", "O"), ("OXT", "O"), ("O1P", "O")]]
        ['A', 'G', '', 'XT', 'P']
    """
    stripped = atom_name.strip().lstrip(element.strip().upper())
    return "".join(c for c in stripped if not c.isdigit())


def position_index(code: str) -> int:
    """Position-vocabulary index of ``code``; codes outside the vocabulary get ``msk`` (as the official code).

    Example:
        >>> position_index("A"), position_index("sml"), position_index("QQ") == position_index("msk")
        (4, 13, True)
    """
    return _POSITION_INDEX.get(code, _POSITION_INDEX[POS_MASK])


class BlockVocabulary:
    """The block table a model embeds: its size and what it accepts.

    ``num_block_types`` is 150 (our default: the whole vocabulary) or 142 (the official configs'
    embedding size, to load their checkpoints; nucleotide blocks are then refused).

    Example:
        >>> BlockVocabulary(142).check([5, 31])
        >>> BlockVocabulary(142).check([142])
        Traceback (most recent call last):
        ...
        equiformers.errors.InvalidStructureError: block type 142 (DA) needs a block table of 150 rows; this model has 142 (the official EPT configs' size, which has no nucleotides)
    """

    def __init__(self, num_block_types: int = NUM_BLOCK_TYPES):
        if num_block_types not in (NUM_BLOCK_TYPES, OFFICIAL_NUM_BLOCK_TYPES):
            raise ConfigError(f"num_block_types must be {NUM_BLOCK_TYPES} (the full vocabulary) or "
                              f"{OFFICIAL_NUM_BLOCK_TYPES} (the official EPT configs), got {num_block_types}")
        self.num_block_types = int(num_block_types)

    def check(self, block_types) -> None:
        """Raise :class:`InvalidStructureError` if a block index does not fit this table."""
        bad = [int(b) for b in block_types if not 0 <= int(b) < self.num_block_types]
        if bad:
            name = BLOCKS[bad[0]][1] if 0 <= bad[0] < NUM_BLOCK_TYPES else "?"
            raise InvalidStructureError(
                f"block type {bad[0]} ({name}) needs a block table of {NUM_BLOCK_TYPES} rows; this model has "
                f"{self.num_block_types}" + (" (the official EPT configs' size, which has no nucleotides)"
                                             if self.num_block_types == OFFICIAL_NUM_BLOCK_TYPES else ""))
