"""Keys of the atomic-data dictionary and the field registry that describes them.

Atomic data travels through the library as a plain ``Dict[str, Tensor]`` (as in
NequIP): easy to batch, to move between devices and to script. This module is
the single place where the keys, their shapes and their units are defined.

Every key is a registered :class:`Field`: its *level* says what its batched
dimension counts (graphs, atoms, edges, blocks, block edges or chemical bonds), its *index space*
says whether its integer values index atoms or blocks of the same graph (and so
must be offset when graphs are batched). :func:`~equiformers.data.batching.collate`
and :func:`~equiformers.data.transforms.permute_atoms` read nothing else, so a new
kind of data needs one :func:`register_field` call, not edits to the batching code.

Shapes use ``N`` for atoms, ``E`` for edges, ``B`` for graphs, ``Nb`` for blocks
(residues, ligand fragments) and ``Eb`` for block edges. Graph-level fields have one
row per graph (``[1, ...]`` in a single record, ``[B, ...]`` in a batch).
"""

import difflib
from dataclasses import dataclass
from typing import Dict, Optional

from ..errors import ConfigError, DatasetError

# Structure and graph.
POSITIONS = "pos"  #: [N, 3] float, Å
ATOMIC_NUMBERS = "atomic_numbers"  #: [N] int64
ATOM_TYPE = "atom_type"  #: [N] int64, the embedding row of each atom (set by a type map when data is prepared)
CELL = "cell"  #: [B, 3, 3] float, Å (rows are lattice vectors; zeros when not periodic)
PBC = "pbc"  #: [B, 3] bool
EDGE_INDEX = "edge_index"  #: [2, E] int64, (source, target); messages flow source -> target
EDGE_CELL_SHIFT = "edge_cell_shift"  #: [E, 3] float, integer multiples of the lattice vectors
EDGE_TYPE = "edge_type"  #: [E] int64, kind of each atom pair (e.g. intra-/inter-block)
BATCH = "batch"  #: [N] int64, graph index of each atom (made by collate)
NUM_ATOMS = "num_atoms"  #: [B] int64
PTR = "ptr"  #: [B + 1] int64, offsets of each graph's atoms (made by collate)

# Targets and outputs.
ENERGY = "energy"  #: [B] float, eV
FORCES = "forces"  #: [N, 3] float, eV/Å
STRESS = "stress"  #: [B, 3, 3] float, eV/Å^3
Y = "y"  #: [B] float, no unit: the default output name of a graph-level regression
CHARGES = "charges"  #: [N] float, e (partial charge of each atom)
#: [Nb] float, z-score: a residue's crystallographic B-factor (mean over its heavy atoms), standardised
#: per chain, (B - mean) / std of the chain's residues; NaN for unlabelled blocks (see data/blocks/bfactors.py)
BFACTOR = "bfactor"

# Blocks (residues, ligand fragments) for models that work on them.
BLOCK_INDEX = "block_index"  #: [N] int64, block of each atom (offset by blocks when batching)
BLOCK_TYPE = "block_type"  #: [Nb] int64, vocabulary index of each block (residue or fragment kind)
ATOM_TOKEN = "atom_token"  #: [N] int64, vocabulary index of each atom within its block kind
POSITION_CODE = "position_code"  #: [N] int64, position of each atom within its block (e.g. CA, CB, ...)
SEGMENT = "segment"  #: [Nb] int64, segment (e.g. receptor 0, ligand 1) of each block; NOT offset
NUM_BLOCKS = "num_blocks"  #: [B] int64
BLOCK_BATCH = "block_batch"  #: [Nb] int64, graph index of each block (made by collate)
BLOCK_EDGE_INDEX = "block_edge_index"  #: [2, Eb] int64, (source, target) blocks
BLOCK_EDGE_TYPE = "block_edge_type"  #: [Eb] int64, kind of each block edge

# Chemical bonds (molecules), each stored once with source < target (see :mod:`.bonds`).
BOND_INDEX = "bond_index"  #: [2, Nbond] int64, the two atoms of each bond
BOND_TYPE = "bond_type"  #: [Nbond] int64, 0 single, 1 double, 2 triple, 3 aromatic

LEVELS = ("graph", "atom", "edge", "block", "block_edge", "bond")
DTYPE_KINDS = ("float", "int", "bool")
INDEX_SPACES = (None, "atoms", "blocks")


@dataclass(frozen=True)
class Field:
    """What one key of the atomic-data dict holds.

    Attributes:
        name: the key.
        level: what the batched dimension counts: ``graph`` (one row per graph), ``atom`` (N),
            ``edge`` (E), ``block`` (Nb) or ``block_edge`` (Eb).
        dtype_kind: ``float``, ``int`` or ``bool``.
        index_space: ``atoms`` or ``blocks`` for integer fields whose values index atoms or
            blocks of the same graph (offset when batching); ``None`` otherwise.
        unit: physical unit ("" when none).
        description: one line for humans.
        cat_dim: the dimension that counts ``level`` (1 for ``[2, E]`` index pairs, else 0).

    Example:
        >>> field("edge_index").level, field("edge_index").cat_dim, field("edge_index").index_space
        ('edge', 1, 'atoms')
    """

    name: str
    level: str
    dtype_kind: str
    index_space: Optional[str] = None
    unit: str = ""
    description: str = ""
    cat_dim: int = 0

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"a field name must be a non-empty string, got {self.name!r}")
        if self.level not in LEVELS:
            raise ConfigError(f"field {self.name!r}: level must be one of {LEVELS}, got {self.level!r}")
        if self.dtype_kind not in DTYPE_KINDS:
            raise ConfigError(f"field {self.name!r}: dtype_kind must be one of {DTYPE_KINDS}, got {self.dtype_kind!r}")
        if self.index_space not in INDEX_SPACES:
            raise ConfigError(f"field {self.name!r}: index_space must be one of {INDEX_SPACES}, "
                              f"got {self.index_space!r}")
        if self.index_space is not None and self.dtype_kind != "int":
            raise ConfigError(f"field {self.name!r}: an index field (index_space {self.index_space!r}) must be int")
        if self.cat_dim not in (0, 1):
            raise ConfigError(f"field {self.name!r}: cat_dim must be 0 or 1, got {self.cat_dim!r}")


