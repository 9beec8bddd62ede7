"""Keys of the atomic-data dictionary.

Atomic data travels through the library as a plain ``Dict[str, Tensor]`` (as in
NequIP): easy to batch, to move between devices and to script. This module is
the single place where the keys, their shapes and their units are defined.

Shapes use ``N`` for atoms, ``E`` for edges and ``B`` for graphs in a batch.
"""

POSITIONS = "pos"  #: [N, 3] float, Å
ATOMIC_NUMBERS = "atomic_numbers"  #: [N] int64
CELL = "cell"  #: [B, 3, 3] float, Å (rows are lattice vectors; zeros when not periodic)
PBC = "pbc"  #: [B, 3] bool
EDGE_INDEX = "edge_index"  #: [2, E] int64, (source, target); messages flow source -> target
EDGE_CELL_SHIFT = "edge_cell_shift"  #: [E, 3] float, integer multiples of the lattice vectors
BATCH = "batch"  #: [N] int64, graph index of each atom
NUM_ATOMS = "num_atoms"  #: [B] int64
PTR = "ptr"  #: [B + 1] int64, offsets of each graph's atoms
