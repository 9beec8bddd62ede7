"""Weight initialisation of the reference (``eqv2_init_weights``), applied to a backbone or a head.

Linear maps (``nn.Linear``, :class:`~.sphere.SO3Linear`): biases 0; weights N(0, 1/fan_in) with
``weight_init: normal``, left at their construction values (uniform) with ``uniform``. Layer
norms: weight 1, bias 0. Radial functions: always U(±1/√fan_in), biases 0, whatever the choice.
Embeddings keep their own initialisation (N(0, 1) atoms, U(±0.001) atom pairs).
"""

import torch
from torch import nn

from .radial import RadialFunction
from .sphere import SO3Linear


@torch.no_grad()
def init_weights(module: nn.Module, weight_init: str) -> None:
    """Initialise every submodule of ``module`` in place (see the module docstring)."""
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, SO3Linear)):
            if layer.bias is not None:
                layer.bias.zero_()
            if weight_init == "normal":
                layer.weight.normal_(0.0, 1.0 / layer.in_features ** 0.5)
        elif isinstance(layer, nn.LayerNorm):
            layer.weight.fill_(1.0)
            layer.bias.zero_()
    for layer in module.modules():
        if isinstance(layer, RadialFunction):
            layer.reset_parameters()
