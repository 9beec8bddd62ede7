"""Equivariant building blocks: radial bases, linear maps, tensor products,
activations, normalisation and dropout. Each declares ``irreps_in``/``irreps_out``
where it acts on irreps features."""

from .activation import GateActivation, SmoothLeakyReLU, scalar_activation
from .dropout import EquivariantDropout, GraphDropPath
from .linear import EquivariantLinear
from .norm import EquivariantLayerNorm
from .radial import (BesselBasis, CosineCutoff, ExpNormalBasis, GaussianBasis, PolynomialCutoff,
                     build_radial_basis)
from .radial_mlp import RadialMLP
from .tensor_product import DepthwiseTensorProduct, SeparableTensorProduct

__all__ = [
    "BesselBasis", "CosineCutoff", "DepthwiseTensorProduct", "EquivariantDropout", "EquivariantLayerNorm",
    "EquivariantLinear", "ExpNormalBasis", "GateActivation", "GaussianBasis", "GraphDropPath",
    "PolynomialCutoff", "RadialMLP", "SeparableTensorProduct", "SmoothLeakyReLU", "build_radial_basis",
    "scalar_activation",
]
