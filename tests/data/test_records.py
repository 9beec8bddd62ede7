"""Atomic data: neighbour lists (molecules and periodic cells), batching, and bad input."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule
from ase.neighborlist import neighbor_list as ase_neighbor_list

from equiformers.data import collate, from_arrays, from_ase, keys as K, neighbor_list
from equiformers.errors import InvalidStructureError
from equiformers.models.geometry import edge_vectors


def _edge_set(edge_index, shifts):
    return {(int(s), int(t), *map(int, np.round(sh))) for (s, t), sh in zip(edge_index.T, shifts)}


def test_molecule_neighbor_list_matches_brute_force():
    atoms = molecule("CH3CH2OH")
    ei, shift = neighbor_list(atoms.positions, 2.0)
    d = np.linalg.norm(atoms.positions[:, None] - atoms.positions[None], axis=-1)
    expected = {(j, i) for i in range(len(atoms)) for j in range(len(atoms)) if i != j and d[i, j] < 2.0}
    assert {(int(s), int(t)) for s, t in ei.T} == expected
    assert not shift.any()


def test_periodic_neighbor_list_matches_ase():
    atoms = bulk("Cu", "fcc", a=3.6) * (2, 1, 1)
    atoms.rattle(0.05, seed=0)
    ei, shift = neighbor_list(atoms.positions, 4.0, atoms.cell.array, atoms.pbc)
    i, j, S = ase_neighbor_list("ijS", atoms, 4.0)
    assert _edge_set(ei, shift) == _edge_set(np.stack([j, i]), S)


def test_periodic_edge_vectors_have_the_right_lengths():
    atoms = bulk("Si", "diamond", a=5.43)
    data = collate([from_ase(atoms, 3.0)])
    lengths = edge_vectors(data).norm(dim=-1)
    assert data[K.EDGE_INDEX].shape[1] == 8  # 4 nearest neighbours per atom
    assert torch.allclose(lengths, torch.full_like(lengths, 5.43 * 3 ** 0.5 / 4), atol=1e-9)


def test_collate_offsets_edges_and_stacks_graph_fields():
    graphs = [from_ase(molecule("H2O"), 5.0, targets={"y": 1.0}), from_ase(molecule("CH4"), 5.0, targets={"y": 2.0})]
    batch = collate(graphs)
    assert batch[K.PTR].tolist() == [0, 3, 8]
    assert batch["y"].tolist() == [1.0, 2.0]
    assert batch[K.CELL].shape == (2, 3, 3)
    assert batch[K.EDGE_INDEX][:, graphs[0][K.EDGE_INDEX].shape[1]:].min() >= 3


def test_per_atom_and_graph_targets_batch():
    a = from_arrays(np.eye(3), [1, 6, 8], 5.0, targets={"charges": np.array([0.1, -0.2, 0.1]), "y": 1.5})
    b = from_arrays(np.eye(3)[:2], [1, 1], 5.0, targets={"charges": np.array([0.0, 0.0]), "y": -1.0})
    batch = collate([a, b])
    assert batch["charges"].shape == (5,) and batch["y"].tolist() == [1.5, -1.0]


@pytest.mark.parametrize("positions, numbers, message", [
    (np.zeros((0, 3)), [], "no atoms"),
    ([[0, 0, 0], [np.nan, 0, 0]], [1, 1], "NaN"),
    ([[0, 0, 0]], [0], "atomic numbers"),
    ([[0, 0, 0]], [1, 1], "1 positions"),
    ([[0, 0]], [1], r"shape \[N, 3\]"),
])
def test_bad_structures_are_clear_errors(positions, numbers, message):
    with pytest.raises(InvalidStructureError, match=message):
        from_arrays(np.asarray(positions, dtype=float), np.asarray(numbers, dtype=int), 5.0)


def test_degenerate_periodic_cell_is_a_clear_error():
    with pytest.raises(InvalidStructureError, match="non-degenerate cell"):
        from_arrays([[0, 0, 0]], [1], 5.0, cell=np.zeros((3, 3)), pbc=[True, True, True])


def test_isolated_atom_has_no_edges_and_model_runs():
    import equiformers

    data = collate([from_ase(Atoms("C", positions=[[0, 0, 0]]), 5.0)])
    assert data[K.EDGE_INDEX].shape == (2, 0)
    model = equiformers.build_model("equiformer-qm9", num_layers=1, channels=[8, 4], num_heads=2)
    assert torch.isfinite(model(data)["y"]).all()
