"""Chemical bonds: QM9 bond orders from the SMILES, the bonded graph, edge types, rotation augmentation."""

import numpy as np
import pytest
import torch
from ase.build import molecule

from equiformers.data import collate, from_ase, keys as K
from equiformers.data.bonds import NO_BOND, edge_bond_types, perceive_bonds
from equiformers.data.graph import GraphSpec
from equiformers.data.qm9 import QM9Dataset, load_qm9_arrays, split_indices
from equiformers.data.transforms import random_rotation
from equiformers.errors import ConfigError, DatasetError

VALENCE = {1: 1, 6: 4, 7: 3, 8: 2, 9: 1}
ORDER = torch.tensor([1.0, 2.0, 3.0, 1.5])  # single, double, triple, aromatic


def test_qm9_bonds_from_the_smiles_give_every_atom_its_valence():
    """Neutral non-aromatic QM9 molecules: the bond orders around each atom add up to its usual valence
    (zwitterions with charged N/O, rare in QM9, may not); aromatic ones: every atom is bonded."""
    data = QM9Dataset(["gap"], split="test", subset=300, bonds=True)
    matching, plain, kinds = 0, 0, set()
    for i in range(len(data)):
        record = data[i]
        z, index, kind = record[K.ATOMIC_NUMBERS], record[K.BOND_INDEX], record[K.BOND_TYPE]
        assert bool((index[0] < index[1]).all())
        kinds.update(kind.tolist())
        valence = torch.zeros(len(z)).index_add_(0, index[0], ORDER[kind]).index_add_(0, index[1], ORDER[kind])
        assert bool((valence > 0).all())
        if 3 in kind.tolist():
            continue
        plain += 1
        matching += torch.equal(valence, torch.tensor([VALENCE[int(a)] for a in z], dtype=valence.dtype))
    assert matching >= 0.98 * plain and plain > 200 and kinds == {0, 1, 2, 3}


def test_methane_and_the_bonded_graph():
    record = QM9Dataset(["gap"], split="all", subset=1, bonds=True)[0]  # QM9 molecule 1, CH4
    assert record[K.BOND_TYPE].tolist() == [0, 0, 0, 0] and record[K.BOND_INDEX][0].tolist() == [0, 0, 0, 0]
    graph = GraphSpec("bonded", edge_types="bonds").build(record)
    assert graph[K.EDGE_INDEX].shape == (2, 8) and graph[K.EDGE_TYPE].tolist() == [0] * 8


def test_edge_types_of_a_fully_connected_graph_mark_non_bonded_pairs():
    co2 = from_ase(molecule("CO2"))
    graph = GraphSpec("fully_connected", edge_types="bonds").build(co2)
    types = dict(zip(map(tuple, graph[K.EDGE_INDEX].T.tolist()), graph[K.EDGE_TYPE].tolist()))
    assert types == {(0, 1): 1, (1, 0): 1, (0, 2): 1, (2, 0): 1, (1, 2): NO_BOND, (2, 1): NO_BOND}


def test_bonds_batch_with_atom_offsets():
    a, b = (GraphSpec("bonded").build(from_ase(molecule(n))) for n in ("H2O", "NH3"))
    batch = collate([a, b])
    assert batch[K.BOND_INDEX].shape == (2, 5) and int(batch[K.BOND_INDEX][:, 2:].min()) == 3


def test_edge_bond_types_without_bonds():
    assert edge_bond_types(torch.tensor([[0], [1]]), torch.zeros(2, 0, dtype=torch.long),
                           torch.zeros(0, dtype=torch.long), 2).tolist() == [NO_BOND]


def test_perception_from_the_geometry_matches_the_smiles_template():
    atoms = molecule("C6H6")
    from_geometry = perceive_bonds(atoms.numbers, atoms.positions)
    from_smiles = perceive_bonds(atoms.numbers, atoms.positions, smiles="c1ccccc1")
    assert torch.equal(from_geometry[0], from_smiles[0]) and torch.equal(from_geometry[1], from_smiles[1])
    assert sorted(from_smiles[1].tolist()) == [0] * 6 + [3] * 6


def test_nvidia_split():
    n = len(load_qm9_arrays()["index"])
    splits = split_indices(n, scheme="nvidia")
    assert {k: len(v) for k, v in splits.items()} == {"train": 100_000, "val": 17_748, "test": 13_083}
    assert len(np.unique(np.concatenate(list(splits.values())))) == n
    expected = torch.randperm(n, generator=torch.Generator().manual_seed(0)).numpy()  # random_split's draw
    assert np.array_equal(splits["test"], expected[-13_083:])
    assert not np.array_equal(splits["train"][:100], split_indices(n)["train"][:100])
    with pytest.raises(DatasetError, match="unknown QM9 split scheme"):
        split_indices(n, scheme="dgl")


def test_split_scheme_is_checked_in_the_data_config():
    from equiformers.training.config import DataConfig

    with pytest.raises(ConfigError, match="split_scheme must be"):
        DataConfig(split_scheme="fuchs").validate()
    with pytest.raises(ConfigError, match="is a QM9 split"):
        DataConfig(dataset="frames", split_scheme="nvidia").validate()


def test_random_rotation_turns_vectors_and_keeps_the_graph():
    record = GraphSpec("radius", 3.0).build(from_ase(molecule("CH3CH2OH")))
    record[K.FORCES] = torch.randn(record[K.POSITIONS].shape, dtype=record[K.POSITIONS].dtype)
    turned = random_rotation(record, torch.Generator().manual_seed(3))
    rotation = torch.linalg.lstsq(record[K.POSITIONS] - record[K.POSITIONS].mean(0),
                                  turned[K.POSITIONS] - turned[K.POSITIONS].mean(0)).solution.T
    assert torch.allclose(rotation @ rotation.T, torch.eye(3, dtype=rotation.dtype), atol=1e-10)
    assert abs(float(torch.linalg.det(rotation)) - 1.0) < 1e-10
    assert torch.allclose(turned[K.FORCES], record[K.FORCES] @ rotation.T, atol=1e-10)
    assert turned[K.EDGE_INDEX] is record[K.EDGE_INDEX]
    again = random_rotation(record, torch.Generator().manual_seed(4))
    assert not torch.allclose(again[K.POSITIONS], turned[K.POSITIONS])
