"""EPT goes through the library's training command and runs in the ASE calculator (molecules)."""

import yaml
from ase.build import molecule
from ase.io import write

from equiformers.testing.structures import emt_labelled

SPEC = {"model": "ept", "config": {"elements": ["H", "C", "O"], "hidden_channels": 16, "ffn_channels": 16,
                                   "num_heads": 2, "num_layers": 1, "num_rbf": 8, "edge_channels": 4},
        "heads": {"energy": {"type": "ept_property", "pool": "atom_sum"}}}


def test_trains_with_the_cli_and_runs_in_the_calculator(tmp_path):
    from equiformers.calculators import EquiformerCalculator
    from equiformers.cli.main import main

    write(tmp_path / "methanol.extxyz", emt_labelled(lambda: molecule("CH3OH"), 24, stdev=0.05))
    run = {"model": SPEC, "data": {"dataset": "frames", "path": str(tmp_path / "methanol.extxyz"),
                                   "targets": ["energy"], "train_size": 16, "val_size": 4, "batch_size": 4,
                                   "eval_batch_size": 8},
           "task": {"type": "energy_forces", "loss": "l2mae"},
           "training": {"max_epochs": 1, "lr": 1e-3, "warmup_epochs": 0.5, "progress_bar": False},
           "output_dir": str(tmp_path / "out")}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(run))
    assert main(["train", str(tmp_path / "run.yaml")]) == 0
    atoms = molecule("CH3OH")
    atoms.rattle(0.02, seed=1)
    atoms.calc = EquiformerCalculator(tmp_path / "out" / "model.pt")
    assert atoms.get_forces().shape == (6, 3)
