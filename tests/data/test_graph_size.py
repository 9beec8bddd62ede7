"""The neighbour-list size is estimated before it is built, and oversized graphs are refused."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule

from equiformers.data import from_ase
from equiformers.data.graph import GraphSpec
from equiformers.data.graph_size import DEFAULT_MAX_EDGES, check_graph_size, estimate_edges, max_edges_limit
from equiformers.data.neighbors import neighbor_list
from equiformers.errors import InvalidStructureError

RNG = np.random.default_rng(0)
SYSTEMS = {
    "one atom, 1 Å cell, 30 Å cutoff": (np.zeros((1, 3)), 30.0, np.eye(3), [True] * 3),
    "bulk copper, 6 Å": (bulk("Cu", cubic=True).repeat(3).positions, 6.0, bulk("Cu", cubic=True).repeat(3).cell.array,
                         [True] * 3),
    "gas in a box": (RNG.random((1000, 3)) * 25, 5.0, np.eye(3) * 25, [True] * 3),
    "cluster, no cell": (RNG.random((2000, 3)) * 30, 5.0, np.zeros((3, 3)), [False] * 3),
    "slab": (RNG.random((400, 3)) * [15, 15, 8], 6.0, np.diag([15.0, 15.0, 30.0]), [True, True, False]),
}


@pytest.mark.parametrize("name", SYSTEMS)
def test_estimate_is_within_ten_percent_of_the_real_count(name):
    pos, cutoff, cell, pbc = SYSTEMS[name]
    real = neighbor_list(pos, cutoff, cell, pbc)[0].shape[1]
    assert abs(estimate_edges(pos, cutoff, cell, pbc) - real) <= 0.1 * real


def test_a_one_angstrom_cell_with_a_50_angstrom_cutoff_is_refused_before_building():
    atoms = Atoms(molecule("CH3CH2OH").numbers, positions=RNG.random((9, 3)), cell=np.eye(3), pbc=True)
    with pytest.raises(InvalidStructureError, match=r"would have about [\d,]+ edges .* GB .* above the limit"):
        GraphSpec("radius", cutoff=50.0).build(from_ase(atoms))


def test_the_limit_is_configurable(monkeypatch):
    water = from_ase(molecule("H2O"))
    with pytest.raises(InvalidStructureError, match="above the limit of 2"):
        GraphSpec("radius", cutoff=5.0).build(water, max_edges=2)
    assert GraphSpec("radius", cutoff=5.0).build(water, max_edges=6)["edge_index"].shape[1] == 6
    with pytest.raises(InvalidStructureError, match="fully connected graph of 3 atoms has 6 edges"):
        GraphSpec("fully_connected").build(water, max_edges=5)
    assert max_edges_limit() == DEFAULT_MAX_EDGES
    monkeypatch.setenv("EQUIFORMERS_MAX_EDGES", "3")
    with pytest.raises(InvalidStructureError, match="above the limit of 3"):
        GraphSpec("radius", cutoff=5.0).build(water)
    monkeypatch.setenv("EQUIFORMERS_MAX_EDGES", "0")  # no limit
    assert check_graph_size(np.zeros((1, 3)), 50.0, np.eye(3), [True] * 3) == 0
    monkeypatch.setenv("EQUIFORMERS_MAX_EDGES", "many")
    with pytest.raises(InvalidStructureError, match="EQUIFORMERS_MAX_EDGES must be a number"):
        max_edges_limit()


def test_a_flat_periodic_cell_is_a_clear_error():
    with pytest.raises(InvalidStructureError, match="zero volume"):
        estimate_edges(np.zeros((2, 3)), 5.0, np.diag([3.0, 3.0, 0.0]), [True] * 3)


def test_a_small_molecule_is_counted_exactly():
    ethanol = molecule("CH3CH2OH")
    real = neighbor_list(ethanol.positions, 4.0)[0].shape[1]
    assert estimate_edges(ethanol.positions, 4.0, np.zeros((3, 3)), [False] * 3) == real == 70
