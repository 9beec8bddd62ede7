"""Model-level behaviour: variants, fusion and checkpointing equivalences, bond types, errors."""

import pytest
import torch

import equiformers
from equiformers.data import collate, from_ase, keys as K
from equiformers.errors import ConfigError, InvalidStructureError
from equiformers.models.registry import count_parameters, list_presets
from equiformers.models.se3_transformer.attention import AttentionBlock
from equiformers.models.se3_transformer.layers import concatenate
from equiformers.testing import rattled_molecules
from equiformers.testing.suites import relative_error

TINY = {"num_layers": 2, "num_degrees": 3, "channels": 4, "num_heads": 2, "out_channels": 6, "num_edge_types": 0}


def build(preset="se3-transformer-qm9", seed=0, **overrides):
    torch.manual_seed(seed)
    return equiformers.build_model({"preset": preset, **TINY, **overrides}).double()


def batch(model, names=("CH4", "CH3CH2OH", "CH3CONH2")):
    return collate([model.prepare(from_ase(a)) for a in rattled_molecules(list(names))])


@pytest.mark.parametrize("preset", ["se3-transformer-qm9", "se3-transformer-qm9-nvidia",
                                    "se3-transformer-qm9-efficient"])
def test_fusion_levels_give_the_same_model(preset):
    reference = build(preset, fusion="none")
    data = batch(reference)
    expected = reference(data)["y"]
    for fusion in ("auto", "partial", "full"):
        model = build(preset, seed=1, fusion=fusion)
        model.load_state_dict(reference.state_dict())
        assert relative_error(model(data)["y"], expected) < 1e-12, fusion


@pytest.mark.parametrize("preset", ["se3-transformer-qm9", "se3-transformer-qm9-efficient"])
def test_low_memory_equals_plain_forward_and_backward(preset):
    plain, low = build(preset), build(preset, low_memory=True)
    low.load_state_dict(plain.state_dict())
    data = batch(plain)
    outputs = []
    for model in (plain, low):
        positions = data[K.POSITIONS].clone().requires_grad_(True)
        y = model({**data, K.POSITIONS: positions})["y"]
        (force,) = torch.autograd.grad(y.sum(), positions, create_graph=True)
        force.pow(2).sum().backward()  # second order through the checkpointed convolutions
        outputs.append((y.detach(), force.detach(), [torch.zeros_like(p) if p.grad is None else p.grad.clone()
                                                   for p in model.parameters()]))
    (y0, f0, g0), (y1, f1, g1) = outputs
    assert torch.equal(y0, y1) and torch.allclose(f0, f1, atol=1e-13)
    assert all(torch.allclose(a, b, atol=1e-12) for a, b in zip(g0, g1))


def test_variants_have_the_papers_parameter_ordering():
    """Table 2: scalar only < Efficient < dot-product attention < original, at the same sizes."""
    base = {"preset": "se3-transformer-pdbbind-original"}
    counts = {name: count_parameters({**base, **v}) for name, v in {
        "scalar": {"kernel": "separable", "attention": "edge", "edge_update": True, "num_degrees": 1},
        "efficient": {"kernel": "separable", "attention": "edge", "edge_update": True},
        "dot": {"kernel": "separable"}, "original": {}}.items()}
    assert counts["scalar"] < counts["efficient"] < counts["dot"] < counts["original"]
    assert counts["original"] > 10 * counts["efficient"]  # the paper's "over a factor of 10"


