"""A model's training domain: what it records, and what it refuses or warns about."""

import pytest
import torch
from ase import Atoms
from ase.build import molecule

from equiformers.data import from_ase
from equiformers.data.domain import StructureChecks, TrainingDomain
from equiformers.data.graph import GraphSpec
from equiformers.errors import InvalidStructureError

GRAPH = GraphSpec("radius", cutoff=5.0)


def labelled(name, energy, force):
    record = from_ase(molecule(name))
    record["energy"] = torch.tensor([energy], dtype=torch.float64)
    record["forces"] = torch.full((len(record["pos"]), 3), force, dtype=torch.float64)
    return record


@pytest.fixture
def domain():
    return TrainingDomain.of_dataset([labelled("CH4", -10.0, 0.1), labelled("CH3OH", -30.0, 1.0)], GRAPH)


def test_domain_records_elements_distances_energies_and_forces(domain):
    assert domain.elements == (1, 6, 8) and domain.structures == 2
    assert domain.min_distance == pytest.approx(0.970, abs=1e-3)  # the O-H bond of methanol
    assert domain.energy_per_atom == pytest.approx((-30 / 6, -10 / 5))
    assert domain.max_force == pytest.approx(3 ** 0.5)
    assert TrainingDomain.from_dict(domain.to_dict()) == domain
    assert TrainingDomain.from_dict(None) is None


def test_new_elements_are_refused_unless_allowed(domain):
    silane = GRAPH.build(from_ase(molecule("SiH4")))
    with pytest.raises(InvalidStructureError, match="H4Si has Si, which the model never saw .* knows H, C, O"):
        StructureChecks(domain).check(silane)
    [(kind, message)] = StructureChecks(domain, allow_new_elements=True).check(silane)
    assert kind == "elements" and "extrapolation" in message


def test_overlapping_atoms_are_refused_and_short_distances_warned(domain):
    stacked = GRAPH.build(from_ase(Atoms("CH", positions=[[0, 0, 0], [0.2, 0, 0]])))
    with pytest.raises(InvalidStructureError, match="0.200 Å apart, closer than 0.5 Å"):
        StructureChecks(domain).check(stacked)
    assert StructureChecks(domain, min_distance=0.1).check(stacked)[0][0] == "distance"
    assert StructureChecks(domain, allow_overlap=True).check(stacked)[0][0] == "overlap"
    assert StructureChecks(None).check(GRAPH.build(from_ase(molecule("SiH4")))) == []  # no domain: no element check


def test_predictions_far_outside_the_labels_are_warned(domain):
    checks = StructureChecks(domain)
    assert checks.check_prediction(-12.0, 5, 0.5) == []
    kinds = [kind for kind, _ in checks.check_prediction(+40.0, 5, 50.0)]
    assert kinds == ["energy", "forces"]
