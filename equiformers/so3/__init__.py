"""SO(3) maths apart from layers: Wigner-D matrices, rotations, exact float64 constants.

Pure functions and cached constants; no Parameters, no layers.
"""

from .constants import declare_constant, declare_e3nn_wigner_3j, declared_constants, rebuild_constants
from .rotations import axis_angle_to_matrix, matrix_to_axis_angle, random_rotation
from .wigner import wigner_D, wigner_D_blocks, wigner_D_irreps

__all__ = [
    "axis_angle_to_matrix",
    "declare_constant",
    "declare_e3nn_wigner_3j",
    "declared_constants",
    "matrix_to_axis_angle",
    "random_rotation",
    "rebuild_constants",
    "wigner_D",
    "wigner_D_blocks",
    "wigner_D_irreps",
]
