"""The family trains through ``equiformers train`` and its model file runs in the ASE calculator."""

import yaml


def test_trains_with_the_cli_and_runs_in_the_calculator(tmp_path):
    from ase.build import bulk
    from ase.io import write

    from equiformers.calculators import EquiformerCalculator
    from equiformers.cli.main import main
    from tests.training.test_energy_force import emt_frames

    write(tmp_path / "cu.extxyz", emt_frames(24))
    model = {"preset": "se3-transformer-pdbbind-efficient", "elements": ["Cu", "Ni"], "num_layers": 1, "channels": 4,
             "num_heads": 2, "out_channels": 4, "cutoff": 3.0,
             "heads": {"energy": {"type": "graph_scalar", "feature": "node_scalars", "pool": "sum"}}}
    run = {"model": model, "data": {"dataset": "frames", "path": str(tmp_path / "cu.extxyz"), "targets": ["energy"],
                                    "train_size": 16, "val_size": 4, "batch_size": 4, "eval_batch_size": 8},
           "task": {"type": "energy_forces", "loss": "l2mae"},
           "training": {"max_epochs": 1, "lr": 1e-3, "warmup_epochs": 0.5, "progress_bar": False},
           "output_dir": str(tmp_path / "out")}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(run))
    assert main(["train", str(tmp_path / "run.yaml")]) == 0
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    atoms.calc = EquiformerCalculator(tmp_path / "out" / "model.pt")
    assert atoms.get_forces().shape == (4, 3) and atoms.get_stress().shape == (6,)
