"""NVE energy-conservation check shared by the calculator tests."""

from typing import NamedTuple

import numpy as np
import torch
from ase import Atoms


class NVEResult(NamedTuple):
    energy_range: float  # max - min of the total energy along the run (eV)
    kinetic_energy: float  # equipartition 3/2 N k T at the start temperature (eV), a scale for the range
    final_atoms: Atoms  # the last frame, to check what the run went through (e.g. edges crossing a cutoff)


def nve_total_energy_range(model, atoms, steps: int, timestep_fs: float = 0.25, temperature_K: float = 300.0,
                           seed: int = 0, interval: int = 10) -> NVEResult:
    """Run velocity-Verlet NVE with the model in float64 from Maxwell-Boltzmann velocities."""
    from ase import units
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
    from ase.md.verlet import VelocityVerlet

    from ..calculators import EquiformerCalculator

    atoms = atoms.copy()
    atoms.calc = EquiformerCalculator(model, device="cpu", dtype=torch.float64)
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_K, rng=np.random.default_rng(seed))
    total = []
    dyn = VelocityVerlet(atoms, timestep=timestep_fs * units.fs)
    dyn.attach(lambda: total.append(atoms.get_total_energy()), interval=interval)
    dyn.run(steps)
    return NVEResult(max(total) - min(total), 1.5 * len(atoms) * units.kB * temperature_K, atoms)
