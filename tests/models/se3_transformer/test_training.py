"""The family trains through ``equiformers train`` and its model file runs in the ASE calculator."""

import pytest
from ase.build import bulk

from equiformers.calculators import EquiformerCalculator
from equiformers.testing.workflows import train_on_emt_copper


def test_trains_with_the_cli_and_runs_in_the_calculator(tmp_path):
    model = {"preset": "se3-transformer-pdbbind-efficient", "elements": ["Cu", "Ni"], "num_layers": 1, "channels": 4,
             "num_heads": 2, "out_channels": 4, "cutoff": 3.0,
             "heads": {"energy": {"type": "graph_scalar", "feature": "node_scalars", "pool": "sum"}}}
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    atoms.calc = EquiformerCalculator(train_on_emt_copper(tmp_path, model, epochs=1))
    assert atoms.get_forces().shape == (4, 3) and atoms.get_stress().shape == (6,)


def test_qm9_preset_trains_on_bonded_graphs_with_bond_types(tmp_path):
    """Fuchs' set-up from the CLI: bonded QM9 graphs with bond types from the SMILES (data.bonds on
    because the model reads them), random-rotation augmentation, NVIDIA's split; then evaluate."""
    import json

    import yaml

    from equiformers.cli.main import main
    from equiformers.training.checkpoint import load_model

    run = {"model": {"preset": "se3-transformer-qm9", "num_layers": 1, "num_degrees": 2, "channels": 4,
                     "num_heads": 2, "out_channels": 4},
           "data": {"dataset": "qm9", "targets": ["gap"], "train_size": 24, "val_size": 8, "test_size": 8,
                    "batch_size": 8, "eval_batch_size": 8, "split_scheme": "nvidia", "augment_rotation": True},
           "training": {"max_epochs": 1, "progress_bar": False}, "output_dir": str(tmp_path / "out")}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(run))
    assert main(["train", str(tmp_path / "run.yaml")]) == 0
    model, meta = load_model(tmp_path / "out" / "model.pt")
    assert model.graph_spec.kind == "bonded" and meta["run_config"]["data"]["bonds"] is True
    assert main(["evaluate", str(tmp_path / "out" / "model.pt"), "--output", str(tmp_path / "m.json")]) == 0
    assert json.loads((tmp_path / "m.json").read_text())["num_graphs"] == 8


SE3_PRESETS = ["se3-transformer-qm9", "se3-transformer-qm9-nvidia", "se3-transformer-qm9-efficient",
               "se3-transformer-pdbbind-original", "se3-transformer-pdbbind-efficient",
               "se3-transformer-pdbbind-efficient-dot", "se3-transformer-pdbbind-efficient-scalar"]


@pytest.mark.parametrize("preset", SE3_PRESETS)
def test_every_preset_trains_unchanged_from_the_cli(tmp_path, preset):
    """Each shipped preset at its full size: two QM9 training steps through ``equiformers train``."""
    import yaml

    from equiformers.cli.main import main

    run = {"model": {"preset": preset},
           "data": {"dataset": "qm9", "targets": ["gap"], "train_size": 4, "val_size": 2, "test_size": 2,
                    "batch_size": 2, "eval_batch_size": 2},
           "training": {"max_epochs": 1, "progress_bar": False}, "output_dir": str(tmp_path / "out")}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(run))
    assert main(["train", str(tmp_path / "run.yaml")]) == 0
    assert (tmp_path / "out" / "model.pt").exists()
