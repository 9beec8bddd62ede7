"""EPT's pieces against the reference formulas, its data preparation policy, and real proteins."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from ase.build import molecule

import equiformers
from equiformers.data import collate, from_ase
from equiformers.data.blocks import BlockStructure, concatenate, from_ase as blocks_from_ase
from equiformers.data.blocks import vocabulary as V
from equiformers.errors import ConfigError, InvalidStructureError
from equiformers.models.ept.backbone import add_global_nodes, block_and_graph_embeddings
from equiformers.models.ept.edges import build_block_graph
from equiformers.models.ept.layers import EquivariantSelfAttention
from equiformers.testing import random_rotation
from equiformers.testing.suites import relative_error, transform

TINY = {"hidden_channels": 16, "ffn_channels": 16, "num_heads": 2, "num_layers": 2, "num_rbf": 8, "edge_channels": 4}
HEADS = {"y": {"type": "ept_property"}, "noise": {"type": "ept_vector"}}
FIXTURE = Path(__file__).parents[2] / "fixtures" / "blocks" / "1hvr_cut.pdb"


def build(config=None, heads=HEADS, seed=0):
    torch.manual_seed(seed)
    return equiformers.build_model({"model": "ept", "config": {**TINY, **(config or {})}, "heads": heads}).double()


def test_attention_equals_the_official_formula():
    torch.manual_seed(0)
    d, H, B, M = 16, 2, 2, 8
    layer = EquivariantSelfAttention(d, H).double()
    h, V3 = torch.randn(B, M, d, dtype=torch.float64), torch.randn(B, M, 3, d, dtype=torch.float64)
    bias = torch.randn(B, 1, M, M, dtype=torch.float64)
    bias[1, :, :, 5:] = float("-inf")  # padded keys
    dh, dV = layer(h, V3, bias)
    # official SelfAttnLayer (einsum path), written out
    q = layer.q(h).view(B, M, H, -1)
    k = layer.k(h).view(B, M, H, -1)
    vs = layer.v(h).view(B, M, H, -1)
    vv = layer.vector_v.linear(V3).view(B, M, 3, H, -1).transpose(-2, -3).flatten(start_dim=-2)
    attn = torch.softmax(torch.einsum("bnhd,bmhd->bhnm", q, k) * 0.5 / math.sqrt(d // H) + bias, dim=-1)
    res = torch.einsum("bhnm,bmhd->bnhd", attn, torch.cat([vs, vv], dim=-1))
    c = d // H
    ref_h = layer.out(res[..., :c].reshape(B, M, d))
    ref_V = layer.vector_out.linear(res[..., c:].reshape(B, M, H, 3, c).transpose(-2, -3).reshape(B, M, 3, d))
    assert torch.allclose(dh, ref_h, atol=1e-12) and torch.allclose(dV, ref_V, atol=1e-12)


def pairs_of(out):
    return {(int(j), int(i)) for j, i in out["edge_index"].T}


def test_block_edges_types_and_nearest_pairs():
    a = blocks_from_ase(molecule("CH3CONH2"))
    b = blocks_from_ase(molecule("H2O"))
    b.positions = b.positions + [6.0, 0.0, 0.0]
    record = concatenate([a, b]).to_record()  # two segments
    out = build_block_graph(record, cutoff=10.0, topo_cutoff=1.6, k=2, fully_connected=False)
    pos, block = record["pos"], record["block_index"]
    blocks_e, kinds = out["block_edge_index"], out["block_edge_type"]
    segment = record["segment"]
    for (c, b_), kind in zip(blocks_e.T.tolist(), kinds.tolist()):
        D = torch.cdist(pos[block == b_], pos[block == c]).min()
        expected = 3 if b_ == c else 2 if segment[b_] != segment[c] else 1 if D < 1.6 else 0
        assert kind == expected
    # brute force: each atom i of b gets its 2 nearest atoms of every block c within 10 Å
    expected = set()
    for i in range(len(pos)):
        for c in range(int(record["num_blocks"])):
            members = torch.nonzero(block == c).squeeze(-1)
            d = (pos[members] - pos[i]).norm(dim=-1)
            if torch.cdist(pos[block == block[i]], pos[members]).min() <= 10.0:
                expected |= {(int(members[t]), i) for t in torch.argsort(d, stable=True)[:2]}
    assert pairs_of(out) == {(j, i) for j, i in expected if j != i}  # self pairs are implicit
    assert len(expected) - len(pairs_of(out)) == len(pos)  # exactly one per atom
    far = concatenate([a, b.select_blocks([0])]).to_record()
    far["pos"][-3:] += 50.0
    radial = build_block_graph(far, 10.0, 1.6, 4, fully_connected=False)
    full = build_block_graph(far, 10.0, 1.6, 4, fully_connected=True)
    assert full["block_edge_index"].shape[1] == int(far["num_blocks"]) ** 2 > radial["block_edge_index"].shape[1]


def test_pair_selection_follows_atom_relabelling():
    atoms = molecule("CH3CH2OH")
    atoms.rattle(0.05, seed=0)  # no distance ties (ties are broken by atom index, which a relabelling changes)
    record = blocks_from_ase(atoms).to_record()
    perm = torch.tensor([4, 0, 8, 2, 6, 1, 3, 7, 5])
    moved = {k: (v[perm] if k in ("pos", "atomic_numbers", "block_index", "atom_token", "position_code") else v)
             for k, v in record.items()}
    a = build_block_graph(record, 10.0, 1.6, 2, False)
    b = build_block_graph(moved, 10.0, 1.6, 2, False)
    assert {(int(perm[j]), int(perm[i])) for j, i in pairs_of(b)} == pairs_of(a)


def test_global_atoms_and_reference_pooling():
    model = build()
    complex_ = concatenate([blocks_from_ase(molecule("CH3OH")), blocks_from_ase(molecule("H2O"))])
    data = collate([model.prepare(complex_.to_record()), model.prepare(from_ase(molecule("CH4")))])
    nodes = add_global_nodes(data, data["pos"])
    assert int(nodes["is_global"].sum()) == 3  # two segments + one
    assert torch.allclose(nodes["pos"][data["pos"].shape[0]], data["pos"][:6].mean(dim=0))
    features = model.backbone(data)
    z_b, z_g = block_and_graph_embeddings(features, 2)
    h, block = features["all_scalars"], features["node_block"]
    b0 = torch.nonzero(block == 0).squeeze(-1)
    assert torch.allclose(z_b[0], h[b0].sum(0) / math.sqrt(len(b0)))
    graph0 = torch.nonzero(features["block_graph"] == 0).squeeze(-1)  # 3 real blocks + 2 global blocks
    assert len(graph0) == 5 and torch.allclose(z_g[0], z_b[graph0].sum(0) / math.sqrt(5))
    y = model(data)["y"]
    assert torch.allclose(y, model.heads["y"].mlp(z_g)[:, 0] * model.output_scale("y") + model.output_scaling["y"].shift)


def test_preparation_policy_and_errors():
    model = build({"elements": ["H", "C", "O"]})
    with pytest.raises(InvalidStructureError, match="unknown element"):
        model.prepare(from_ase(molecule("NH3")))
    with pytest.raises(InvalidStructureError, match="candidate atom pairs"):
        model.prepare(from_ase(molecule("C6H6")), max_edges=10)
    dna = BlockStructure(np.zeros((1, 3)), [15], [0], [V.position_index("P")], [V.block_index("DA")], [0])
    assert "edge_index" in build().prepare(dna.to_record())
    with pytest.raises(InvalidStructureError, match="142"):
        build({"num_block_types": 142}).prepare(dna.to_record())
    for bad, match in [({"num_heads": 3}, "divisible"), ({"graph": "knn"}, "graph must be"),
                       ({"num_block_types": 100}, "num_block_types"), ({"vector_act": "relu"}, "vector_act")]:
        with pytest.raises(ConfigError, match=match):
            build(bad)
    with pytest.raises(ConfigError, match="omit_small_molecule_positions"):
        build({"position_embedding": False, "omit_small_molecule_positions": True})
    with pytest.raises(ConfigError, match="pool must be one of"):
        build(heads={"y": {"type": "ept_property", "pool": "max"}})


def test_omitting_small_molecule_positions():
    """QM9 fine-tuning of a pretrained model (official omit_mol): the position table is kept, ``sml``
    atoms get no position embedding, global atoms still get ``glb``'s."""
    embedding = build({"omit_small_molecule_positions": True}).backbone.embedding
    atom, block = torch.tensor([8, 8]), torch.tensor([29, 3])
    codes = torch.tensor([V.position_index("sml"), V.position_index("glb")])
    h = embedding.tokens(atom, block, codes)
    plain = embedding.atom(atom) + embedding.block(block)
    assert torch.equal(h[0], plain[0]) and torch.allclose(h[1], plain[1] + embedding.position(codes[1:])[0])


def test_real_protein_ligand_complex_is_equivariant():
    pytest.importorskip("gemmi")
    from equiformers.data.blocks import pocket_complex, read_protein

    s = read_protein(FIXTURE)
    ligand = s.select_blocks([b for b in range(s.num_blocks) if s.labels[b].name == "XK2"])
    protein = s.select_blocks([b for b in range(s.num_blocks) if s.labels[b].name != "XK2"])
    complex_ = pocket_complex(protein, ligand, cutoff=5.0)
    model = build({"local_mask": True})
    data = collate([model.prepare(complex_.to_record()), model.prepare(from_ase(molecule("CH3CONH2")))])
    assert data["edge_type"].eq(2).any()  # pocket-ligand pairs are cross-segment
    rotation = random_rotation(torch.float64, torch.Generator().manual_seed(0))
    before, after = model(data), model(transform(data, rotation, torch.tensor([1.0, -2.0, 0.5])))
    assert relative_error(after["y"], before["y"]) < 1e-9
    assert relative_error(after["noise"], before["noise"] @ rotation.T) < 1e-9