def test_separable_attention_equals_the_per_edge_factorisation():
    """Eq. 25 (U after the per-head neighbour sum) equals eqs. 19/21: v_ij = U V~ f_j per edge, then sum_j alpha v_ij
    with heads splitting U's output channels."""
    model = build("se3-transformer-qm9-efficient", num_heads=2)
    data = batch(model, ["CH3CH2OH"])
    block: AttentionBlock = model.backbone.layers[1].attention
    captured = {}
    hook = block.register_forward_hook(lambda m, args, out: captured.update(args=args, out=out))
    model(data)
    hook.remove()
    x, edges, e = captured["args"]
    logits = block.to_logits(e)
    alpha = torch.zeros_like(logits)
    for i in range(edges.num_nodes):  # softmax over the edges entering atom i, written out
        mask = edges.dst == i
        alpha[mask] = torch.softmax(logits[mask], dim=0)
    v_tilde = block.to_value(x, edges)
    expected = {}
    for d, c in block.value_fiber:
        v = block.mix_value.weights[block.value_fiber.degrees.index(d)] @ v_tilde[d]  # U per edge: [E, C_v, 2l+1]
        heads = alpha.repeat_interleave(c // 2, dim=1)[:, :, None]  # head h owns channels h C/2 .. (h+1) C/2
        expected[d] = torch.zeros(edges.num_nodes, c, 2 * d + 1, dtype=v.dtype).index_add(0, edges.dst, heads * v)
    expected = block.project(concatenate(expected, x))
    for d in expected:
        assert torch.allclose(captured["out"][d], expected[d], atol=1e-12)


@pytest.mark.parametrize("key_value", ["separate", "fused"])
def test_dot_product_attention_written_out(key_value):
    """SE(3)-T eqs. 7-9: alpha_ij^h = softmax_j(q_i^h . k_ij^h / sqrt(#key features)) over all degrees of head h,
    out_i = sum_j alpha_ij v_ij, then cat [out, f_i] and a self-interaction."""
    model = build(key_value=key_value, num_heads=2)
    data = batch(model, ["CH3CH2OH"])
    block: AttentionBlock = model.backbone.layers[1].attention
    captured = {}
    hook = block.register_forward_hook(lambda m, args, out: captured.update(args=args, out=out))
    model(data)
    hook.remove()
    x, edges, _ = captured["args"]
    if key_value == "fused":
        both = block.to_key_value(x, edges)
        values = {d: both[d][:, :c] for d, c in block.value_fiber}
        keys = {d: both[d][:, block.value_fiber[d]:] for d in block.key_fiber.degrees}
    else:
        values, keys = block.to_value(x, edges), block.to_key(x, edges)
    query = block.to_query(x)
    head_of = {d: torch.arange(c) // (c // 2) for d, c in block.key_fiber}  # channel -> head
    logits = torch.zeros(len(edges.src), 2, dtype=torch.float64)
    for h in range(2):
        for d in block.key_fiber.degrees:
            mask = head_of[d] == h
            logits[:, h] += (query[d][edges.dst][:, mask] * keys[d][:, mask]).sum((1, 2))
    logits = logits / block.key_fiber.dim ** 0.5
    alpha = torch.zeros_like(logits)
    for i in range(edges.num_nodes):
        alpha[edges.dst == i] = torch.softmax(logits[edges.dst == i], dim=0)
    out = {}
    for d, c in block.value_fiber:
        weights = alpha[:, torch.arange(c) // (c // 2)][:, :, None]  # [E, C_v, 1]: each channel's head
        out[d] = torch.zeros(edges.num_nodes, c, 2 * d + 1, dtype=torch.float64).index_add(0, edges.dst,
                                                                                          weights * values[d])
    expected = block.project(concatenate(out, x))
    for d in expected:
        assert torch.allclose(captured["out"][d], expected[d], atol=1e-12)


@pytest.mark.parametrize("scalars", ["input", "output"])
def test_edge_update_reads_the_chosen_scalars(scalars):
    """Eq. 27 uses f_in (default): changing a block's output does not change the edge features it passes on;
    with ``update_scalars: output`` it does."""
    model = build("se3-transformer-qm9-efficient", num_layers=3, edge_features={"update_scalars": scalars})
    data = batch(model, ["H2O"])
    seen = []
    hook = model.backbone.layers[2].attention.register_forward_hook(lambda m, args, out: seen.append(args[2]))
    model(data)
    with torch.no_grad():
        for w in model.backbone.layers[1].attention.project.weights:
            w.mul_(3.0)  # changes layer 1's output, i.e. the scalars entering layer 2 ...
    model(data)
    hook.remove()
    # ... but e after update 1 read layer 1's *input* scalars (or its output ones)
    assert torch.equal(seen[0], seen[1]) == (scalars == "input")


def with_bonds(model, bond_type):
    """H2O and CH4 with their perceived bonds, every bond given type ``bond_type``."""
    from equiformers.data.bonds import with_bonds as perceived

    records = []
    for atoms in rattled_molecules(["H2O", "CH4"]):
        record = perceived(from_ase(atoms))
        record[K.BOND_TYPE] = torch.full_like(record[K.BOND_TYPE], bond_type)
        records.append(model.prepare(record))
    return collate(records)


@pytest.mark.parametrize("preset, graph", [("se3-transformer-qm9", "bonded"), ("se3-transformer-qm9", "fully_connected"),
                                           ("se3-transformer-qm9-efficient", "bonded")])
def test_bond_types_are_read_and_rotations_still_do_not_matter(preset, graph):
    from equiformers.testing import random_rotation
    from equiformers.testing.suites import transform

    model = build(preset, graph=graph, num_edge_types=4 if graph == "bonded" else 5)
    single, double = with_bonds(model, 0), with_bonds(model, 1)
    types = single[K.EDGE_TYPE]
    assert set(types.tolist()) == ({0} if graph == "bonded" else {0, 4})  # 4: no bond
    if graph == "bonded":  # H2O 2 bonds + CH4 4 bonds, both directions
        assert single[K.EDGE_INDEX].shape[1] == 12
    assert relative_error(model(single)["y"], model(double)["y"]) > 1e-6
    R = random_rotation(torch.float64, torch.Generator().manual_seed(0))
    assert relative_error(model(transform(double, R, 1.0))["y"], model(double)["y"]) < 1e-9


def test_bonds_are_perceived_when_the_record_has_none():
    model = build(num_edge_types=4)
    ethanol = model.prepare(from_ase(rattled_molecules(["CH3CH2OH"])[0]))
    assert ethanol[K.EDGE_INDEX].shape[1] == 16 and set(ethanol[K.EDGE_TYPE].tolist()) == {0}
    benzene = model.prepare(from_ase(rattled_molecules(["C6H6"])[0]))
    assert sorted(set(benzene[K.EDGE_TYPE].tolist())) == [0, 3]  # C-H single, ring aromatic


def test_covalent_edge_types():
    model = build("se3-transformer-pdbbind-efficient", num_edge_types=2, edge_types="covalent")
    record = model.prepare(from_ase(rattled_molecules(["CH3CH2OH"])[0]))
    src, dst = record[K.EDGE_INDEX]
    length = (record[K.POSITIONS][src] - record[K.POSITIONS][dst]).norm(dim=1)
    assert torch.equal(record[K.EDGE_TYPE], (length < 1.5).long()) and 0 < int(record[K.EDGE_TYPE].sum()) < len(src)


def test_bad_bond_input_is_a_clear_error():
    from ase import Atoms

    model = build(num_edge_types=4)
    with pytest.raises(InvalidStructureError, match=r"unknown bond type\(s\) \[7\]"):
        with_bonds(model, 7)
    with pytest.raises(InvalidStructureError, match="bond perception failed"):  # a lone carbon and a far H
        model.prepare(from_ase(Atoms("CH", positions=[[0, 0, 0], [0, 0, 1.1]])))
    with pytest.raises(InvalidStructureError, match="for molecules, not periodic cells"):
        model.prepare(from_ase(Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]], cell=[5, 5, 5], pbc=True)))


