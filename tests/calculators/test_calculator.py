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
