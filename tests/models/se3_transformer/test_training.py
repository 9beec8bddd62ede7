"""The family trains through ``equiformers train`` and its model file runs in the ASE calculator."""

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