@pytest.mark.parametrize("overrides, message", [
    ({"channels": [4, 2, 2], "fusion": "full"}, "fusion 'full' needs the same number of channels"),
    ({"channels": [4, 0, 4]}, "degree 1 has 0 channels"),
    ({"channels": [4, 4]}, "one count per degree"),
    ({"channels": [4, 2, 2], "kernel": "separable"}, "kernel 'separable' needs the same channels"),
    ({"edge_update": True}, "edge_update .* attention 'edge'"),
    ({"attention": "edge", "edge_features": {"num_rbf": 0}}, "needs edge features"),
    ({"num_heads": 3}, "divisible by num_heads"),
    ({"graph": "radius"}, "needs a positive cutoff"),
    ({"num_edge_types": 4, "graph": "fully_connected"}, "num_edge_types must be 5 for edge_types 'bonds'"),
    ({"num_edge_types": 5}, "num_edge_types must be 4 .* 'bonded' graph"),
    ({"num_edge_types": 4, "edge_types": "covalent"}, "must be 2 for edge_types 'covalent'"),
    ({"edge_types": "orders"}, "edge_types must be one of"),
    ({"kernel": "depthwise"}, "kernel must be one of"),
    ({"radial": {"sharing": "degree"}}, "radial.sharing must be"),
    ({"radial": {"hiden": 8}}, "did you mean 'hidden'"),
])
def test_config_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        build(**overrides)


def test_backbone_features_and_pooling():
    model = build(pooling="max")
    data = batch(model)
    features = model.backbone(data)
    assert features["node_scalars"].shape == (data[K.POSITIONS].shape[0], 6)
    for g in range(3):
        members = data[K.BATCH] == g
        assert torch.equal(features["pooled_scalars"][members][0], features["node_scalars"][members].max(0).values)
    assert str(model.backbone.feature_irreps["node_irreps"]) == "4x0e+4x1e+4x2e"


