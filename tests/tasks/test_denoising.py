"""Block-level denoising: targets of rigid block motions, the torque/inertia solve (correct and the
official bug), degenerate blocks, the task's noise and its reproducibility, and a tiny EPT step."""

from pathlib import Path

import pytest
import torch
from ase.build import molecule

import equiformers
from equiformers.data import collate
from equiformers.data.blocks import BlockStructure, from_ase, read_protein
from equiformers.errors import ConfigError
from equiformers.ops.scatter import scatter_mean, scatter_sum
from equiformers.tasks import block_noise as G
from equiformers.tasks.base import build_task

F64 = torch.float64
FIXTURE = Path(__file__).parents[1] / "fixtures" / "blocks" / "1hvr_cut.pdb"
TINY = {"hidden_channels": 16, "ffn_channels": 16, "num_heads": 2, "num_layers": 1, "num_rbf": 8, "edge_channels": 4}


@pytest.fixture(scope="module")
def batch():
    """Molecules (heavy atoms with hydrogens: 2- to 5-atom blocks) and a protein fragment (residues)."""
    records = [from_ase(molecule(name)).to_record() for name in ("CH3OH", "C6H6", "H2O", "CH3CH2OH")]
    pytest.importorskip("gemmi")
    protein = read_protein(FIXTURE)
    records.append(protein.select_blocks(range(12)).to_record())
    return collate(records)


def sizes(batch):
    return int(batch["num_blocks"].sum()), batch["block_index"], batch["batch"], batch["num_atoms"].shape[0]


def rigid_motion(batch, seed=0, max_angle=2.5):
    """A known motion of every block: translations (Å) and rotation vectors up to ``max_angle`` rad."""
    nb, block, graph, b = sizes(batch)
    g = torch.Generator().manual_seed(seed)
    translation = torch.randn(nb, 3, dtype=F64, generator=g)
    axis = torch.nn.functional.normalize(torch.randn(nb, 3, dtype=F64, generator=g), dim=1)
    rotation = axis * max_angle * torch.rand(nb, 1, dtype=F64, generator=g)
    clean = G.centred(batch["pos"].to(F64), graph, b)
    noised = G.centred(G.move_blocks(clean, block, nb, translation, rotation), graph, b)
    return clean, noised, translation, rotation


def test_targets_are_exactly_the_motion_that_undoes_a_rigid_block_motion(batch):
    nb, block, graph, b = sizes(batch)
    sigma = 0.3
    clean, noised, translation, rotation = rigid_motion(batch)
    s_tr = G.translation_targets(clean, noised, block, nb, sigma)
    # the translation target is minus the applied shift, up to the graph's re-centring shift
    recentring = scatter_mean(G.move_blocks(clean, block, nb, translation, rotation), graph, b)
    assert torch.allclose(s_tr * sigma, -(translation - recentring[batch["block_batch"]]), atol=1e-12)
    # (s_tr, -w) moves every block back: the noise-free structure is restored exactly
    restored = G.move_blocks(noised, block, nb, sigma * s_tr, -rotation)
    assert torch.allclose(restored, clean, atol=1e-12)
    # the rigid field of that motion reads back through the torque/inertia solve exactly
    task = build_task({"type": "denoising", "sigma_translation": sigma}, ["gap"])
    field = G.rigid_vector_field(noised, block, nb, s_tr, -rotation)
    terms = task.compare(field, {"clean": clean, "noised": noised, "rotation": rotation}, batch)
    for name, (pred, target, weight) in terms.items():
        assert torch.allclose(pred, target, atol=1e-9), name
    assert float(terms["translation"][2].sum()) == 3 * nb
    losses = task.loss_terms(None, {"noise": field, "denoising": terms}, batch)
    assert all(float(value) < 1e-18 for _, value in losses.values())


