"""EPT from the command line: smoke corpus -> denoising pretraining -> fine-tuning with new heads
(frozen backbone or not) -> predictions; and the fine-tuning mechanism's checks (any family)."""

import json
from pathlib import Path

import pytest
import torch
import yaml
from ase.build import molecule
from ase.io import write

import equiformers
from equiformers.errors import ConfigError
from equiformers.training.checkpoint import load_model, save_model
from equiformers.training.config import run_config_from_dict
from equiformers.training.run import base_model_spec, initialise_from

FIXTURE = Path(__file__).parents[2] / "fixtures" / "blocks" / "1hvr_cut.pdb"
TINY = {"hidden_channels": 16, "ffn_channels": 16, "num_heads": 2, "num_layers": 1, "num_rbf": 8, "edge_channels": 4}
TRAINING = {"max_epochs": 1, "lr": 1.0e-3, "warmup_epochs": 0.5, "progress_bar": False}


def backbone_state(path):
    model, _ = load_model(path)
    return {k: v for k, v in model.state_dict().items() if k.startswith("backbone.")}


def test_pretrain_then_fine_tune_from_the_cli(tmp_path):
    pytest.importorskip("gemmi")
    from equiformers.cli.main import main

    corpus = tmp_path / "corpus.pt"
    assert main(["data", "corpus", str(FIXTURE), "--qm9", "6", "--max-atoms", "150", "--output", str(corpus)]) == 0
    report = json.loads(corpus.with_suffix(".report.json").read_text())
    assert report["per_kind"]["protein"]["structures"] == 3 and report["per_kind"]["small_molecule"]["structures"] == 6

    pretrain = {"model": {"model": "ept", "config": TINY, "heads": {"noise": {"type": "ept_vector"}}},
                "data": {"dataset": "blocks", "path": str(corpus), "val_size": 2, "test_size": 2, "batch_size": 4,
                         "eval_batch_size": 4},
                "task": {"type": "denoising"}, "training": TRAINING, "output_dir": str(tmp_path / "pretrain")}
    (tmp_path / "pretrain.yaml").write_text(yaml.safe_dump(pretrain))
    assert main(["train", str(tmp_path / "pretrain.yaml")]) == 0
    metrics = json.loads((tmp_path / "pretrain" / "test_metrics.json").read_text())
    assert set(metrics["mae"]) == {"translation", "rotation"} and metrics["units"]["rotation"] == "rad"
    pretrained = tmp_path / "pretrain" / "model.pt"

    # fine-tune on a few QM9 molecules: QM9's fully connected graph, a new graph head, frozen backbone
    finetune = {"model": {"from": str(pretrained), "config": {"graph": "fully_connected"},
                          "heads": {"gap": {"type": "ept_property", "pool": "graph"}}, "freeze_backbone": True},
                "data": {"dataset": "qm9", "targets": ["gap"], "train_size": 8, "val_size": 4, "test_size": 4,
                         "batch_size": 4, "eval_batch_size": 4},
                "task": {"type": "regression"}, "training": TRAINING, "output_dir": str(tmp_path / "frozen")}
    (tmp_path / "finetune.yaml").write_text(yaml.safe_dump(finetune))
    assert main(["train", str(tmp_path / "finetune.yaml")]) == 0
    frozen = tmp_path / "frozen" / "model.pt"
    before, after = backbone_state(pretrained), backbone_state(frozen)
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    model, meta = load_model(frozen)
    assert list(model.outputs) == ["gap"] and model.config.graph == "fully_connected"
    assert "from" not in meta["run_config"]["model"]  # the fine-tuned file is self-contained

    # the same command, backbone trained too (an override on the command line)
    assert main(["train", str(tmp_path / "finetune.yaml"), "model.freeze_backbone=false",
                 f"output_dir={tmp_path / 'unfrozen'}"]) == 0
    moved = backbone_state(tmp_path / "unfrozen" / "model.pt")
    assert any(not torch.equal(before[k], moved[k]) for k in before)

    write(tmp_path / "water.xyz", molecule("H2O"))
    assert main(["predict", str(frozen), str(tmp_path / "water.xyz")]) == 0


def small_model(tmp_path, family_spec, name="model.pt"):
    torch.manual_seed(0)
    return save_model(equiformers.build_model(family_spec), tmp_path / name)


