"""``smooth_cutoff``: the energy is continuous where an edge crosses the cutoff, and NVE conserves
energy while pairs enter and leave it. The paper's model (the default) jumps there."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import molecule

import equiformers
from equiformers.data import collate, from_ase
from equiformers.ops.scatter import segment_softmax
from equiformers.tasks.forces import energy_forces_stress
from equiformers.testing.dynamics import nve_total_energy_range

SMALL = {"num_layers": 2, "channels": [16, 8], "num_heads": 2, "readout_channels": 16, "num_basis": 8,
         "radial_hidden": [8, 8], "alpha_drop": 0.0}


def _model(smooth: bool, **overrides):
    torch.manual_seed(0)
    model = equiformers.build_model("equiformer-md17-l2", **{**SMALL, **overrides}, smooth_cutoff=smooth)
    model.set_output_statistics("energy", scale=0.05, shift=0.0)  # 50 meV per unit output
    return model.double().eval()


def _water_and_h_at(distance: float):
    """Water and a lone H atom ``distance`` Å along +x from water's atom of largest x: every other
    pair is farther apart, so exactly one pair crosses the cutoff as ``distance`` does."""
    atoms = molecule("H2O")
    atoms.rattle(0.05, seed=0)
    nearest = atoms.positions[atoms.positions[:, 0].argmax()]
    return atoms + Atoms("H", positions=[nearest + [distance, 0.0, 0.0]])


def _energy_forces(model, atoms):
    out = energy_forces_stress(model, collate([model.prepare(from_ase(atoms))]))
    return float(out["energy"][0]), out["forces"].detach().numpy()


@pytest.mark.parametrize("smooth", [False, True])
def test_energy_across_the_cutoff(smooth):
    model = _model(smooth)
    inside_e, inside_f = _energy_forces(model, _water_and_h_at(model.cutoff - 1e-6))
    outside_e, outside_f = _energy_forces(model, _water_and_h_at(model.cutoff + 1e-6))
    if smooth:
        assert abs(inside_e - outside_e) < 1e-12
        np.testing.assert_allclose(inside_f, outside_f, atol=1e-9)
    else:  # the paper's softmax renormalises as soon as the edge exists: a finite jump
        assert abs(inside_e - outside_e) > 1e-6


def test_weighted_softmax_with_unit_weights_is_a_softmax_with_a_sink():
    logits = torch.randn(7, 3, dtype=torch.float64)
    index = torch.tensor([0, 0, 0, 1, 1, 2, 2])
    with_sink = torch.cat([logits, torch.zeros(3, 3, dtype=torch.float64)])  # one zero-logit edge per atom
    expected = segment_softmax(with_sink, torch.cat([index, torch.arange(3)]), 3)[:7]
    got = segment_softmax(logits, index, 3, weights=torch.ones(7, dtype=torch.float64))
    torch.testing.assert_close(got, expected)


def test_weighted_softmax_is_stable_for_large_logits():
    got = segment_softmax(torch.tensor([1000.0, 1000.0]), torch.tensor([0, 0]), 1, weights=torch.tensor([1.0, 0.0]))
    torch.testing.assert_close(got, torch.tensor([1.0, 0.0]))


def test_nve_conserves_energy_while_edges_cross_the_cutoff():
    """3 Å cutoff, 600 K: the untrained model does not bind methanol, atoms fly apart and many pairs
    leave the cutoff during the run. With ``smooth_cutoff`` the total energy still holds."""
    model = _model(True, cutoff=3.0)
    start = molecule("CH3OH")
    result = nve_total_energy_range(model, start, steps=1000, temperature_K=600.0, seed=0)
    edges_before = from_ase(start, 3.0)["edge_index"].shape[1]
    edges_after = from_ase(result.final_atoms, 3.0)["edge_index"].shape[1]
    assert edges_after != edges_before, "no edge crossed the cutoff: the test would prove nothing"
    assert result.energy_range < 0.01 * result.kinetic_energy, f"total energy varied by {result.energy_range:.2e} eV"
