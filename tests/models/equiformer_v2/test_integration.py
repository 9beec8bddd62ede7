"""EquiformerV2 trains with ``equiformers train`` and runs in the ASE calculator, with direct forces
(the reference's heads) and with conservative forces and stress."""

import pytest
from ase.build import bulk

from equiformers.calculators import EquiformerCalculator
from equiformers.testing.workflows import train_on_emt_copper

from .conftest import TINY


@pytest.mark.parametrize("forces", ["direct", "conservative"])
def test_trains_with_the_cli_and_runs_in_the_calculator(tmp_path, forces):
    heads = {"energy": {"type": "eqv2_energy"}}
    if forces == "direct":
        heads["forces"] = {"type": "eqv2_forces"}
    model_file = train_on_emt_copper(tmp_path, {"model": "equiformer_v2", "heads": heads,
                                                "config": {**TINY, "elements": ["Cu", "Ni"], "use_grid_mlp": True}})
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    atoms.calc = EquiformerCalculator(model_file)
    assert atoms.get_forces().shape == (4, 3)
    if forces == "conservative":
        assert atoms.get_stress().shape == (6,)
