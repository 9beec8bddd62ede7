"""Output heads: per-atom MLPs pooled into graph-level predictions."""

from typing import Sequence

import torch
from torch import nn

from ..nn import EquivariantLinear, scalar_activation
from ..ops.scatter import scatter_mean, scatter_sum


class GraphScalarHead(nn.Module):
    """Invariant graph-level outputs from scalar node features.

    Per atom: linear -> SiLU -> linear to ``len(outputs)`` numbers; pooled per
    graph by a sum divided by ``sqrt(avg_num_nodes)`` (Equiformer) or a mean;
    finally de-standardised and shifted by per-element reference values,
    ``y = pooled * scale + shift + sum_i atom_reference[type_i]``. ``scale``,
    ``shift`` and ``atom_reference`` (e.g. isolated-atom energies E0) are
    buffers set from the training data, so a saved model predicts in physical
    units.

    Shapes: x [N, channels], types [N], batch [N] -> [B, len(outputs)].
    """

    def __init__(self, channels: int, outputs: Sequence[str], avg_num_nodes: float, reduce: str = "sum",
                 num_types: int = 1):
        super().__init__()
        self.outputs = list(outputs)
        self.mlp = nn.Sequential(
            EquivariantLinear(f"{channels}x0e", f"{channels}x0e"),
            scalar_activation(f"{channels}x0e", torch.nn.functional.silu),
            EquivariantLinear(f"{channels}x0e", f"{len(self.outputs)}x0e"),
        )
        self.avg_num_nodes, self.reduce = float(avg_num_nodes), reduce
        self.register_buffer("scale", torch.ones(len(self.outputs)))
        self.register_buffer("shift", torch.zeros(len(self.outputs)))
        self.register_buffer("atom_reference", torch.zeros(num_types, len(self.outputs)))

    def set_standardization(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Predict ``raw * std + mean`` from now on (``mean``/``std`` of the training targets)."""
        self.shift.copy_(torch.as_tensor(mean, dtype=self.shift.dtype))
        self.scale.copy_(torch.as_tensor(std, dtype=self.scale.dtype))

    def set_atom_reference(self, values: torch.Tensor) -> None:
        """Per-type reference values [num_types, len(outputs)] added per atom (e.g. E0s in eV)."""
        self.atom_reference.copy_(torch.as_tensor(values, dtype=self.atom_reference.dtype).reshape(
            self.atom_reference.shape))

    def forward(self, x: torch.Tensor, types: torch.Tensor, batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
        per_atom = self.mlp(x)
        if self.reduce == "sum":
            pooled = scatter_sum(per_atom, batch, num_graphs) / self.avg_num_nodes ** 0.5
        else:
            pooled = scatter_mean(per_atom, batch, num_graphs)
        reference = scatter_sum(self.atom_reference[types], batch, num_graphs)
        return pooled * self.scale + self.shift + reference
