"""Registry-driven collate (offsets per index space, re-batching, clear errors) and permute_atoms."""

import pytest
import torch
from ase.build import molecule

from equiformers.data import collate, from_ase, keys as K
from equiformers.data.transforms import permute_atoms
from equiformers.errors import DatasetError


def _graph(seed, num_atoms, block_index, edges, block_edges, segment):
    """A hand-built record with atom edges and block fields (no neighbour list)."""
    gen = torch.Generator().manual_seed(seed)
    num_blocks = max(block_index) + 1
    return {
        K.POSITIONS: torch.randn(num_atoms, 3, generator=gen, dtype=torch.float64),
        K.ATOMIC_NUMBERS: torch.randint(1, 9, (num_atoms,), generator=gen),
        K.CELL: torch.zeros(1, 3, 3, dtype=torch.float64),
        K.PBC: torch.zeros(1, 3, dtype=torch.bool),
        K.NUM_ATOMS: torch.tensor([num_atoms]),
        K.EDGE_INDEX: torch.tensor(edges, dtype=torch.long).reshape(2, -1),
        K.EDGE_CELL_SHIFT: torch.zeros(len(edges[0]), 3, dtype=torch.float64),
        K.EDGE_TYPE: torch.arange(len(edges[0])) % 2,
        K.ENERGY: torch.randn(1, generator=gen, dtype=torch.float64),
        K.FORCES: torch.randn(num_atoms, 3, generator=gen, dtype=torch.float64),
        K.BLOCK_INDEX: torch.tensor(block_index),
        K.ATOM_TOKEN: torch.arange(num_atoms) + 10,
        K.POSITION_CODE: torch.arange(num_atoms) % 3,
        K.NUM_BLOCKS: torch.tensor([num_blocks]),
        K.BLOCK_TYPE: torch.arange(num_blocks) + 20 + seed,
        K.SEGMENT: torch.tensor(segment),
        K.BLOCK_EDGE_INDEX: torch.tensor(block_edges, dtype=torch.long).reshape(2, -1),
        K.BLOCK_EDGE_TYPE: torch.ones(len(block_edges[0]), dtype=torch.long) * seed,
    }


@pytest.fixture
def graphs():
    return [
        _graph(0, 3, [0, 0, 1], [[0, 1, 2], [1, 2, 0]], [[0, 1], [1, 0]], [0, 1]),
        _graph(1, 2, [0, 0], [[0, 1], [1, 0]], [[0], [0]], [1]),
        _graph(2, 4, [0, 1, 2, 2], [[0, 3, 1, 2], [3, 0, 2, 1]], [[0, 2, 1], [2, 1, 0]], [0, 0, 1]),
    ]


def test_collate_offsets_atoms_and_blocks_exactly(graphs):
    b = collate(graphs)
    assert b[K.NUM_ATOMS].tolist() == [3, 2, 4] and b[K.NUM_BLOCKS].tolist() == [2, 1, 3]
    assert b[K.PTR].tolist() == [0, 3, 5, 9]
    assert b[K.BATCH].tolist() == [0, 0, 0, 1, 1, 2, 2, 2, 2]
    assert b[K.BLOCK_BATCH].tolist() == [0, 0, 1, 2, 2, 2]
    # atoms offset by the previous graphs' atoms (0, 3, 5)
    assert b[K.EDGE_INDEX].tolist() == [[0, 1, 2, 3, 4, 5, 8, 6, 7], [1, 2, 0, 4, 3, 8, 5, 7, 6]]
    # blocks offset by the previous graphs' blocks (0, 2, 3)
    assert b[K.BLOCK_INDEX].tolist() == [0, 0, 1, 2, 2, 3, 4, 5, 5]
    assert b[K.BLOCK_EDGE_INDEX].tolist() == [[0, 1, 2, 3, 5, 4], [1, 0, 2, 5, 4, 3]]
    # values that index nothing are concatenated as they are
    assert b[K.SEGMENT].tolist() == [0, 1, 1, 0, 0, 1]
    assert b[K.BLOCK_TYPE].tolist() == [20, 21, 21, 22, 23, 24]
    assert b[K.BLOCK_EDGE_TYPE].tolist() == [0, 0, 1, 2, 2, 2]
    assert b[K.ATOM_TOKEN].tolist() == [10, 11, 12, 10, 11, 10, 11, 12, 13]
    assert b[K.EDGE_TYPE].tolist() == [0, 1, 0, 0, 1, 0, 1, 0, 1]
    assert b[K.CELL].shape == (3, 3, 3) and b[K.PBC].shape == (3, 3) and b[K.ENERGY].shape == (3,)
    assert torch.equal(b[K.FORCES], torch.cat([g[K.FORCES] for g in graphs]))
    assert set(b) == set(graphs[0]) | {K.BATCH, K.PTR, K.BLOCK_BATCH}


