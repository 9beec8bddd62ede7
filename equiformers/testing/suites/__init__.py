"""Reusable test suites, one per contract (in the spirit of NequIP's model-test mixins).

* :class:`BasicModelSuite`: every model (symmetry, permutation, batching, reload, gradients, errors).
* :class:`EnergyModelSuite`: energy models (finite-difference forces and stress, cutoff
  smoothness, separated fragments, direct forces rotating).
* :class:`BlockModelSuite`: models over blocks of atoms (every basic check on blocked data,
  invariance under relabelling the blocks).

Subclass one in a test module and provide a ``model_spec`` fixture (parametrise it over the
configurations to cover); override ``tolerance`` for families whose equivariance is only
approximate by design (e.g. grid-based activations)::

    class TestMyModel(EnergyModelSuite):
        tolerance = {torch.float64: 1e-9, torch.float32: 1e-4}

        @pytest.fixture(params=[{...}, {...}])
        def model_spec(self, request):
            return request.param
"""

from .basic import BasicModelSuite
from .blocks import BlockModelSuite
from .common import relative_error, transform
from .energy import EnergyModelSuite

__all__ = ["BasicModelSuite", "BlockModelSuite", "EnergyModelSuite", "relative_error", "transform"]
