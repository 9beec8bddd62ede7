"""Registered keys of the atomic-data dictionary.

Atomic data travels through the library as a plain ``Dict[str, Tensor]`` (as in
NequIP): easy to batch, to move between devices and to script. This module is
the single place where the keys, their shapes and their units are defined.

Shapes use ``N`` for atoms, ``E`` for edges and ``B`` for graphs in a batch.
"""

from typing import Dict

POSITIONS = "pos"  #: [N, 3] float, Å
ATOMIC_NUMBERS = "atomic_numbers"  #: [N] int64
CELL = "cell"  #: [B, 3, 3] float, Å (rows are lattice vectors; zeros when not periodic)
PBC = "pbc"  #: [B, 3] bool
EDGE_INDEX = "edge_index"  #: [2, E] int64, (source, target); messages flow source -> target
EDGE_CELL_SHIFT = "edge_cell_shift"  #: [E, 3] float, integer multiples of the lattice vectors
BATCH = "batch"  #: [N] int64, graph index of each atom
NUM_ATOMS = "num_atoms"  #: [B] int64
PTR = "ptr"  #: [B + 1] int64, offsets of each graph's atoms

#: Fields with one row per atom (concatenated when batching).
NODE_FIELDS = {POSITIONS, ATOMIC_NUMBERS, BATCH}
#: Fields with one row per graph (stacked when batching).
GRAPH_FIELDS = {CELL, PBC, NUM_ATOMS}
#: Fields with one row per edge (concatenated when batching, indices offset).
EDGE_FIELDS = {EDGE_INDEX, EDGE_CELL_SHIFT}

_registered: Dict[str, str] = {}


def register_fields(*, node=(), graph=(), edge=()) -> None:
    """Declare extra target fields so batching knows how to combine them.

    Example:
        >>> register_fields(graph=["gap"])
        >>> field_kind("gap")
        'graph'
    """
    for names, kind, registry in ((node, "node", NODE_FIELDS), (graph, "graph", GRAPH_FIELDS),
                                  (edge, "edge", EDGE_FIELDS)):
        for name in names:
            known = _registered.get(name)
            if known is not None and known != kind:
                raise ValueError(f"field {name!r} is already registered as a {known} field")
            _registered[name] = kind
            registry.add(name)


def field_kind(name: str) -> str:
    """Return ``'node'``, ``'graph'`` or ``'edge'`` for a registered key."""
    if name in NODE_FIELDS:
        return "node"
    if name in GRAPH_FIELDS:
        return "graph"
    if name in EDGE_FIELDS:
        return "edge"
    raise KeyError(f"unregistered atomic-data field {name!r}; call register_fields() first")
