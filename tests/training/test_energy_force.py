"""Energy/force data formats and training end to end on EMT reference data (periodic Cu)."""

import json

import numpy as np
import pytest
import yaml
from ase.io import write

from equiformers.cli.main import main
from equiformers.data.frames import KCAL_PER_MOL_TO_EV, FramesDataset, frame_split, read_ase_frames, read_npz_frames
from equiformers.errors import DatasetError
from equiformers.testing.structures import copper_with_one_nickel, emt_labelled


def emt_frames(n: int, seed: int = 0):
    return emt_labelled(copper_with_one_nickel, n, stdev=0.08, seed=seed)


@pytest.fixture(scope="module")
def extxyz(tmp_path_factory):
    path = tmp_path_factory.mktemp("emt") / "cu.extxyz"
    write(path, emt_frames(40))
    return path


def test_extxyz_frames_and_split(extxyz):
    frames = read_ase_frames(extxyz)
    assert len(frames) == 40 and frames.forces[0].shape == (4, 3) and frames.pbc[0].all()
    split = frame_split(40, train=20, val=5)
    assert sorted(np.concatenate(list(split.values())).tolist()) == list(range(40))
    item = FramesDataset(frames, 4.0, split["train"])[0]
    assert item["forces"].shape == (4, 3) and item["edge_index"].shape[1] > 0


def test_custom_keys_and_missing_keys(tmp_path):
    atoms = emt_frames(1)[0]
    atoms.info["E_dft"] = atoms.get_potential_energy()
    atoms.arrays["F_dft"] = atoms.get_forces()
    atoms.calc = None
    path = tmp_path / "custom.extxyz"
    write(path, atoms)
    frames = read_ase_frames(path, energy_key="E_dft", forces_key="F_dft")
    assert frames.energy[0] == pytest.approx(atoms.info["E_dft"])
    with pytest.raises(DatasetError, match="no energy under key 'energy'"):
        read_ase_frames(path)


@pytest.mark.parametrize("layout, keys", [("md17", ("R", "z", "E", "F")),
                                          ("rmd17", ("coords", "nuclear_charges", "energies", "forces"))])
def test_npz_layouts_convert_kcal_per_mol(tmp_path, layout, keys):
    rng = np.random.default_rng(0)
    positions, numbers = rng.normal(size=(5, 3, 3)), np.array([8, 1, 1])
    energy, forces = rng.normal(size=(5, 1)) - 1000, rng.normal(size=(5, 3, 3))
    path = tmp_path / f"{layout}.npz"
    np.savez(path, **dict(zip(keys, (positions, numbers, energy, forces))))
    frames = read_npz_frames(path)  # layout detected from the keys
    np.testing.assert_allclose(frames.energy, energy[:, 0] * KCAL_PER_MOL_TO_EV)
    np.testing.assert_allclose(frames.forces[2], forces[2] * KCAL_PER_MOL_TO_EV)
    assert KCAL_PER_MOL_TO_EV * 0.121 * 1000 == pytest.approx(5.25, abs=0.01)  # equiformer #15: 0.121 kcal/mol


def test_npz_with_wrong_keys_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, positions=np.zeros((1, 1, 3)))
    with pytest.raises(DatasetError, match="neither the MD17 keys"):
        read_npz_frames(path)


def test_energy_force_training_end_to_end(extxyz, tmp_path):
    run = {
        "model": {"preset": "equiformer-md17-l2", "channels": [8, 4], "num_layers": 1, "num_heads": 2,
                  "readout_channels": 8, "num_basis": 8, "radial_hidden": [8, 8], "cutoff": 4.0},
        "data": {"dataset": "frames", "path": str(extxyz), "targets": ["energy"], "train_size": 24,
                 "val_size": 8, "batch_size": 8, "eval_batch_size": 8},
        "training": {"max_epochs": 2, "lr": 2e-3, "warmup_epochs": 0.5, "force_weight": 10.0,
                     "loss": "l2mae", "progress_bar": False},
        "output_dir": str(tmp_path / "out"),
    }
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(run))
    assert main(["train", str(config)]) == 0
    metrics = json.loads((tmp_path / "out" / "test_metrics.json").read_text())
    assert metrics["units"] == {"energy": "meV", "forces": "meV/Å"} and metrics["num_graphs"] == 8
    assert np.isfinite(metrics["mae"]["energy"]) and np.isfinite(metrics["mae"]["forces"])
    for name in ("parity_energy.png", "parity_forces.png", "learning_curve_forces.png", "model.pt"):
        assert (tmp_path / "out" / name).is_file()

    from equiformers.training.checkpoint import load_model

    model, meta = load_model(tmp_path / "out" / "model.pt")
    # one composition (Cu3Ni) in every frame: the least-squares E0s must sum to the mean training energy
    from equiformers.data.datasets import build_dataset
    from equiformers.training.config import run_config_from_dict

    train = build_dataset(run_config_from_dict(meta["run_config"]).data, "train")
    e0 = model.output_scaling["energy"].atom_reference.double()
    assert float(3 * e0[29] + e0[28]) == pytest.approx(float(train.target_array().mean()), abs=1e-6)  # float32 buffer
    assert float(model.output_scale("energy")) == pytest.approx(
        float(np.sqrt(np.mean([np.square(train.frames.forces[i]).mean() for i in train.indices]))), rel=1e-6)