def test_official_inertia_switch_changes_the_rotation_as_documented(batch):
    nb, block, _, _ = sizes(batch)
    clean, noised, translation, rotation = rigid_motion(batch, seed=1, max_angle=0.3)
    omega = -rotation
    field = G.rigid_vector_field(noised, block, nb, torch.zeros_like(omega), omega)
    _, correct, projector, rank = G.block_motion_from_vectors(noised, field, block, nb, "correct")
    _, official, _, _ = G.block_motion_from_vectors(noised, field, block, nb, "official")
    multi = torch.bincount(block, minlength=nb) > 1
    observable = torch.einsum("bij,bj->bi", projector, omega)  # two-atom blocks (C-H, O-H) lose their spin
    assert torch.allclose(correct, observable, atol=1e-9) and set(rank[multi].tolist()) == {2, 3}
    assert float((official[multi] - omega[multi]).norm(dim=1).min()) > 1e-3  # every block is off
    # official: I_b = n_b |R|_F I3 - sum r r^T with |R|_F the batch-wide, unsquared Frobenius norm
    r = G.arms(noised, block, nb)
    frobenius = r.pow(2).sum().sqrt()
    n = torch.bincount(block, minlength=nb).to(F64)
    outer = scatter_sum(r.unsqueeze(-1) * r.unsqueeze(-2), block, nb)
    true_inertia = G.inertia_tensors(r, block, nb, "correct")
    buggy = n[:, None, None] * frobenius * torch.eye(3, dtype=F64) - outer
    expected = torch.linalg.solve(buggy[multi], (true_inertia[multi] @ omega[multi].unsqueeze(-1))).squeeze(-1)
    assert torch.allclose(official[multi], expected, atol=1e-10)
    # i.e. I_official = I_true + (n |R|_F - sum |r|^2) I3: an isotropic term that hides singular blocks
    assert torch.allclose(G.inertia_tensors(r, block, nb, "official")[multi], buggy[multi], atol=1e-10)


def test_degenerate_blocks_give_finite_targets_and_losses():
    # one block each: a single atom, two atoms (O-H), three collinear atoms, and a regular CH2
    pos = torch.tensor([[0., 0, 0], [3., 0, 0], [3.97, 0, 0], [6., 0, 0], [7.2, 0, 0], [8.4, 0, 0],
                        [10., 0, 0], [10.6, 0.9, 0], [10.6, -0.9, 0]], dtype=F64)
    structure = BlockStructure(pos.numpy(), [6, 8, 1, 6, 6, 6, 6, 1, 1], [0, 1, 1, 2, 2, 2, 3, 3, 3],
                               [13] * 9, [29, 31, 29, 29], [0, 0, 0, 0])
    data = collate([structure.to_record()])
    task = build_task({"type": "denoising", "seed": 0, "sigma_rotation": 0.5}, ["gap"])
    noise = task.add_noise(data, task.generator(data, training=True))
    vectors = torch.randn(9, 3, dtype=F64, requires_grad=True)
    terms = task.compare(vectors, noise, data)
    pred, target, weight = terms["rotation"]
    pred = pred.detach()
    assert torch.isfinite(pred).all() and torch.isfinite(target).all()
    assert weight[:, 0].tolist() == [0.0, 1.0, 1.0, 1.0]  # the single atom shows no rotation
    assert float(pred[0].abs().max()) == 0 and float(target[0].abs().max()) == 0
    for b, (i, j) in ((1, (1, 2)), (2, (3, 5))):  # collinear: the spin about the axis is dropped from both
        axis = torch.nn.functional.normalize(noise["noised"][j] - noise["noised"][i], dim=0)
        assert abs(float(target[b] @ axis)) < 1e-6 and abs(float(pred[b] @ axis)) < 1e-6
        assert float(target[b].norm()) > 0
    loss = sum(w * v for w, v in task.loss_terms(None, {"noise": vectors, "denoising": terms}, data).values())
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(vectors.grad).all()
    # the rigid field of the (observable part of the) motion is still recovered exactly
    nb = 4
    s_tr = G.translation_targets(noise["clean"], noise["noised"], data["block_index"], nb, 0.04)
    field = G.rigid_vector_field(noise["noised"], data["block_index"], nb, s_tr, -noise["rotation"])
    for name, (p, t, _) in task.compare(field, noise, data).items():
        assert torch.allclose(p, t, atol=1e-9), name


