"""The suite energy models pass on top of the basic one: forces and stress are the derivatives
they claim to be, and the energy is local, extensive (sum-pooled) and smooth where it says so."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule

from ...data import collate, from_ase, keys as K
from ...tasks.forces import energy_forces_stress, has_direct_forces
from ..structures import rattled_molecules
from ..symmetry import random_rotation
from .basic import BasicModelSuite
from .common import relative_error, transform


class EnergyModelSuite(BasicModelSuite):
    """For models with an ``energy`` output (eV); forces are -dE/dx unless a direct head writes them."""

    energy_key = "energy"

    def energy(self, model, data) -> float:
        with torch.no_grad():
            return float(model(data)[self.energy_key].sum())

    def forces(self, model, data) -> torch.Tensor:
        return energy_forces_stress(model, data, self.energy_key)["forces"]

    def test_forces_equal_central_finite_differences(self, model_spec):
        model = self.build(model_spec)
        if has_direct_forces(model):
            pytest.skip("direct forces are not the gradient of the energy")
        data = self.batch(model, rattled_molecules(["CH3OH"]))
        forces, h = self.forces(model, data), 1e-5
        numeric = torch.zeros_like(forces)
        for atom in range(forces.shape[0]):
            for axis in range(3):
                values = []
                for sign in (1, -1):
                    moved = dict(data)
                    moved[K.POSITIONS] = data[K.POSITIONS].clone()
                    moved[K.POSITIONS][atom, axis] += sign * h
                    values.append(self.energy(model, moved))
                numeric[atom, axis] = -(values[0] - values[1]) / (2 * h)
        assert torch.allclose(forces, numeric, atol=1e-7, rtol=1e-6)

    def test_forces_rotate_with_the_structure(self, model_spec):
        model = self.build(model_spec)
        data = self.batch(model, rattled_molecules(["C6H6", "CH3CONH2"]))
        rotation = random_rotation(torch.float64, torch.Generator().manual_seed(4))
        matrices = [rotation] + ([-rotation] if model.backbone.vector_irrep == "1o" else [])
        before = self.forces(model, data)
        for matrix in matrices:
            after = self.forces(model, transform(data, matrix, torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)))
            assert relative_error(after, before @ matrix.T) < self.tolerance[torch.float64]

    def test_training_forces_reach_the_weights(self, model_spec):
        model = self.build(model_spec)
        data = self.batch(model, rattled_molecules(["H2O"]))
        energy_forces_stress(model, data, self.energy_key, training=True)["forces"].pow(2).sum().backward()
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())

    def test_stress_equals_finite_difference_of_strain(self, model_spec):
        model = self.build(model_spec)
        if has_direct_forces(model):
            pytest.skip("stress is computed for conservative models only")
        atoms = bulk("C", "diamond", a=3.57)
        atoms.rattle(0.05, seed=0)
        atoms.numbers[1] = 7
        stress = energy_forces_stress(model, self.batch(model, [atoms]), self.energy_key,
                                      compute_stress=True)["stress"][0]
        volume, h = atoms.get_volume(), 1e-5
        for i, j in [(0, 0), (1, 2), (2, 1), (0, 1)]:
            values = []
            for sign in (1, -1):
                strain = np.eye(3)
                strain[i, j] += sign * h / 2
                strain[j, i] += sign * h / 2
                strained = atoms.copy()
                strained.set_cell(atoms.cell.array @ strain, scale_atoms=True)
                values.append(self.energy(model, self.batch(model, [strained])))
            numeric = (values[0] - values[1]) / (2 * h) / volume
            assert abs(float(stress[i, j]) - numeric) < 1e-7 + 1e-5 * abs(numeric)

    def test_isolated_atom_has_finite_energy_and_no_force(self, model_spec):
        model = self.build(model_spec)
        data = self.batch(model, [Atoms("O", positions=[[0.0, 0.0, 0.0]])])
        out = energy_forces_stress(model, data, self.energy_key)
        assert torch.isfinite(out[self.energy_key]).all() and torch.equal(out["forces"], torch.zeros(1, 3,
                                                                                                  dtype=out["forces"].dtype))

    def test_fragments_beyond_the_cutoff_do_not_interact(self, model_spec):
        """Forces on a molecule are unchanged by another one farther away than the cutoff."""
        model = self.build(model_spec)
        if model.cutoff is None:
            pytest.skip("no cutoff")
        a, b = rattled_molecules(["H2O", "CH4"])
        b.positions += [model.cutoff + 10.0, 0.0, 0.0]
        alone = self.forces(model, self.batch(model, [a]))
        together = self.forces(model, self.batch(model, [a + b]))[: len(a)]
        assert relative_error(together, alone) < 1e-12

    def test_energy_continuous_at_the_cutoff_when_smooth(self, model_spec):
        """A model that says it is smooth has no jump when one pair crosses the cutoff."""
        model = self.build(model_spec)
        if not model.smooth_at_cutoff or model.cutoff is None:
            pytest.skip("the model does not claim smoothness at the cutoff")
        water = molecule("H2O")
        water.rattle(0.05, seed=0)
        nearest = water.positions[water.positions[:, 0].argmax()]
        energies = [self.energy(model, self.batch(model, [water + Atoms("H", positions=[nearest + [d, 0, 0]])]))
                    for d in (model.cutoff - 1e-7, model.cutoff + 1e-7)]
        assert abs(energies[0] - energies[1]) < 1e-9
