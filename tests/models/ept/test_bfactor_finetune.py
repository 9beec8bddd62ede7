"""Per-residue B-factor regression with EPT: the per-block head, block-level targets in the regression
task (NaN labels left out), and pretraining -> B-factor data -> fine-tuning -> evaluation from the CLI."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import equiformers
from equiformers.data import collate, keys as K
from equiformers.errors import ConfigError
from equiformers.tasks.base import build_task
from equiformers.testing import random_rotation
from equiformers.testing.suites import relative_error, transform

FIXTURES = Path(__file__).parents[2] / "fixtures" / "blocks" / "bfactors"
TINY = {"hidden_channels": 16, "ffn_channels": 16, "num_heads": 2, "num_layers": 1, "num_rbf": 8, "edge_channels": 4}
TRAINING = {"max_epochs": 1, "lr": 1.0e-3, "warmup_epochs": 0.5, "progress_bar": False}
HEADS = {"bfactor": {"type": "ept_property", "pool": "per_block"}, "y": {"type": "ept_property"}}


@pytest.fixture(scope="module")
def proteins():
    pytest.importorskip("gemmi")
    from equiformers.data.blocks.bfactors import read_bfactors

    return [read_bfactors(FIXTURES / name) for name in ("1a28_cut.pdb", "4e43_cut.pdb")]


def build(heads=HEADS):
    torch.manual_seed(0)
    return equiformers.build_model({"model": "ept", "config": TINY, "heads": heads}).double()


def test_per_block_head_gives_one_invariant_value_per_real_block(proteins):
    from equiformers.models.ept.backbone import block_and_graph_embeddings

    model = build()
    assert model.outputs["bfactor"].level == "block" and model.outputs["y"].level == "graph"
    records = [model.prepare(p.structure.to_record()) for p in proteins]
    data = collate(records)
    out = model(data)
    assert out["bfactor"].shape == (int(data[K.NUM_BLOCKS].sum()),)
    z_b, _ = block_and_graph_embeddings(model.backbone(data), 2)
    expected = model.heads["bfactor"].mlp(z_b[:data[K.BLOCK_TYPE].shape[0]])[:, 0] * model.output_scale("bfactor")
    assert torch.allclose(out["bfactor"], expected)
    alone = torch.cat([model(collate([r]))["bfactor"] for r in records])
    assert torch.allclose(out["bfactor"], alone, atol=1e-12)  # global blocks of one graph do not leak into another
    rotation = random_rotation(torch.float64, torch.Generator().manual_seed(0))
    moved = model(transform(data, rotation, torch.tensor([2.0, -1.0, 0.5], dtype=torch.float64)))["bfactor"]
    assert relative_error(moved, out["bfactor"]) < 1e-9


def test_regression_of_block_targets_leaves_unlabelled_blocks_out(proteins):
    task = build_task({"type": "regression", "loss": "l1"}, ["bfactor"])
    model = build()
    records = [model.prepare({**p.structure.to_record(), K.BFACTOR: torch.from_numpy(p.bfactor)}) for p in proteins]
    batch = collate(records)
    assert torch.isnan(batch[K.BFACTOR]).any()  # 4E43's peptide chain and ligand
    model.set_output_statistics("bfactor", scale=2.0)
    out = model(batch)
    (weight, loss), = task.loss_terms(model, out, batch).values()
    keep = torch.isfinite(batch[K.BFACTOR])
    assert torch.allclose(loss, ((out["bfactor"] - batch[K.BFACTOR])[keep] / 2.0).abs().mean())
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    mae = task.metrics(out, batch)["mae_bfactor"]
    assert torch.allclose(mae, (out["bfactor"] - batch[K.BFACTOR])[keep].abs().mean())


def test_block_targets_need_block_heads():
    task = build_task({"type": "regression"}, ["bfactor"])
    with pytest.raises(ConfigError, match="per block: declare a block-level head.*pool: per_block"):
        task.default_heads()
    with pytest.raises(ConfigError, match="block-level but the model's outputs for them are \\['graph'\\]-level"):
        task.check_model(build({"bfactor": {"type": "ept_property", "pool": "graph"}}))
    with pytest.raises(ConfigError, match="must share a level"):
        build_task({"type": "regression"}, ["bfactor", "y"])
    with pytest.raises(ConfigError, match="graph- or block-level"):
        build_task({"type": "regression"}, ["forces"])


def test_pretrain_then_fine_tune_on_b_factors_from_the_cli(tmp_path, capsys):
    pytest.importorskip("gemmi")
    from equiformers.cli.main import main
    from equiformers.training.checkpoint import load_model

    assert main(["data", "corpus", str(FIXTURES), "--max-atoms", "150", "--output", str(tmp_path / "corpus.pt")]) == 0
    pretrain = {"model": {"model": "ept", "config": TINY, "heads": {"noise": {"type": "ept_vector"}}},
                "data": {"dataset": "blocks", "path": str(tmp_path / "corpus.pt"), "val_size": 1, "test_size": 1,
                         "batch_size": 4, "eval_batch_size": 4},
                "task": {"type": "denoising"}, "training": TRAINING, "output_dir": str(tmp_path / "pretrain")}
    (tmp_path / "pretrain.yaml").write_text(yaml.safe_dump(pretrain))
    assert main(["train", str(tmp_path / "pretrain.yaml")]) == 0

    data = tmp_path / "bfactors.pt"
    assert main(["data", "bfactors", str(FIXTURES), "--max-atoms", "150", "--output", str(data)]) == 0
    assert json.loads(data.with_suffix(".report.json").read_text())["labelled_blocks"] == 96
    finetune = {"model": {"from": str(tmp_path / "pretrain" / "model.pt"),
                          "heads": {"bfactor": {"type": "ept_property", "pool": "per_block"}}, "freeze_backbone": True},
                "data": {"dataset": "protein_bfactors", "path": str(data), "targets": ["bfactor"], "val_size": 1,
                         "test_size": 1, "batch_size": 2, "eval_batch_size": 2},
                "task": {"type": "regression", "loss": "l1"}, "training": TRAINING,
                "output_dir": str(tmp_path / "finetune")}
    (tmp_path / "finetune.yaml").write_text(yaml.safe_dump(finetune))
    assert main(["train", str(tmp_path / "finetune.yaml")]) == 0
    metrics = json.loads((tmp_path / "finetune" / "test_metrics.json").read_text())
    assert metrics["units"] == {"bfactor": "σ"} and metrics["num_labelled"]["bfactor"] > 0
    assert np.isfinite(metrics["mae"]["bfactor"]) and -1.0 <= metrics["pearson"]["bfactor"] <= 1.0
    assert (tmp_path / "finetune" / "parity_bfactor.png").is_file()
    model, _ = load_model(tmp_path / "finetune" / "model.pt")
    pretrained, _ = load_model(tmp_path / "pretrain" / "model.pt")
    assert all(torch.equal(v, pretrained.state_dict()[k]) for k, v in model.state_dict().items()
               if k.startswith("backbone."))  # frozen: the pretrained encoder, a trained per-residue head
    assert model.outputs["bfactor"].level == "block"
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "finetune" / "model.pt"), "--split", "val"]) == 0
    assert "Pearson r" in capsys.readouterr().out
    (tmp_path / "w.xyz").write_text("3\n\nO 0 0 0\nH 0 0 0.96\nH 0.93 0 -0.24\n")
    assert main(["predict", str(tmp_path / "finetune" / "model.pt"), str(tmp_path / "w.xyz")]) == 2
    assert "no graph-level outputs" in capsys.readouterr().err


def test_parity_plots_leave_out_outputs_without_points(tmp_path):
    """A test split without labelled blocks (or, in denoising, without multi-atom blocks) must not fail
    the run after training: that output gets no parity plot."""
    from equiformers.training.plots import parity_plots

    metrics = {"units": {"a": "σ", "b": "σ"}, "mae": {"a": 0.5, "b": float("nan")},
               "_parity": {"a": (np.array([0.0, 1.0]), np.array([0.5, 1.5])), "b": (np.zeros(0), np.zeros(0))}}
    assert [p.name for p in parity_plots(metrics, tmp_path)] == ["parity_a.png"]
