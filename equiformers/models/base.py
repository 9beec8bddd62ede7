"""Base class of every model: dtype changes keep e3nn's constants exact."""

import torch
from e3nn import o3
from torch import nn


def refresh_wigner_3j(module: nn.Module) -> None:
    """Recompute e3nn's Clebsch-Gordan buffers (``_w3j_l1_l2_l3``) in their current dtype.

    e3nn builds them in the default dtype (float32); ``module.double()`` only
    casts them, which leaves float32 rounding (~1e-8) and breaks float64
    equivariance at the 1e-7 level. Recomputing them in float64 restores
    machine precision.
    """
    with torch.no_grad():
        for name, buffer in module.named_buffers():
            leaf = name.rsplit(".", 1)[-1]
            if leaf.startswith("_w3j_") and buffer.is_floating_point():
                l1, l2, l3 = (int(v) for v in leaf[len("_w3j_"):].split("_"))
                buffer.copy_(o3.wigner_3j(l1, l2, l3, dtype=buffer.dtype, device=buffer.device))


class AtomisticModel(nn.Module):
    """Common base: atomic-data dict in, dict of named outputs out.

    Subclasses set ``self.config`` and implement ``forward(data)``.
    """

    def _apply(self, fn, *args, **kwargs):
        out = super()._apply(fn, *args, **kwargs)
        refresh_wigner_3j(self)
        return out

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype
