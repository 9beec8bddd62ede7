"""Force-related behaviour beyond the energy suite: per-atom references, direct-force training,
and the ConservativeForces wrapper. (Finite differences, rotation and stress: tests/models via
``EnergyModelSuite``.)"""

import pytest
import torch

import equiformers
from equiformers.data import collate, from_ase
from equiformers.tasks.forces import ConservativeForces, energy_forces_stress
from equiformers.testing import rattled_molecules

SMALL = {"num_layers": 2, "channels": [16, 8, 4], "num_heads": 2, "readout_channels": 16, "num_basis": 8,
         "radial_hidden": [8, 8]}
DIRECT = {"energy": {"type": "graph_scalar"}, "forces": {"type": "atom_vector"}}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return equiformers.build_model("equiformer-md17-l2", **SMALL).double().eval()


def batch(model, names):
    return collate([model.prepare(from_ase(a)) for a in rattled_molecules(names)])


def test_atom_reference_energies_are_added_per_atom(model):
    data = batch(model, ["CH4", "H2O"])
    base = model(data)["energy"].detach()
    reference = torch.zeros(64, dtype=torch.float64)
    reference[1], reference[6], reference[8] = -13.6, -1000.0, -2000.0
    model.set_output_statistics("energy", atom_reference=reference)
    try:
        shifted = model(data)["energy"].detach()
    finally:
        model.set_output_statistics("energy", atom_reference=torch.zeros(64))
    assert torch.allclose(shifted - base, torch.tensor([-1000.0 - 4 * 13.6, -2000.0 - 2 * 13.6],
                                                       dtype=torch.float64))


def test_direct_force_head_is_used_scaled_and_trainable():
    torch.manual_seed(0)
    model = equiformers.build_model("equiformer-md17-l2", **SMALL, heads=DIRECT).double()
    data = batch(model, ["C6H6"])
    plain = energy_forces_stress(model, data)["forces"]
    model.set_output_statistics("forces", scale=2.0)
    assert torch.allclose(energy_forces_stress(model, data)["forces"], 2 * plain)
    energy_forces_stress(model, data, training=True)["forces"].sum().backward()
    assert model.heads["forces"].linear.weights[0].grad is not None


def test_conservative_wrapper_equals_the_function(model):
    data = batch(model, ["CH3OH"])
    wrapped = ConservativeForces(model, compute_stress=False).eval()(data)
    assert torch.equal(wrapped["forces"], energy_forces_stress(model, data)["forces"])
