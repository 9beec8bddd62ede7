"""The ASE calculator: equals the model called directly; drives MD and optimisers; conserves energy in NVE."""

import numpy as np
import pytest
import torch
from ase.build import bulk, molecule
from ase.optimize import BFGS

import equiformers
from equiformers.calculators import EquiformerCalculator
from equiformers.data import collate, from_ase
from equiformers.errors import ConfigError
from equiformers.testing.dynamics import nve_total_energy_range
from equiformers.tasks.forces import energy_forces_stress
from equiformers.training.checkpoint import save_model

SMALL = {"num_layers": 2, "channels": [16, 8], "num_heads": 2, "readout_channels": 16, "num_basis": 8,
         "radial_hidden": [8, 8]}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    model = equiformers.build_model("equiformer-md17-l2", **SMALL)
    # a gentle surface for the dynamics tests: an untrained model scaled to 50 meV per unit output
    model.set_output_statistics("energy", scale=0.05, shift=0.0)
    return model


def test_calculator_equals_model(model, tmp_path):
    atoms = molecule("CH3CH2OH")
    atoms.rattle(0.02, seed=1)
    path = save_model(model, tmp_path / "model.pt")
    atoms.calc = EquiformerCalculator(path, device="cpu", dtype=torch.float64)
    reference_model = model.double()
    direct = energy_forces_stress(reference_model, collate([model.prepare(from_ase(atoms))]))
    assert atoms.get_potential_energy() == pytest.approx(float(direct["energy"][0]), abs=1e-12)
    np.testing.assert_allclose(atoms.get_forces(), direct["forces"].numpy(), atol=1e-12)
    model.float()


def test_periodic_stress_is_reported(model):
    atoms = bulk("C", "diamond", a=3.57)
    atoms.calc = EquiformerCalculator(model, device="cpu")
    assert atoms.get_stress().shape == (6,) and np.isfinite(atoms.get_stress()).all()


def test_optimiser_lowers_the_energy(model):
    atoms = molecule("H2O")
    atoms.rattle(0.1, seed=0)
    atoms.calc = EquiformerCalculator(model, device="cpu", dtype=torch.float64)
    start = atoms.get_potential_energy()
    BFGS(atoms, logfile=None).run(fmax=1e-4, steps=30)
    assert atoms.get_potential_energy() < start


def test_nve_conserves_total_energy(model):
    """1,000 velocity-Verlet steps of 0.25 fs in float64: the total energy varies < 1% of the kinetic energy.

    The untrained model does not bind the molecule, so atoms drift apart; a 12 Å cutoff keeps every
    pair inside it. (Equiformer, like the reference, is not smooth where an edge crosses the
    cutoff: the attention softmax renormalises. See the README.)
    """
    torch.manual_seed(0)
    wide = equiformers.build_model("equiformer-md17-l2", **SMALL, cutoff=12.0)
    wide.set_output_statistics("energy", scale=0.05, shift=0.0)
    drift, kinetic, _ = nve_total_energy_range(wide, molecule("CH3OH"), steps=1000, seed=0)
    assert drift < 0.01 * kinetic, f"total energy varied by {drift:.2e} eV"


def test_model_without_energy_is_rejected():
    model = equiformers.build_model("equiformer-qm9", num_layers=1, channels=[8], num_heads=2)
    with pytest.raises(ConfigError, match="needs an energy model"):
        EquiformerCalculator(model)


def test_calculator_refuses_structures_outside_the_domain_and_warns_once():
    import warnings

    from equiformers.data.domain import TrainingDomain
    from equiformers.errors import EquiformersWarning, InvalidStructureError

    torch.manual_seed(0)
    model = equiformers.build_model("equiformer-md17-l2", num_layers=1, channels=[8, 4], num_heads=2,
                                    readout_channels=8, num_basis=8, radial_hidden=[8, 8])
    domain = TrainingDomain(elements=(1, 6, 8), min_distance=0.95)
    silane = molecule("SiH4")
    silane.calc = EquiformerCalculator(model, device="cpu", domain=domain)
    with pytest.raises(InvalidStructureError, match="has Si, which the model never saw"):
        silane.get_potential_energy()
    water = molecule("H2O")
    water.calc = EquiformerCalculator(model, device="cpu", domain=domain)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for scale in (0.6, 0.58, 0.56):  # O-H bonds far below the training's shortest distance
            water.set_positions(molecule("H2O").positions * scale)
            water.get_potential_energy()
    assert [w.category for w in caught] == [EquiformersWarning]  # once per kind, not every step
    water.set_positions(molecule("H2O").positions * 0.3)
    with pytest.raises(InvalidStructureError, match="overlapping atoms"):
        water.get_potential_energy()
