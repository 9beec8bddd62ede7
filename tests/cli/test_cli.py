"""The command line end to end on a tiny QM9 run: train, resume, evaluate, predict, and bad input."""

import json

import pytest
import torch
import yaml
from ase.build import molecule
from ase.io import write

import equiformers
from equiformers.cli.main import main
from equiformers.errors import CheckpointError
from equiformers.training.checkpoint import load_model, save_model

TINY_RUN = {
    "model": {"preset": "equiformer-qm9", "channels": [8, 4], "num_layers": 1, "num_heads": 2,
              "readout_channels": 8, "num_basis": 8, "radial_hidden": [8, 8]},
    "data": {"dataset": "qm9", "targets": ["gap"], "train_size": 48, "val_size": 16, "test_size": 16,
             "batch_size": 16, "eval_batch_size": 16},
    "training": {"max_epochs": 1, "lr": 1e-3, "warmup_epochs": 0.5, "progress_bar": False, "ema_decay": 0.9,
                 "grad_clip": 10.0},
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    config = folder / "run.yaml"
    config.write_text(yaml.safe_dump({**TINY_RUN, "output_dir": str(folder / "out")}))
    assert main(["train", str(config)]) == 0
    return folder


def test_train_writes_model_metrics_logs_and_plots(trained):
    out = trained / "out"
    for name in ("model.pt", "test_metrics.json", "parity_gap.png", "learning_curve_gap.png",
                 "checkpoints/last.ckpt", "logs/run0/metrics.csv", "run_config.json"):
        assert (out / name).is_file(), name
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    metrics = json.loads((out / "test_metrics.json").read_text())
    assert metrics["num_graphs"] == 16 and metrics["units"] == {"gap": "meV"}
    model, meta = load_model(out / "model.pt")
    assert meta["targets"] == ["gap"] and model.config.avg_degree != equiformers.build_model(
        "equiformer-qm9", num_layers=1).config.avg_degree  # computed from the data
    assert 200 < float(model.output_scale("gap")) < 2000  # training std of the gap in meV


def test_model_record_holds_the_ema_weights(trained):
    ckpt = torch.load(trained / "out" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert "current_model_state" in ckpt  # EMA on: state_dict holds the average, this the raw weights
    averaged = {k[len("model."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
    record = ckpt["equiformers"]["state_dict"]
    assert record.keys() == averaged.keys() and all(torch.equal(record[k], averaged[k]) for k in record)
    raw = {k[len("model."):]: v for k, v in ckpt["current_model_state"].items() if k.startswith("model.")}
    assert any(not torch.equal(record[k], raw[k]) for k in record)


def test_resume_continues_from_last_checkpoint(trained, capsys):
    config = trained / "run.yaml"
    assert main(["train", str(config), "training.max_epochs=2"]) == 0
    assert "resuming from" in capsys.readouterr().out
    last = torch.load(trained / "out" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert last["epoch"] == 1  # the second epoch ran, not a restart from 0
    import pandas as pd

    logs = trained / "out" / "logs"
    first, second = (pd.read_csv(logs / run / "metrics.csv") for run in ("run0", "run1"))
    assert set(first["epoch"].dropna()) == {0} and set(second["epoch"].dropna()) == {1}  # history kept


def test_evaluate_writes_json(trained, tmp_path, capsys):
    output = tmp_path / "val.json"
    assert main(["evaluate", str(trained / "out" / "model.pt"), "--split", "val", "--output", str(output)]) == 0
    metrics = json.loads(output.read_text())
    assert metrics["split"] == "val" and metrics["num_graphs"] == 16
    assert set(metrics["mae"]) == {"gap"} and metrics["baseline_mae_train_mean"]["gap"] > 0
    assert "gap: MAE" in capsys.readouterr().out


def test_predict_any_ase_format(trained, tmp_path, capsys):
    xyz = tmp_path / "mols.xyz"
    write(xyz, [molecule("CH4"), molecule("C6H6")])
    assert main(["predict", str(trained / "out" / "model.pt"), str(xyz)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [r["formula"] for r in rows] == ["CH4", "C6H6"] and all("gap" in r for r in rows)
    csv_path = tmp_path / "pred.csv"
    assert main(["predict", str(trained / "out" / "model.pt"), str(xyz), "--output", str(csv_path)]) == 0
    assert csv_path.read_text().splitlines()[0] == "file,frame,formula,gap"


def test_presets_command(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert "equiformer-qm9" in out and "3,531,715" in out and "equiformer-md17-l2" in out


@pytest.mark.parametrize("content, overrides, message", [
    ("data: {dataset: qm9}\n", [], "missing the 'model' key"),
    ("model: equiformer-qm9\nmodle: x\n", [], "unknown top-level key"),
    ("model: equiformer-qm9\ntraining: {lr_max: 1}\n", [], "unknown key 'lr_max' in training config"),
    ("model: equiformer-qm7\n", [], "unknown model preset"),
    ("model: equiformer-qm9\n", ["training.lr"], "must look like section.key=value"),
    ("model: equiformer-qm9\n", ["model.num_layer=2"], "did you mean 'num_layers'"),
    ("model: equiformer-qm9\n", ["training.lr=fast"], "training config: lr must be a number"),
    ("model: equiformer-qm9\n", ["training.standardize=maybe"], "must be true or false"),
    ("model: equiformer-qm9\ndata: {targets: [bandgap], train_size: 4}\n", [], "unknown QM9 target"),
])
def test_bad_configs_are_one_line_errors(tmp_path, capsys, content, overrides, message):
    config = tmp_path / "bad.yaml"
    config.write_text(content + f"output_dir: {tmp_path / 'out'}\n")
    assert main(["train", str(config), *overrides]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_missing_files_are_clear_errors(tmp_path, capsys):
    assert main(["train", str(tmp_path / "none.yaml")]) == 2
    assert "config file not found" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "none.pt")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err


def test_foreign_and_mismatched_checkpoints_are_rejected(tmp_path, trained):
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match="not an equiformers model file"):
        load_model(foreign)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_model(garbage)
    with pytest.raises(CheckpointError, match="holds a 'equiformer' model, not 'equiformer_v2'"):
        load_model(trained / "out" / "model.pt", family="equiformer_v2")
    small = equiformers.build_model("equiformer-qm9", num_layers=1, channels=[8, 4], num_heads=2)
    record_path = save_model(small, tmp_path / "small.pt")
    record = torch.load(record_path, weights_only=True)
    record["model"]["config"]["channels"] = [16, 8]  # architecture no longer matches the weights
    torch.save(record, record_path)
    with pytest.raises(CheckpointError, match="weights do not fit"):
        load_model(record_path)


def test_interrupted_save_leaves_previous_file(tmp_path, monkeypatch):
    model = equiformers.build_model("equiformer-qm9", num_layers=1, channels=[8, 4], num_heads=2)
    path = save_model(model, tmp_path / "model.pt")
    before = path.read_bytes()

    def explode(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", explode)
    with pytest.raises(KeyboardInterrupt):
        save_model(model, path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_step_budget_ends_training_mid_epoch_with_a_validation(tmp_path):
    """A step budget that ends mid-epoch still validates the final weights and says why training stopped."""
    from equiformers.training.config import run_config_from_dict
    from equiformers.training.run import train

    raw = {**TINY_RUN, "output_dir": str(tmp_path / "out")}
    raw["training"] = {**TINY_RUN["training"], "max_epochs": 5, "max_steps": 4}  # 3 steps per epoch
    metrics = train(run_config_from_dict(raw))
    assert metrics["training"] == {"steps": 4, "planned_steps": 4, "epochs": 1.33, "stopped_by": "steps"}
    assert (tmp_path / "out" / "checkpoints" / "best.ckpt").is_file()
    saved = json.loads((tmp_path / "out" / "test_metrics.json").read_text())
    assert saved["training"]["stopped_by"] == "steps"


def test_time_budget_cut_is_reported(tmp_path):
    from equiformers.training.config import run_config_from_dict
    from equiformers.training.progress import describe_summary
    from equiformers.training.run import train

    raw = {**TINY_RUN, "output_dir": str(tmp_path / "out")}
    raw["training"] = {**TINY_RUN["training"], "max_epochs": 50, "max_time_minutes": 1e-4}
    metrics = train(run_config_from_dict(raw))
    summary = metrics["training"]
    assert summary["stopped_by"] == "time_budget" and summary["steps"] < summary["planned_steps"] == 150
    assert describe_summary(summary, 1e-4).startswith("training stopped early by the time budget")


@pytest.mark.parametrize("key, value", [("max_steps", 0), ("max_time_minutes", 0), ("max_time_minutes", -1)])
def test_budgets_must_be_positive(key, value):
    from equiformers.errors import ConfigError
    from equiformers.training.config import run_config_from_dict

    raw = {**TINY_RUN, "training": {**TINY_RUN["training"], key: value}}
    with pytest.raises(ConfigError, match=f"training.{key}"):
        run_config_from_dict(raw)