def test_fine_tuning_copies_the_backbone_and_matching_heads_for_any_family(tmp_path):
    spec = {"preset": "equiformer-qm9", "num_layers": 1, "heads": {"energy": {"type": "graph_scalar"},
                                                                   "forces": {"type": "atom_vector"}}}
    path = small_model(tmp_path, spec)
    tune = {"from": str(path), "heads": {"energy": {"type": "graph_scalar"}, "gap": {"type": "graph_scalar"}}}
    resolved = base_model_spec(tune)
    assert resolved["model"] == "equiformer" and set(resolved["heads"]) == {"energy", "gap"}
    torch.manual_seed(1)
    model = equiformers.build_model(resolved)
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    initialise_from(model, str(path))
    source, _ = load_model(path)
    mine, theirs = model.state_dict(), source.state_dict()
    assert all(torch.equal(mine[k], theirs[k]) for k in mine if k.startswith(("backbone.", "heads.energy.")))
    new_head = [k for k in mine if k.startswith("heads.gap.")]
    assert new_head and all(torch.equal(mine[k], fresh[k]) for k in new_head)  # left at its initialisation


def test_fine_tuning_config_errors(tmp_path):
    path = small_model(tmp_path, {"model": "ept", "config": TINY, "heads": {"noise": {"type": "ept_vector"}}})
    base = {"data": {"dataset": "qm9"}, "task": {"type": "regression"}}
    with pytest.raises(ConfigError, match="takes only"):
        run_config_from_dict({**base, "model": {"from": str(path), "preset": "ept-qm9"}})
    with pytest.raises(ConfigError, match="freeze_backbone"):
        run_config_from_dict({**base, "model": {"from": str(path), "freeze_backbone": "yes"}})
    wider = equiformers.build_model(base_model_spec({"from": str(path), "config": {"hidden_channels": 32}}))
    with pytest.raises(ConfigError, match="do not fit"):
        initialise_from(wider, str(path))


def test_qm9_fine_tuning_with_auxiliary_denoising(tmp_path):
    """EPT's QM9 protocol: the property loss plus 0.1 x the block-denoising loss of a noised copy,
    in training only; a clear error when the model lacks the denoising output."""
    from equiformers.data import collate
    from equiformers.data.qm9 import QM9Dataset
    from equiformers.tasks.base import build_task

    task = build_task({"type": "regression", "auxiliary_denoising": {"weight": 0.1}}, ["gap"])
    model = equiformers.build_model({"model": "ept", "config": {**TINY, "graph": "fully_connected"},
                                     "heads": {"gap": {"type": "ept_property", "pool": "atom_sum"},
                                               "noise": {"type": "ept_vector"}}})
    task.check_model(model)
    qm9 = QM9Dataset(["gap"], split="train", subset=4)
    batch = collate([model.prepare(qm9[i]) for i in range(4)])
    training = task.loss_terms(model, task.predict(model, batch, training=True), batch)
    assert set(training) == {"targets", "denoising_translation", "denoising_rotation"}
    assert training["denoising_translation"][0] == pytest.approx(0.1)
    assert set(task.loss_terms(model, task.predict(model, batch, training=False), batch)) == {"targets"}
    without_noise_head = equiformers.build_model({"model": "ept", "config": {**TINY, "graph": "fully_connected"},
                                                  "heads": {"gap": {"type": "ept_property"}}})
    with pytest.raises(ConfigError, match=r"needs model output\(s\) \['noise'\]"):
        task.check_model(without_noise_head)
    with pytest.raises(ConfigError, match="auxiliary_denoising.weight"):
        build_task({"type": "regression", "auxiliary_denoising": {"weight": -1}}, ["gap"])
    run = run_config_from_dict({
        "model": {"preset": "ept-qm9", **TINY, "heads": {"gap": {"type": "ept_property", "pool": "atom_sum"},
                                                          "noise": {"type": "ept_vector"}}}, "task": {"type": "regression", "auxiliary_denoising": {"weight": 0.1}},
        "data": {"dataset": "qm9", "targets": ["gap"], "train_size": 8, "val_size": 4, "test_size": 4,
                 "batch_size": 4, "eval_batch_size": 4}, "training": TRAINING, "output_dir": str(tmp_path / "run")})
    from equiformers.training.run import train

    assert train(run)["num_graphs"] == 4
