"""Layers on the sphere layout [N, (lmax+1)², C] (l-major coefficients, e3nn basis, same C per degree).

:class:`SO3Linear` mixes channels with one weight per degree, :class:`SphereToIrreps` re-labels the
layout as flat e3nn irreps (for generic heads and the test suite's probes), and
:func:`constant_buffer` registers float64-exact constants that also work on the meta device.
"""

import math
from typing import Callable

import torch
from e3nn import o3
from torch import nn

from ...so3 import declare_constant
from ...so3.coefficients import degree_of_coefficients


def ambient_device() -> torch.device:
    """The device new tensors go to (``meta`` inside ``with torch.device("meta")``)."""
    return torch.empty(0).device


def constant_buffer(module: nn.Module, name: str, builder: Callable[[torch.dtype, object], torch.Tensor]) -> None:
    """Register non-persistent buffer ``name`` = ``builder(dtype, device)`` and declare it a constant.

    Built in the default dtype on the ambient device (values are computed on the CPU by the
    builders, so a meta-device build only keeps the shape); ``model.double()`` rebuilds it in
    float64 instead of casting float32 rounding (:func:`~equiformers.so3.rebuild_constants`).
    Non-persistent: derived from the config, so not part of the state dict.
    """
    module.register_buffer(name, builder(torch.get_default_dtype(), ambient_device()), persistent=False)
    declare_constant(module, name, builder)


def _degree_index(lmax: int, device) -> torch.Tensor:
    return torch.tensor(degree_of_coefficients(lmax), dtype=torch.long, device=device)


class SO3Linear(nn.Module):
    """Per-degree linear map: ``y[:, i] = W_{l(i)} x[:, i] (+ b on l = 0)``, shared over orders m.

    Equivariant because each degree's 2l+1 coefficients get the same channel mixing. Parameters as
    the reference's ``SO3_LinearV2``: ``weight`` [lmax+1, out, in] (U(±1/√in)) and ``bias`` [out]
    (zeros). Shapes: [N, (lmax+1)², in] -> [N, (lmax+1)², out].
    """

    def __init__(self, in_features: int, out_features: int, lmax: int):
        super().__init__()
        self.in_features, self.out_features, self.lmax = in_features, out_features, lmax
        bound = 1 / math.sqrt(in_features)
        self.weight = nn.Parameter(torch.empty(lmax + 1, out_features, in_features).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.register_buffer("expand_index", _degree_index(lmax, ambient_device()), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight.index_select(0, self.expand_index)  # [(lmax+1)², out, in]
        out = torch.einsum("nmi,moi->nmo", x, weight)
        return torch.cat([out[:, :1] + self.bias, out[:, 1:]], dim=1)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, lmax={self.lmax}"


class SphereToIrreps(nn.Module):
    """[N, (lmax+1)², C] -> [N, irreps.dim] with irreps ``Cx0e + Cx1e + ... + Cx{lmax}e`` (e3nn mul_ir layout).

    Every degree is labelled even: EquiformerV2 is SE(3)- but not parity-equivariant (its SO(2)
    convolutions are not reflection-symmetric), the library's convention for such models.

    Example:
        >>> view = SphereToIrreps(1, 2)
        >>> view.irreps_out
        2x0e+2x1e
        >>> view(torch.arange(8.0).reshape(1, 4, 2)).tolist()  # channel-major within each degree
        [[0.0, 1.0, 2.0, 4.0, 6.0, 3.0, 5.0, 7.0]]
    """

    def __init__(self, lmax: int, channels: int):
        super().__init__()
        self.lmax, self.channels = lmax, channels
        self.irreps_out = o3.Irreps([(channels, (l, 1)) for l in range(lmax + 1)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = [x[:, l * l:(l + 1) ** 2, :].transpose(1, 2).reshape(x.shape[0], -1) for l in range(self.lmax + 1)]
        return torch.cat(parts, dim=-1)

