"""Test utilities: exact symmetry transforms, test structures, and the reusable model suite."""

from .structures import random_molecule, rattled_molecules
from .symmetry import random_rotation, wigner_D

__all__ = ["random_molecule", "random_rotation", "rattled_molecules", "wigner_D"]