def test_collate_does_not_modify_its_inputs(graphs):
    before = [{k: v.clone() for k, v in g.items()} for g in graphs]
    collate(graphs)
    for g, ref in zip(graphs, before):
        assert all(torch.equal(g[k], ref[k]) for k in ref)


@pytest.mark.parametrize("groups", [[[0, 1], [2]], [[0], [1, 2]], [[0], [1], [2]], [[0, 1, 2]]])
def test_collate_of_batches_equals_one_collate(graphs, groups):
    once = collate(graphs)
    twice = collate([collate([graphs[i] for i in group]) for group in groups])
    assert set(twice) == set(once)
    for key in once:
        assert torch.equal(twice[key], once[key]), key


def test_batches_and_single_graphs_mix(graphs):
    once = collate(graphs)
    mixed = collate([collate(graphs[:2]), graphs[2]])
    assert all(torch.equal(mixed[key], once[key]) for key in once)
    nested = collate([collate([collate(graphs[:1]), graphs[1]]), collate(graphs[2:])])
    assert all(torch.equal(nested[key], once[key]) for key in once)


def test_keys_made_by_collate_are_recomputed(graphs):
    graphs[1] = {**graphs[1], K.BATCH: torch.tensor([7, 7]), K.PTR: torch.tensor([0, 99])}
    b = collate(graphs)
    assert b[K.BATCH].tolist() == [0, 0, 0, 1, 1, 2, 2, 2, 2] and b[K.PTR].tolist() == [0, 3, 5, 9]


def test_a_newly_registered_index_field_is_offset():
    K.register_field("test_batching_anchor_atom", "graph", "int", index_space="atoms")
    a = {**from_ase(molecule("H2O")), "test_batching_anchor_atom": torch.tensor([2])}
    b = {**from_ase(molecule("CH4")), "test_batching_anchor_atom": torch.tensor([1])}
    assert collate([a, b])["test_batching_anchor_atom"].tolist() == [2, 4]


def test_unknown_key_is_a_clear_error(graphs):
    graphs[2] = {**graphs[2], "block_indx": graphs[2][K.BLOCK_INDEX]}
    with pytest.raises(DatasetError, match=r"graph 2: unknown data key 'block_indx' \(did you mean 'block_index'\?\)"
                                           r".*register_field"):
        collate(graphs)
    with pytest.raises(DatasetError, match="graph 0: unknown data key 'block_indx'"):
        collate(graphs[::-1])


def test_mismatched_key_sets_are_a_clear_error(graphs):
    graphs[1] = {k: v for k, v in graphs[1].items() if k != K.ENERGY}
    with pytest.raises(DatasetError, match=r"graph 1 has other keys than graph 0: missing \['energy'\], extra \[\]"):
        collate(graphs)
    with pytest.raises(DatasetError, match=r"graph 1 has other keys than graph 0: missing \[\], extra \['energy'\]"):
        collate(graphs[1:])