def test_input_features_are_the_papers_one_hot_and_atomic_number():
    """QM9 inputs as Fuchs: one-hot H, C, N, O, F then Z (6 scalars); the Efficient paper's: the one-hot only."""
    data = batch(build(), ["CH3OH"])
    features = build().backbone.input_features(data, torch.float64)
    order = {1: 0, 6: 1, 7: 2, 8: 3, 9: 4}
    expected = torch.zeros(len(data[K.ATOMIC_NUMBERS]), 6, dtype=torch.float64)
    for i, z in enumerate(data[K.ATOMIC_NUMBERS].tolist()):
        expected[i, order[z]], expected[i, 5] = 1.0, z
    assert torch.equal(features, expected)
    efficient = build("se3-transformer-qm9-efficient")
    assert torch.equal(efficient.backbone.input_features(data, torch.float64), expected[:, :5])


@pytest.mark.parametrize("output_pool", ["mean", "sum"])
def test_output_convolution_aggregation(output_pool):
    """Fuchs: mean_j(messages) + W x_i; NVIDIA: sum over edges of (message + W x_i)."""
    model = build(output_pool=output_pool)
    data = batch(model, ["CH3OH"])
    output = model.backbone.output
    captured = {}
    hook = output.register_forward_hook(lambda m, args, out: captured.update(args=args, out=out))
    model(data)
    hook.remove()
    x, edges = captured["args"]
    conv = output.conv
    conv.pool = None  # per-edge messages of the same weights
    messages = conv(x, edges)[0]
    own = output.self_interaction({0: x[0]})[0]
    per_edge = messages + (own[edges.dst] if output_pool == "sum" else 0)
    total = torch.zeros_like(own).index_add(0, edges.dst, per_edge)
    if output_pool == "mean":
        ones = torch.ones_like(edges.dst, dtype=own.dtype)
        count = torch.zeros(edges.num_nodes, dtype=own.dtype).index_add(0, edges.dst, ones)
        total = total / count[:, None, None] + own
    assert torch.allclose(captured["out"], total.squeeze(-1), atol=1e-12)


def test_bare_task_heads_get_the_papers_readout():
    """What a regression task declares ({target: {type: graph_scalar}}) becomes MLP(pool(h)); explicit heads stay."""
    model = build(heads={"gap": {"type": "graph_scalar"}, "e": {"type": "graph_scalar", "pool": "sum"}})
    assert model.head_specs["gap"] == {"type": "graph_scalar", "feature": "pooled_scalars", "pool": "mean"}
    assert model.head_specs["e"] == {"type": "graph_scalar", "pool": "sum"}
    data = batch(model)
    pooled = model.backbone(data)["pooled_scalars"]
    first = torch.cat([torch.zeros(1, dtype=torch.long), data[K.NUM_ATOMS].cumsum(0)[:-1]])
    raw = model.heads["gap"].mlp(pooled[first])[:, 0]  # the MLP once per graph, on its pooled scalars
    scaling = model.output_scaling["gap"]
    assert torch.allclose(model(data)["gap"], raw * scaling.scale + scaling.shift, atol=1e-12)


def test_model_spec_round_trips_nested_sections(tmp_path):
    from equiformers.training.checkpoint import load_model, save_model

    model = build("se3-transformer-qm9-nvidia")
    path = save_model(model, tmp_path / "m.pt")
    reloaded, _ = load_model(path)
    assert reloaded.config == model.config and reloaded.config.radial.sharing == "nvidia"


@pytest.mark.slow
@pytest.mark.parametrize("preset", sorted(n for n in list_presets() if n.startswith("se3-transformer")))
def test_full_size_preset_is_invariant_in_float64(preset):
    """The shipped sizes (bond types perceived with RDKit where the preset reads them)."""
    from equiformers.testing import random_rotation
    from equiformers.testing.suites import transform

    torch.manual_seed(0)
    model = equiformers.build_model(preset).double().eval()
    data = batch(model, ["CH3CH2OH", "CH3CONH2"])  # bonds perceived where the preset reads them
    rotation = random_rotation(torch.float64, torch.Generator().manual_seed(0))
    moved = transform(data, rotation, torch.tensor([0.5, -2.0, 1.0], dtype=torch.float64))
    assert relative_error(model(moved)["y"], model(data)["y"]) < 1e-9
