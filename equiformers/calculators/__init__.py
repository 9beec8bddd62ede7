"""ASE calculators driven by equiformers models."""

from .ase_calculator import EquiformerCalculator

__all__ = ["EquiformerCalculator"]