def test_block_fields_need_num_blocks(graphs):
    without = [{k: v for k, v in g.items() if k != K.NUM_BLOCKS} for g in graphs]
    with pytest.raises(DatasetError, match="block fields .*'block_index'.* must carry 'num_blocks'"):
        collate(without)


def test_empty_batch_is_a_dataset_error():
    with pytest.raises(DatasetError, match="empty list"):
        collate([])


def test_ase_records_still_batch():
    water, methane = from_ase(molecule("H2O"), 5.0), from_ase(molecule("CH4"), 5.0)
    b = collate([water, methane, water])
    assert b[K.PTR].tolist() == [0, 3, 8, 11] and K.BLOCK_BATCH not in b
    e_water, e_methane = water[K.EDGE_INDEX].shape[1], methane[K.EDGE_INDEX].shape[1]
    assert torch.equal(b[K.EDGE_INDEX][:, e_water:e_water + e_methane], methane[K.EDGE_INDEX] + 3)
    assert torch.equal(b[K.EDGE_INDEX][:, e_water + e_methane:], water[K.EDGE_INDEX] + 8)
    assert b[K.CELL].shape == (3, 3, 3) and b[K.EDGE_CELL_SHIFT].shape == (b[K.EDGE_INDEX].shape[1], 3)
    edgeless = collate([from_ase(molecule("H2O")), from_ase(molecule("CH4"))])
    assert K.EDGE_INDEX not in edgeless and edgeless[K.BATCH].tolist() == [0, 0, 0, 1, 1, 1, 1, 1]


def _edge_vectors(data):
    src, dst = data[K.EDGE_INDEX]
    return data[K.POSITIONS][src] - data[K.POSITIONS][dst]


def test_permute_atoms_keeps_edge_vectors_and_maps_edges(graphs):
    g = graphs[2]
    perm = torch.tensor([2, 0, 3, 1])
    out = permute_atoms(g, perm)
    assert torch.equal(out[K.POSITIONS], g[K.POSITIONS][perm])
    assert torch.equal(out[K.FORCES], g[K.FORCES][perm])
    assert torch.equal(out[K.BLOCK_INDEX], g[K.BLOCK_INDEX][perm])  # atoms keep their block
    assert torch.equal(perm[out[K.EDGE_INDEX]], g[K.EDGE_INDEX])  # same edges, new labels
    assert torch.equal(_edge_vectors(out), _edge_vectors(g))  # the model-free invariant, edge by edge
    for key in (K.BLOCK_EDGE_INDEX, K.SEGMENT, K.BLOCK_TYPE, K.EDGE_TYPE, K.ENERGY, K.CELL, K.NUM_ATOMS):
        assert torch.equal(out[key], g[key]), key
    assert torch.equal(permute_atoms(out, torch.argsort(perm))[K.EDGE_INDEX], g[K.EDGE_INDEX])


def test_permute_atoms_on_a_molecule_keeps_the_edge_vector_multiset():
    data = collate([from_ase(molecule("CH3CH2OH"), 2.0)])
    perm = torch.randperm(9, generator=torch.Generator().manual_seed(0))
    out = permute_atoms(data, perm)
    assert torch.equal(out[K.ATOMIC_NUMBERS], data[K.ATOMIC_NUMBERS][perm])

    def rows(x):
        return sorted(map(tuple, x.tolist()))
    assert rows(_edge_vectors(out)) == rows(_edge_vectors(data))
    assert collate([out, out])[K.EDGE_INDEX].max() == 17


def test_permute_atoms_rejects_batches_and_bad_permutations(graphs):
    with pytest.raises(DatasetError, match="one graph, got a batch of 3"):
        permute_atoms(collate(graphs), torch.arange(9))
    with pytest.raises(DatasetError, match="permutation of 0..3"):
        permute_atoms(graphs[2], torch.tensor([0, 0, 1, 2]))
    with pytest.raises(DatasetError, match="permutation of 0..3"):
        permute_atoms(graphs[2], torch.arange(3))