def test_noise_is_centred_reproducible_and_the_same_for_a_batch_in_evaluation(batch):
    task = build_task({"type": "denoising", "seed": 7}, ["gap"])
    first = task.add_noise(batch, task.generator(batch, training=True))
    second = task.add_noise(batch, task.generator(batch, training=True))  # the training generator moves on
    assert not torch.equal(first["noised"], second["noised"])
    again = build_task({"type": "denoising", "seed": 7}, ["gap"])
    assert torch.equal(again.add_noise(batch, again.generator(batch, True))["noised"], first["noised"])
    evaluation = [task.add_noise(batch, task.generator(batch, training=False))["noised"] for _ in range(2)]
    assert torch.equal(*evaluation)
    nb, block, graph, b = sizes(batch)
    assert float(scatter_mean(first["noised"], graph, b).abs().max()) < 1e-6
    moved = (first["noised"] - first["clean"]).norm(dim=1)
    assert 0 < float(moved.mean()) < 1.0  # σ_tr = 0.04 Å and 0.1-scale rotations move atoms a little


@pytest.mark.parametrize("noise", ["atom", "block"])
def test_atom_and_translation_only_noise(batch, noise):
    task = build_task({"type": "denoising", "noise": noise, "seed": 0}, ["gap"])
    assert task.targets == (["noise"] if noise == "atom" else ["translation"])
    data = task.add_noise(batch, task.generator(batch, True))
    nb, block, _, _ = sizes(batch)
    if noise == "atom":
        ideal = (data["clean"] - data["noised"]) / 0.04
    else:  # every atom of a block moves alike: the field is the block's target translation
        ideal = G.translation_targets(data["clean"], data["noised"], block, nb, 0.04)[block]
    for name, (pred, target, _) in task.compare(ideal, data, batch).items():
        assert torch.allclose(pred, target, atol=1e-9)


def test_config_errors_are_clear():
    with pytest.raises(ConfigError, match="task.noise"):
        build_task({"type": "denoising", "noise": "rotation"}, ["gap"])
    with pytest.raises(ConfigError, match="too small"):
        build_task({"type": "denoising", "sigma_rotation": 1e-4}, ["gap"])
    with pytest.raises(ConfigError, match="sigma_translation"):
        build_task({"type": "denoising", "sigma_translation": 0}, ["gap"])


@pytest.mark.parametrize("prediction, heads", [("direct", {"noise": {"type": "ept_vector"}}),
                                               ("gradient", {"noise": {"type": "ept_property", "pool": "block_sum"}})])
def test_a_tiny_ept_trains_on_denoising(prediction, heads):
    torch.manual_seed(0)
    model = equiformers.build_model({"model": "ept", "config": TINY, "heads": heads})
    task = build_task({"type": "denoising", "prediction": prediction, "seed": 0}, ["gap"])
    task.check_model(model)
    data = collate([model.prepare(record) for record in _records()])
    out = task.predict(model, data, training=True)
    loss = sum(w * v for w, v in task.loss_terms(model, out, data).values())
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    assert set(task.metrics(out, data)) == {"mae_translation", "mae_rotation"}
    wrong = build_task({"type": "denoising", "prediction": "gradient" if prediction == "direct" else "direct"}, ["gap"])
    with pytest.raises(ConfigError, match="reads a"):
        wrong.check_model(model)


def _records():
    """Molecules and a protein fragment as separate records (EPT's prepare adds their edges)."""
    pytest.importorskip("gemmi")
    records = [from_ase(molecule(name)).to_record() for name in ("CH3OH", "C6H6", "H2O")]
    return records + [read_protein(FIXTURE).select_blocks(range(6)).to_record()]


def test_the_noise_seed_defaults_to_the_runs_seed(batch):
    import lightning as L

    L.seed_everything(11, verbose=False)  # what 'equiformers train' does with the run's seed
    task = build_task({"type": "denoising"}, ["gap"])
    explicit = build_task({"type": "denoising", "seed": 11}, ["gap"])
    torch.manual_seed(0)  # later use of the global generator does not change the noise
    first = task.add_noise(batch, task.generator(batch, True))["noised"]
    assert torch.equal(first, explicit.add_noise(batch, explicit.generator(batch, True))["noised"])
