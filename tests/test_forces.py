"""Conservative forces and stress: finite differences, rotation, batching (float64)."""

import numpy as np
import pytest
import torch
from ase.build import bulk

import equiformers
from equiformers.data import collate, from_ase, keys as K
from equiformers.tasks.forces import energy_forces_stress
from equiformers.testing import random_rotation, rattled_molecules
from equiformers.testing.model_suite import transform

SMALL = {"num_layers": 2, "channels": [16, 8, 4], "num_heads": 2, "readout_channels": 16, "num_basis": 8,
         "radial_hidden": [8, 8]}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return equiformers.build_model("equiformer-md17-l2", **SMALL).double().eval()


def energy(model, data):
    with torch.no_grad():
        return model(data)["energy"].sum().item()


def test_forces_equal_central_finite_differences(model):
    data = collate([from_ase(rattled_molecules(["CH3CH2OH"])[0], model.cutoff)])
    forces = energy_forces_stress(model, data)["forces"]
    h, numeric = 1e-5, torch.zeros_like(forces)
    for atom in range(forces.shape[0]):
        for axis in range(3):
            plus, minus = dict(data), dict(data)
            plus[K.POSITIONS] = data[K.POSITIONS].clone()
            minus[K.POSITIONS] = data[K.POSITIONS].clone()
            plus[K.POSITIONS][atom, axis] += h
            minus[K.POSITIONS][atom, axis] -= h
            numeric[atom, axis] = -(energy(model, plus) - energy(model, minus)) / (2 * h)
    assert torch.allclose(forces, numeric, atol=1e-7, rtol=1e-6)


def test_forces_rotate_with_the_molecule(model):
    data = collate([from_ase(a, model.cutoff) for a in rattled_molecules(["C6H6", "CH3CONH2"])])
    rotation = random_rotation(torch.float64, torch.Generator().manual_seed(4))
    before = energy_forces_stress(model, data)["forces"]
    after = energy_forces_stress(model, transform(data, rotation, torch.tensor([1.0, 2.0, 3.0])))["forces"]
    assert (after - before @ rotation.T).abs().max() / before.abs().max() < 1e-9


def test_training_forces_are_differentiable(model):
    data = collate([from_ase(rattled_molecules(["H2O"])[0], model.cutoff)])
    out = energy_forces_stress(model, data, training=True)
    out["forces"].pow(2).sum().backward()  # double backward reaches the weights
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    model.zero_grad(set_to_none=True)


def test_stress_equals_finite_difference_of_strain(model):
    atoms = bulk("C", "diamond", a=3.57)
    atoms.rattle(0.05, seed=0)
    atoms.numbers[1] = 7
    data = collate([from_ase(atoms, model.cutoff)])
    stress = energy_forces_stress(model, data, compute_stress=True)["stress"][0]
    volume, h = atoms.get_volume(), 1e-5
    for i, j in [(0, 0), (1, 2), (2, 1), (0, 1)]:
        values = []
        for sign in (1, -1):
            strain = np.eye(3)
            strain[i, j] += sign * h / 2
            strain[j, i] += sign * h / 2
            strained = atoms.copy()
            strained.set_cell(atoms.cell.array @ strain, scale_atoms=True)
            values.append(energy(model, collate([from_ase(strained, model.cutoff)])))
        numeric = (values[0] - values[1]) / (2 * h) / volume
        assert abs(float(stress[i, j]) - numeric) < 1e-7 + 1e-5 * abs(numeric)


def test_atom_reference_energies_are_added_per_atom(model):
    data = collate([from_ase(a, model.cutoff) for a in rattled_molecules(["CH4", "H2O"])])
    base = model(data)["energy"].detach()
    reference = torch.zeros(64, 1, dtype=torch.float64)
    reference[1], reference[6], reference[8] = -13.6, -1000.0, -2000.0
    model.head.set_atom_reference(reference)
    try:
        shifted = model(data)["energy"].detach()
    finally:
        model.head.set_atom_reference(torch.zeros(64, 1))
    assert torch.allclose(shifted - base, torch.tensor([-1000.0 - 4 * 13.6, -2000.0 - 2 * 13.6],
                                                       dtype=torch.float64))


@pytest.mark.parametrize("symmetry", ["se3", "e3"])
def test_direct_force_head_is_equivariant_and_trainable(symmetry):
    torch.manual_seed(0)
    model = equiformers.build_model("equiformer-md17-l2", **SMALL, symmetry=symmetry, direct_forces=True).double()
    data = collate([from_ase(a, model.cutoff) for a in rattled_molecules(["C6H6", "CH3CONH2"])])
    rotation = random_rotation(torch.float64, torch.Generator().manual_seed(6))
    matrices = [rotation] + ([-rotation] if symmetry == "e3" else [])
    before = energy_forces_stress(model, data)["forces"]
    for matrix in matrices:
        after = energy_forces_stress(model, transform(data, matrix, torch.tensor([1.0, 0.0, 0.0])))["forces"]
        assert (after - before @ matrix.T).abs().max() / before.abs().max() < 1e-9
    out = energy_forces_stress(model, data, training=True)
    out["forces"].sum().backward()
    assert model.force_head.weights[0].grad is not None
