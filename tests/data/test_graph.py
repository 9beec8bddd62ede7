"""Graphs a model declares: radius (optionally capped per atom, with stable ties) and fully connected."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule

from equiformers.data import from_ase
from equiformers.data.graph import GraphSpec
from equiformers.errors import ConfigError, InvalidStructureError


def pairs(record):
    return sorted(map(tuple, record["edge_index"].T.tolist()))


def test_radius_graph_equals_the_cutoff_shorthand():
    atoms = molecule("CH3CH2OH")
    assert pairs(GraphSpec("radius", cutoff=2.0).build(from_ase(atoms))) == pairs(from_ase(atoms, 2.0))


def test_max_neighbors_keeps_the_nearest_and_breaks_ties_stably():
    # a central atom with six neighbours: four at 1.0 Å (a tie) and two at 1.5 Å
    positions = [[0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1.5], [0, 0, -1.5]]
    record = from_ase(Atoms("C" + "H" * 6, positions=positions))
    full = GraphSpec("radius", cutoff=1.6).build(record)
    capped = GraphSpec("radius", cutoff=1.6, max_neighbors=3).build(record)
    incoming = capped["edge_index"][0][capped["edge_index"][1] == 0].tolist()
    first_three = [s for s in full["edge_index"][0][full["edge_index"][1] == 0].tolist() if s in (1, 2, 3, 4)][:3]
    assert incoming == first_three  # the nearest, ties in neighbour-list order
    again = GraphSpec("radius", cutoff=1.6, max_neighbors=3).build(record)
    assert torch.equal(again["edge_index"], capped["edge_index"])
    counts = np.bincount(capped["edge_index"][1].numpy(), minlength=7)
    assert counts.max() <= 3


def test_max_neighbors_in_a_periodic_cell():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    capped = GraphSpec("radius", cutoff=4.0, max_neighbors=12).build(from_ase(atoms))
    counts = np.bincount(capped["edge_index"][1].numpy())
    assert (counts == 12).all()  # the 12 nearest neighbours of fcc, none of the 6 second-shell ones
    vec = capped["pos"][capped["edge_index"][0]] - capped["pos"][capped["edge_index"][1]] + \
        capped["edge_cell_shift"] @ capped["cell"][0]
    assert torch.allclose(vec.norm(dim=1), torch.full((len(vec),), 3.6 / 2 ** 0.5, dtype=torch.float64))


def test_fully_connected_graph():
    record = GraphSpec("fully_connected").build(from_ase(molecule("H2O")))
    assert pairs(record) == [(i, j) for i in range(3) for j in range(3) if i != j]
    with pytest.raises(InvalidStructureError, match="molecules"):
        GraphSpec("fully_connected").build(from_ase(bulk("Cu")))


@pytest.mark.parametrize("kwargs, match", [({"kind": "knn"}, "graph kind"), ({"cutoff": 0.0}, "positive cutoff"),
                                           ({"cutoff": 5.0, "max_neighbors": 0}, "max_neighbors")])
def test_bad_graph_specs_are_clear_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        GraphSpec(**kwargs)
