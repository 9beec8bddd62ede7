"""Test utilities: exact symmetry transforms, test structures, and the reusable model suite."""

from .structures import heavy_atom_blocks, random_molecule, rattled_molecules
from .symmetry import random_rotation, wigner_D

__all__ = ["heavy_atom_blocks", "random_molecule", "random_rotation", "rattled_molecules", "wigner_D"]
