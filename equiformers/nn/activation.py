"""Activations on irreps features: gate, scalar activation, smooth leaky ReLU."""

import torch
from e3nn import nn as e3nn_nn
from e3nn import o3
from torch import nn

from ..ops.irreps import split_for_gate


class SmoothLeakyReLU(nn.Module):
    """``f(x) = (1+a)/2 x + (1-a)/2 x (2 sigmoid(x) - 1)``: a smooth leaky ReLU (slope ``a`` for x << 0)."""

    def __init__(self, negative_slope: float = 0.2):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.negative_slope
        return 0.5 * (1 + a) * x + 0.5 * (1 - a) * x * (2 * torch.sigmoid(x) - 1)


def scalar_activation(irreps, act) -> nn.Module:
    """e3nn :class:`~e3nn.nn.Activation` on an all-scalar irreps, second-moment normalised."""
    irreps = o3.Irreps(irreps)
    return e3nn_nn.Activation(irreps, [act] * len(irreps))


class GateActivation(nn.Module):
    """Gate for ``irreps_out``: SiLU on scalars, sigmoid gates multiplying the l > 0 channels.

    ``irreps_in`` (what the preceding linear layer must produce) is
    ``scalars + gates + gated``; activations are second-moment normalised
    (e3nn's ``normalize2mom``). Falls back to a plain SiLU when ``irreps_out``
    has no l > 0 channels.

    Example:
        >>> gate = GateActivation("8x0e+4x1e")
        >>> gate.irreps_in, gate.irreps_out
        (12x0e+4x1e, 8x0e+4x1e)
    """

    def __init__(self, irreps_out):
        super().__init__()
        scalars, gates, gated = split_for_gate(o3.Irreps(irreps_out))
        if gated.num_irreps == 0:
            self.act = scalar_activation(scalars, torch.nn.functional.silu)
        else:
            self.act = e3nn_nn.Gate(scalars, [torch.nn.functional.silu] * len(scalars),
                                    gates, [torch.sigmoid] * len(gates), gated)
        self.irreps_in, self.irreps_out = self.act.irreps_in, self.act.irreps_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x)
