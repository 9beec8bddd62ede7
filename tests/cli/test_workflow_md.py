"""The energy/force workflow through the CLI: xTB data -> train -> evaluate -> md -> relax."""

import json

import numpy as np
import pytest
import yaml

from equiformers.cli.main import main

pytest.importorskip("tblite")
pytest.importorskip("rdkit")


@pytest.fixture(scope="module")
def workflow(tmp_path_factory):
    folder = tmp_path_factory.mktemp("workflow")
    assert main(["data", "md17-xtb", "ethanol", "--steps", "120", "--interval", "5",
                 "--output", str(folder / "data")]) == 0
    run = {
        "model": {"preset": "equiformer-md17-l2", "channels": [8, 4], "num_layers": 1, "num_heads": 2,
                  "readout_channels": 8, "num_basis": 8, "radial_hidden": [8, 8]},
        "data": {"dataset": "frames", "path": str(folder / "data" / "ethanol.npz"), "targets": ["energy"],
                 "train_size": 14, "val_size": 4, "batch_size": 7, "eval_batch_size": 8},
        "training": {"max_epochs": 2, "lr": 1e-3, "progress_bar": False},
        "output_dir": str(folder / "run"),
    }
    (folder / "run.yaml").write_text(yaml.safe_dump(run))
    assert main(["train", str(folder / "run.yaml")]) == 0
    return folder


def test_generated_data(workflow):
    from equiformers.data.frames import read_ase_frames, read_npz_frames

    xyz = read_ase_frames(workflow / "data" / "ethanol.extxyz")
    npz = read_npz_frames(workflow / "data" / "ethanol.npz")
    assert len(xyz) == len(npz) == 24 and npz.numbers[0].tolist().count(1) == 6
    np.testing.assert_allclose(npz.energy, xyz.energy, rtol=1e-9)
    assert 0.01 < np.std(xyz.energy) < 1.0  # eV: a thermal trajectory, not a frozen or exploding one


def test_resume_generation_extends_the_trajectory(workflow):
    from equiformers.data.frames import read_ase_frames

    assert main(["data", "md17-xtb", "ethanol", "--steps", "130", "--interval", "5",
                 "--output", str(workflow / "data")]) == 0
    assert len(read_ase_frames(workflow / "data" / "ethanol.extxyz")) == 26


def test_trained_energy_model_metrics(workflow):
    metrics = json.loads((workflow / "run" / "test_metrics.json").read_text())
    assert metrics["units"]["forces"] == "meV/Å" and metrics["num_graphs"] == 6


def test_md_and_relax_commands(workflow, capsys):
    model, structure = str(workflow / "run" / "model.pt"), str(workflow / "data" / "ethanol.extxyz")
    assert main(["md", model, structure, "--steps", "20", "--interval", "5", "--log-interval", "10",
                 "--output", str(workflow / "md.traj")]) == 0
    assert "total energy changed by" in capsys.readouterr().out
    from ase.io import read

    assert len(read(str(workflow / "md.traj"), index=":")) == 5
    assert main(["relax", model, structure, "--steps", "5", "--output", str(workflow / "relax.traj")]) == 0
    assert (workflow / "relax.final.xyz").is_file()
