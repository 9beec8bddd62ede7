"""Small, generic test structures (no symmetry) built with ASE."""

from typing import Callable, List

import numpy as np
from ase import Atoms
from ase.build import molecule


def rattled_molecules(names=("CH4", "H2O", "C6H6", "CH3CH2OH", "CH3CONH2"), stdev: float = 0.05,
                      seed: int = 0) -> List[Atoms]:
    """ASE g2 molecules with positions perturbed by ``stdev`` Å.

    Symmetric molecules are rattled on purpose: in an exactly symmetric
    structure the l > 0 features vanish, and equivariant layer norms then
    amplify float rounding noise (see the README's numerical notes), which
    would make a tolerance test measure noise instead of equivariance.
    """
    out = []
    for i, name in enumerate(names):
        atoms = molecule(name)
        atoms.rattle(stdev, seed=seed + i)
        out.append(atoms)
    return out


def random_molecule(num_atoms: int, elements=(1, 6, 7, 8, 9), seed: int = 0, min_distance: float = 0.9) -> Atoms:
    """Random non-overlapping molecule-like point cloud (for speed and scaling tests)."""
    rng = np.random.default_rng(seed)
    box = max(2.0, (num_atoms / 0.08) ** (1 / 3))
    positions: List[np.ndarray] = []
    while len(positions) < num_atoms:
        p = rng.uniform(0, box, 3)
        if all(np.linalg.norm(p - q) >= min_distance for q in positions):
            positions.append(p)
    return Atoms(numbers=rng.choice(elements, num_atoms), positions=np.array(positions))


def heavy_atom_blocks(record):
    """``record`` with small-molecule blocks (EPT's convention): one block per heavy atom with the
    hydrogens nearest to it; ``block_type`` is the heavy atom's atomic number.

    Adds ``block_index`` [N], ``block_type`` [Nb] and ``num_blocks`` [1].
    """
    import torch

    from ..data import keys as K

    z, pos = record[K.ATOMIC_NUMBERS], record[K.POSITIONS]
    heavy = torch.nonzero(z > 1).squeeze(-1)
    if heavy.numel() == 0:
        heavy = torch.arange(len(z))
    nearest = torch.cdist(pos, pos[heavy]).argmin(dim=1)
    block_of_atom = torch.where(z > 1, torch.searchsorted(heavy, torch.arange(len(z))), nearest) \
        if (z > 1).any() else torch.arange(len(z))
    out = dict(record)
    out[K.BLOCK_INDEX] = block_of_atom
    out[K.BLOCK_TYPE] = z[heavy]
    out[K.NUM_BLOCKS] = torch.tensor([heavy.numel()])
    return out


def emt_labelled(make_atoms: Callable[[], Atoms], n: int, stdev: float, seed: int = 0) -> List[Atoms]:
    """``n`` rattled copies of ``make_atoms()`` labelled with ASE's EMT energy (eV) and forces (eV/Å)
    as single-point results, so they can be written to extxyz and read back as training frames."""
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator

    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n):
        atoms = make_atoms()
        atoms.rattle(stdev, seed=int(rng.integers(1 << 30)))
        atoms.calc = EMT()
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
        frames.append(atoms)
    return frames


def copper_with_one_nickel() -> Atoms:
    """A cubic fcc Cu cell (a = 3.6 Å, 4 atoms) with one Ni: two elements, so per-element energies
    are identifiable; EMT labels it."""
    from ase.build import bulk

    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    atoms.numbers[0] = 28
    return atoms