_REGISTRY: Dict[str, Field] = {}


def register_field(name: str, level: str, dtype_kind: str, index_space: Optional[str] = None, unit: str = "",
                   description: str = "", cat_dim: int = 0, overwrite: bool = False) -> Field:
    """Register the key ``name`` (see :class:`Field` for the arguments) and return its field.

    Registering the same definition again is a no-op, so modules may register their keys at
    import time; a different definition under a taken name raises :class:`ConfigError`
    unless ``overwrite``.

    Example:
        >>> register_field("doctest_dipole", "graph", "float", unit="D").unit
        'D'
        >>> register_field("doctest_dipole", "graph", "float", unit="D") is field("doctest_dipole")
        True
    """
    new = Field(name, level, dtype_kind, index_space, unit, description, cat_dim)
    old = _REGISTRY.get(name)
    if old is not None and old != new and not overwrite:
        raise ConfigError(f"field {name!r} is already registered as {old}; "
                          f"pass overwrite=True to replace it by {new}")
    if old is None or old != new:
        _REGISTRY[name] = new
    return _REGISTRY[name]


def field(name: str) -> Field:
    """The registered field of key ``name``; an unknown key raises :class:`DatasetError`.

    Example:
        >>> field("forces").unit
        'eV/Å'
    """
    found = _REGISTRY.get(name)
    if found is None:
        raise DatasetError(unknown_field_message(name))
    return found


def unknown_field_message(name: str) -> str:
    """One line naming the unknown key, the closest registered one, and the fix."""
    close = difflib.get_close_matches(str(name), list(_REGISTRY), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return (f"unknown data key {name!r}{hint}; register it with "
            "equiformers.data.keys.register_field(name, level, dtype_kind, ...)")


def registered_fields() -> Dict[str, Field]:
    """A copy of the registry: ``{key: Field}``."""
    return dict(_REGISTRY)


def unit_of(name: str) -> str:
    """The unit of key ``name`` ("" when it has none).

    Example:
        >>> unit_of("stress"), unit_of("y")
        ('eV/Å^3', '')
    """
    return field(name).unit


_BUILTIN = (
    # name, level, dtype_kind, index_space, unit, description[, cat_dim]
    (POSITIONS, "atom", "float", None, "Å", "Cartesian position of each atom"),
    (ATOMIC_NUMBERS, "atom", "int", None, "", "atomic number of each atom"),
    (ATOM_TYPE, "atom", "int", None, "", "embedding row of each atom, set by a type map"),
    (CELL, "graph", "float", None, "Å", "lattice vectors as rows, zeros when not periodic"),
    (PBC, "graph", "bool", None, "", "periodicity along each lattice vector"),
    (EDGE_INDEX, "edge", "int", "atoms", "", "(source, target) atoms of each edge", 1),
    (EDGE_CELL_SHIFT, "edge", "float", None, "", "lattice-vector multiples added to the source atom"),
    (EDGE_TYPE, "edge", "int", None, "", "kind of each atom pair"),
    (BATCH, "atom", "int", None, "", "graph index of each atom, made by collate"),
    (NUM_ATOMS, "graph", "int", None, "", "number of atoms of each graph"),
    (PTR, "graph", "int", None, "", "offsets of each graph's atoms (B + 1 entries), made by collate"),
    (ENERGY, "graph", "float", None, "eV", "total energy"),
    (FORCES, "atom", "float", None, "eV/Å", "force on each atom"),
    (STRESS, "graph", "float", None, "eV/Å^3", "stress tensor"),
    (Y, "graph", "float", None, "", "graph-level regression target, the default output name"),
    (CHARGES, "atom", "float", None, "e", "partial charge of each atom"),
    (BFACTOR, "block", "float", None, "σ", "residue B-factor z-scored per chain (NaN: unlabelled block)"),
    (BLOCK_INDEX, "atom", "int", "blocks", "", "block of each atom"),
    (BLOCK_TYPE, "block", "int", None, "", "vocabulary index of each block"),
    (ATOM_TOKEN, "atom", "int", None, "", "vocabulary index of each atom within its block kind"),
    (POSITION_CODE, "atom", "int", None, "", "position of each atom within its block"),
    (SEGMENT, "block", "int", None, "", "segment of each block (receptor, ligand, ...), not offset"),
    (NUM_BLOCKS, "graph", "int", None, "", "number of blocks of each graph"),
    (BLOCK_BATCH, "block", "int", None, "", "graph index of each block, made by collate"),
    (BLOCK_EDGE_INDEX, "block_edge", "int", "blocks", "", "(source, target) blocks of each block edge", 1),
    (BLOCK_EDGE_TYPE, "block_edge", "int", None, "", "kind of each block edge"),
    (BOND_INDEX, "bond", "int", "atoms", "", "the two atoms of each chemical bond (first < second)", 1),
    (BOND_TYPE, "bond", "int", None, "", "bond order: 0 single, 1 double, 2 triple, 3 aromatic"),
)
for _spec in _BUILTIN:
    register_field(*_spec)
del _spec
