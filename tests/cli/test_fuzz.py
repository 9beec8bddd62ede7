"""Bad input across every CLI entry point: each case ends in one clear line (exit code 2, no
traceback) or, where the user allowed it, a ``warning:`` line and a result.

``CASES`` is the catalogue: (entry point, what is wrong, argv, expected exit code, text the
output must contain). The model is a tiny energy model trained on EMT ethanol (H, C, O) so that
it records a training domain; a second, untrained model has a 50 Å cutoff.
``EQUIFORMERS_FUZZ_REPORT=cases.md`` appends each case's error or warning lines to that file.
"""

import os

import numpy as np
import pytest
import torch
import yaml
from ase import Atoms
from ase.build import molecule
from ase.io import write

import equiformers
from equiformers.cli.main import main
from equiformers.testing.structures import emt_labelled
from equiformers.training.checkpoint import save_model

TINY = {"preset": "equiformer-md17-l2", "channels": [8, 4], "num_layers": 1, "num_heads": 2,
        "readout_channels": 8, "num_basis": 8, "radial_hidden": [8, 8], "cutoff": 4.0}


def ethanol_frames(n: int, seed: int = 0):
    return emt_labelled(lambda: molecule("CH3CH2OH"), n, stdev=0.05, seed=seed)


def run_config(folder, **changes):
    config = {"model": dict(TINY),
              "data": {"dataset": "frames", "path": str(folder / "train.extxyz"), "targets": ["energy"],
                       "train_size": 12, "val_size": 4, "batch_size": 4, "eval_batch_size": 8},
              "task": {"type": "energy_forces"},
              "training": {"max_epochs": 1, "lr": 1e-3, "progress_bar": False},
              "output_dir": str(folder / "out")}
    for key, value in changes.items():
        section, name = key.split(".")
        config[section][name] = value
    return config


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    write(folder / "train.extxyz", ethanol_frames(20))
    (folder / "run.yaml").write_text(yaml.safe_dump(run_config(folder)))
    assert main(["train", str(folder / "run.yaml")]) == 0
    model_file = folder / "out" / "model.pt"
    record = torch.load(model_file, weights_only=True)

    def variant(name, change):
        copy = {**record, "state_dict": dict(record["state_dict"]), "model": {**record["model"]}}
        change(copy)
        torch.save(copy, folder / name)

    def nan_weights(r):
        key = next(k for k, v in r["state_dict"].items() if v.is_floating_point())
        r["state_dict"][key] = torch.full_like(r["state_dict"][key], float("nan"))
        from equiformers.training.checkpoint import seal
        seal(r)  # a file written by a diverged run: checksum fine, weights not

    def tampered(r):
        key = next(k for k, v in r["state_dict"].items() if v.is_floating_point())
        r["state_dict"][key] = r["state_dict"][key] + 1.0  # changed after the checksum was stored

    def reshaped(r):
        r["model"]["config"] = {**r["model"]["config"], "channels": [16, 8]}

    variant("nan.pt", nan_weights)
    variant("tampered.pt", tampered)
    variant("reshaped.pt", reshaped)
    data = model_file.read_bytes()
    (folder / "truncated.pt").write_bytes(data[: len(data) // 2])
    (folder / "text.pt").write_text("not a model")
    torch.save({"weights": torch.zeros(3)}, folder / "foreign.pt")
    torch.manual_seed(0)
    wide = equiformers.build_model({**TINY, "cutoff": 50.0})
    save_model(wide, folder / "cutoff50.pt")

    structures = {
        "ethanol.xyz": molecule("CH3CH2OH"),
        "sih4.xyz": molecule("SiH4"),
        "overlap.xyz": Atoms("CCH", positions=[[0, 0, 0], [0, 0, 0], [1.1, 0, 0]]),
        "close.xyz": Atoms("OH", positions=[[0, 0, 0], [0.55, 0, 0]]),  # above 0.5 Å, far below training
        "tiny_cell.xyz": Atoms(molecule("CH3CH2OH").numbers, positions=np.random.default_rng(0).random((9, 3)),
                               cell=np.eye(3), pbc=True),
    }
    for name, atoms in structures.items():
        write(folder / name, atoms, format="extxyz")
    (folder / "empty.xyz").write_text("")
    (folder / "nan.xyz").write_text("2\nProperties=species:S:1:pos:R:3\nH nan 0 0\nH 0.7 0 0\n")
    (folder / "nan_labelled.extxyz").write_text("2\nenergy=-1.0 Properties=species:S:1:pos:R:3:forces:R:3\n"
                                                "H 0 0 0 0 0 0\nH 0.7 0 0 nan 0 0\n")
    hot = molecule("CH3CH2OH")
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
    MaxwellBoltzmannDistribution(hot, temperature_K=3000, rng=np.random.default_rng(0))
    write(folder / "hot.extxyz", hot)
    return folder


def _train_case(**changes):
    return ("train", changes)


# (id, argv template ({d} is the folder) or a train change, exit code, text expected in stdout+stderr)
CASES = [
    # --- train: run configs, checked before any data is read
    ("train: data.batch_size 0", _train_case(**{"data.batch_size": 0}), 2, "batch_size must be a positive integer"),
    ("train: data.batch_size -3", _train_case(**{"data.batch_size": -3}), 2, "batch_size must be a positive integer"),
    ("train: model.cutoff 0", _train_case(**{"model.cutoff": 0}), 2, "cutoff"),
    ("train: model.cutoff -5", _train_case(**{"model.cutoff": -5}), 2, "cutoff"),
    ("train: model.cutoff 'five'", _train_case(**{"model.cutoff": "five"}), 2, "cutoff must be a number"),
    ("train: training.max_time_minutes 0", _train_case(**{"training.max_time_minutes": 0}), 2, "max_time_minutes"),
    ("train: training.max_time_minutes -1", _train_case(**{"training.max_time_minutes": -1}), 2, "max_time_minutes"),
    ("train: training.max_steps 0", _train_case(**{"training.max_steps": 0}), 2, "max_steps"),
    ("train: training.lr 'fast'", _train_case(**{"training.lr": "fast"}), 2, "lr must be a number"),
    ("train: data.num_workers -1", _train_case(**{"data.num_workers": -1}), 2, "num_workers"),
    ("train: data.train_size -4", _train_case(**{"data.train_size": -4}), 2, "train_size"),
    ("train: data.path missing", _train_case(**{"data.path": "/nonexistent/x.extxyz"}), 2, "not found"),
    ("train: data.path empty", _train_case(**{"data.path": "{d}/empty.xyz"}), 2, "empty.xyz"),
    ("train: data.path NaN forces", _train_case(**{"data.path": "{d}/nan_labelled.extxyz"}), 2,
     "forces contains 1 NaN or infinite value"),
    ("train: unknown preset", _train_case(**{"model.preset": "equiformer-qm10"}), 2, "unknown model preset"),
    ("train: key typo", _train_case(**{"model.num_layer": 2}), 2, "did you mean 'num_layers'"),
    ("train: config missing", ["train", "{d}/none.yaml"], 2, "config file not found"),
    # --- evaluate
    ("evaluate: --batch-size 0", ["evaluate", "{d}/out/model.pt", "--batch-size", "0"], 2, "--batch-size"),
    ("evaluate: model missing", ["evaluate", "{d}/none.pt"], 2, "checkpoint not found"),
    ("evaluate: truncated model file", ["evaluate", "{d}/truncated.pt"], 2, "not a readable"),
    ("evaluate: text file as model", ["evaluate", "{d}/text.pt"], 2, "not a readable"),
    ("evaluate: foreign torch file", ["evaluate", "{d}/foreign.pt"], 2, "not an equiformers model file"),
    ("evaluate: NaN weights", ["evaluate", "{d}/nan.pt"], 2, "non-finite weights"),
    ("evaluate: weights changed after writing", ["evaluate", "{d}/tampered.pt"], 2, "checksum"),
    ("evaluate: weights of another shape", ["evaluate", "{d}/reshaped.pt"], 2, "weights do not fit"),
    ("evaluate: --data missing", ["evaluate", "{d}/out/model.pt", "--data", "{d}/none.xyz"], 2, "not found"),
    # --- predict
    ("predict: --batch-size 0", ["predict", "{d}/out/model.pt", "{d}/ethanol.xyz", "--batch-size", "0"], 2,
     "--batch-size"),
    ("predict: element outside training (SiH4)", ["predict", "{d}/out/model.pt", "{d}/sih4.xyz"], 2,
     "has Si, which the model never saw"),
    ("predict: SiH4 with --allow-new-elements", ["predict", "{d}/out/model.pt", "{d}/sih4.xyz",
                                                 "--allow-new-elements"], 0, "warning: H4Si has Si, which the model never saw"),
    ("predict: two atoms at one position", ["predict", "{d}/out/model.pt", "{d}/overlap.xyz"], 2,
     "overlapping atoms"),
    ("predict: overlap with --allow-overlap", ["predict", "{d}/out/model.pt", "{d}/overlap.xyz", "--allow-overlap"],
     0, "are 0.000 Å apart, closer than 0.5 Å (overlapping atoms)"),
    ("predict: distance far below training", ["predict", "{d}/out/model.pt", "{d}/close.xyz"], 0,
     "far below the shortest distance in training"),
    ("predict: 1 Å cell, 50 Å cutoff", ["predict", "{d}/cutoff50.pt", "{d}/tiny_cell.xyz"], 2,
     "would have about"),
    ("predict: --max-edges lowered", ["predict", "{d}/out/model.pt", "{d}/ethanol.xyz", "--max-edges", "10"], 2,
     "above the limit of 10"),
    ("predict: NaN coordinates", ["predict", "{d}/out/model.pt", "{d}/nan.xyz"], 2,
     "positions contain NaN or infinite values"),
    ("predict: empty file", ["predict", "{d}/out/model.pt", "{d}/empty.xyz"], 2, "empty.xyz"),
    ("predict: missing file", ["predict", "{d}/out/model.pt", "{d}/none.xyz"], 2, "structure file not found"),
    ("predict: --min-distance -1", ["predict", "{d}/out/model.pt", "{d}/ethanol.xyz", "--min-distance", "-1"], 2,
     "--min-distance must be a finite number > 0"),
    ("predict: --max-edges -5", ["predict", "{d}/out/model.pt", "{d}/ethanol.xyz", "--max-edges", "-5"], 2,
     "--max-edges must be a finite number >= 0"),
    ("predict: NaN weights", ["predict", "{d}/nan.pt", "{d}/ethanol.xyz"], 2, "non-finite weights"),
    # --- md
    ("md: --timestep 0", ["md", "{d}/out/model.pt", "{d}/ethanol.xyz", "--timestep", "0"], 2, "--timestep"),
    ("md: --steps -1", ["md", "{d}/out/model.pt", "{d}/ethanol.xyz", "--steps", "-1"], 2, "--steps"),
    ("md: --temperature nan", ["md", "{d}/out/model.pt", "{d}/ethanol.xyz", "--temperature", "nan"], 2,
     "--temperature"),
    ("md: --frame out of range", ["md", "{d}/out/model.pt", "{d}/ethanol.xyz", "--frame", "5"], 2,
     "--frame 5 is out of range"),
    ("md: SiH4", ["md", "{d}/out/model.pt", "{d}/sih4.xyz", "--steps", "2"], 2, "never saw in training"),
    ("md: overlapping atoms", ["md", "{d}/out/model.pt", "{d}/overlap.xyz", "--steps", "2"], 2, "overlapping atoms"),
    ("md: temperature runs away", ["md", "{d}/out/model.pt", "{d}/hot.extxyz", "--steps", "3", "--keep-momenta",
                                   "--max-temperature", "500", "--output", "{d}/md.traj"], 0,
     "warning: MD is running away"),
    ("md: NVE energy drifts", ["md", "{d}/out/model.pt", "{d}/hot.extxyz", "--steps", "5", "--timestep", "4",
                               "--max-energy-drift", "1e-9", "--output", "{d}/md.traj"], 0,
     "warning: NVE total energy drifted"),
    ("md: --max-temperature 0", ["md", "{d}/out/model.pt", "{d}/ethanol.xyz", "--max-temperature", "0"], 2,
     "--max-temperature"),
    # --- relax
    ("relax: --fmax 0", ["relax", "{d}/out/model.pt", "{d}/ethanol.xyz", "--fmax", "0"], 2, "--fmax"),
    ("relax: SiH4", ["relax", "{d}/out/model.pt", "{d}/sih4.xyz"], 2, "never saw in training"),
    ("relax: overlapping atoms", ["relax", "{d}/out/model.pt", "{d}/overlap.xyz"], 2, "overlapping atoms"),
    ("relax: 1 Å cell, 50 Å cutoff", ["relax", "{d}/cutoff50.pt", "{d}/tiny_cell.xyz"], 2, "would have about"),
    ("relax: foreign model file", ["relax", "{d}/foreign.pt", "{d}/ethanol.xyz"], 2, "not an equiformers model"),
    # --- data
    ("data: --steps -1", ["data", "md17-xtb", "ethanol", "--steps", "-1", "--output", "{d}/gen"], 2, "--steps"),
    ("data: --interval 0", ["data", "md17-xtb", "ethanol", "--interval", "0", "--output", "{d}/gen"], 2,
     "--interval"),
    ("data: --timestep inf", ["data", "md17-xtb", "ethanol", "--timestep", "inf", "--output", "{d}/gen"], 2,
     "--timestep"),
]


@pytest.mark.parametrize("name, argv, code, expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_one_clear_line(world, tmp_path, capsys, name, argv, code, expected):
    if isinstance(argv, tuple):  # a training run config with one change
        changes = {k: (v.format(d=world) if isinstance(v, str) else v) for k, v in argv[1].items()}
        if "model.preset" in changes or "model.num_layer" in changes:
            config = run_config(world)
            config["model"].update({k.split(".")[1]: v for k, v in changes.items()})
        else:
            config = run_config(world, **changes)
        config["output_dir"] = str(tmp_path / "out")
        (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
        argv = ["train", str(tmp_path / "run.yaml")]
    else:
        argv = [a.format(d=world) for a in argv]
    assert main(argv) == code, name
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert expected in text, f"{name}: expected {expected!r} in:\n{text[-2000:]}"
    assert "Traceback" not in text
    if code == 2:
        errors = [line for line in captured.err.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, captured.err
    report = os.environ.get("EQUIFORMERS_FUZZ_REPORT")  # the catalogue with what each case prints
    if report:
        lines = [line for line in text.splitlines() if line.startswith(("error:", "warning:"))]
        with open(report, "a") as handle:
            handle.write(f"| {name} | {code} | {' / '.join(lines).replace(str(world) + '/', '')} |\n")
