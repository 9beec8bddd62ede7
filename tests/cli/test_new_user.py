"""What a new user trips over: scoring a model on new labelled data, bad training data, a
diverging run, runs moved to another directory, and a run shorter than an epoch."""

import json
import os

import numpy as np
import pytest
import torch
import yaml
from ase.io import read, write

from equiformers.cli.main import main
from equiformers.data.frames import read_ase_frames, read_npz_frames
from equiformers.errors import DatasetError
from equiformers.training.config import load_run_config
from tests.training.test_energy_force import emt_frames

MODEL = {"preset": "equiformer-md17-l2", "channels": [8, 4], "num_layers": 1, "num_heads": 2,
         "readout_channels": 8, "num_basis": 8, "radial_hidden": [8, 8], "cutoff": 4.0}


def run_config(data, out, **training):
    return {"model": MODEL, "data": {"dataset": "frames", "path": str(data), "targets": ["energy"],
                                     "train_size": 12, "val_size": 4, "batch_size": 4, "eval_batch_size": 8},
            "task": {"type": "energy_forces", "force_weight": 10.0},
            "training": {"max_epochs": 1, "lr": 2e-3, "warmup_epochs": 0.5, "progress_bar": False, **training},
            "output_dir": str(out)}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("newuser")
    write(folder / "train.extxyz", emt_frames(20, seed=0))
    (folder / "run.yaml").write_text(yaml.safe_dump(run_config(folder / "train.extxyz", folder / "out")))
    assert main(["train", str(folder / "run.yaml")]) == 0
    return folder


def test_evaluate_any_labelled_file(trained, tmp_path, capsys):
    unseen = tmp_path / "unseen.extxyz"
    frames = emt_frames(6, seed=7)
    for atoms in frames:  # EMT stresses too, so the stress is scored
        from ase.calculators.emt import EMT
        from ase.calculators.singlepoint import SinglePointCalculator

        atoms.calc = EMT()
        results = dict(energy=atoms.get_potential_energy(), forces=atoms.get_forces(), stress=atoms.get_stress())
        atoms.calc = SinglePointCalculator(atoms, **results)
    write(unseen, frames)
    output, plots = tmp_path / "metrics.json", tmp_path / "plots"
    assert main(["evaluate", str(trained / "out" / "model.pt"), "--data", str(unseen), "--output", str(output),
                 "--plots", str(plots)]) == 0
    printed = capsys.readouterr().out
    assert "energy: MAE" in printed and "RMSE" in printed and "force MAE per element: Ni" in printed
    metrics = json.loads(output.read_text())
    assert metrics["num_graphs"] == 6 and metrics["units"] == {"energy": "meV", "forces": "meV/Å",
                                                                 "stress": "meV/Å^3"}
    assert set(metrics["force_mae_per_element"]) == {"Cu", "Ni"} and np.isfinite(metrics["mae"]["stress"])
    assert {p.name for p in plots.iterdir()} == {"parity_energy.png", "parity_forces.png", "parity_stress.png"}


def test_evaluate_npz_too(trained, tmp_path, capsys):
    frames = emt_frames(5, seed=3)
    npz = tmp_path / "cu.npz"
    np.savez(npz, R=np.stack([a.positions for a in frames]), z=frames[0].numbers,
             E=np.array([a.get_potential_energy() for a in frames]) / 0.0433641042,
             F=np.stack([a.get_forces() for a in frames]) / 0.0433641042)
    with pytest.raises(Exception):  # periodic cells are not in an MD17 npz: an error, not garbage
        read_npz_frames(tmp_path / "missing.npz")
    assert main(["evaluate", str(trained / "out" / "model.pt"), "--data", str(npz)]) == 0
    assert "5 graphs" in capsys.readouterr().out


def test_predict_reports_forces_and_writes_extxyz(trained, tmp_path, capsys):
    structures = tmp_path / "structures.extxyz"
    write(structures, emt_frames(2, seed=11))
    out = tmp_path / "predicted.extxyz"
    assert main(["predict", str(trained / "out" / "model.pt"), str(structures), "--extxyz", str(out)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert len(rows) == 2 and np.asarray(rows[0]["forces"]).shape == (4, 3) and "stress" in rows[0]
    predicted = read(out, index=":")
    assert len(predicted) == 2 and predicted[0].get_forces().shape == (4, 3)
    assert predicted[0].get_potential_energy() == pytest.approx(rows[0]["energy"])


@pytest.mark.parametrize("where", ["forces", "energy", "positions"])
def test_non_finite_training_data_is_rejected_at_load(tmp_path, where):
    frames = emt_frames(3)
    atoms = frames[1]
    from ase.calculators.singlepoint import SinglePointCalculator

    energy, forces = atoms.get_potential_energy(), atoms.get_forces().copy()
    if where == "forces":
        forces[2, 1] = np.nan
    elif where == "energy":
        energy = np.inf
    else:
        atoms.positions[0, 0] = np.nan
    atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
    path = tmp_path / "bad.extxyz"
    write(path, frames)
    with pytest.raises(DatasetError, match=rf"bad.extxyz, frame 1: {where} contains 1 NaN or infinite"):
        read_ase_frames(path)


def test_a_diverging_run_stops_and_keeps_the_last_good_model(trained, tmp_path, capsys):
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(trained / "out", folder / "out")
    last, model = folder / "out" / "checkpoints" / "last.ckpt", folder / "out" / "model.pt"
    before = (last.read_bytes(), model.read_bytes())
    config = run_config(trained / "train.extxyz", folder / "out", lr=1e30, max_epochs=3)
    (folder / "run.yaml").write_text(yaml.safe_dump(config))
    assert main(["train", str(folder / "run.yaml")]) == 2
    err = capsys.readouterr().err
    assert "error: non-finite training loss at step" in err and "Traceback" not in err
    assert (last.read_bytes(), model.read_bytes()) == before


def test_runs_are_relocatable(trained, tmp_path, monkeypatch, capsys):
    config = tmp_path / "configs" / "run.yaml"
    config.parent.mkdir()
    (tmp_path / "configs" / "data.extxyz").write_bytes((trained / "train.extxyz").read_bytes())
    config.write_text(yaml.safe_dump({**run_config("data.extxyz", tmp_path / "out")}))
    monkeypatch.chdir(tmp_path)  # data.extxyz is not here: it is found beside the config
    run = load_run_config(config)
    assert run.data.path == str((tmp_path / "configs" / "data.extxyz").resolve())
    assert main(["train", str(config)]) == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["evaluate", str(tmp_path / "out" / "model.pt")]) == 0
    assert "test set" in capsys.readouterr().out


def test_run_shorter_than_an_epoch_has_a_learning_curve(tmp_path):
    import pandas as pd

    write(tmp_path / "data.extxyz", emt_frames(40, seed=1))
    config = run_config(tmp_path / "data.extxyz", tmp_path / "out", max_steps=12)
    config["data"].update(train_size=32, batch_size=1)
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    assert main(["train", str(tmp_path / "run.yaml")]) == 0
    logged = pd.read_csv(tmp_path / "out" / "logs" / "run0" / "metrics.csv")
    assert logged["train/loss_step"].notna().sum() >= 1 and logged["elapsed_min"].notna().sum() >= 1
    assert (tmp_path / "out" / "learning_curve_forces.png").stat().st_size > 10_000
    assert os.path.getsize(tmp_path / "out" / "test_metrics.json") > 0 and torch.load(
        tmp_path / "out" / "model.pt", weights_only=True)
