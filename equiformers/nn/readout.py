"""Readout pieces every family shares: a scalar MLP and per-output scaling to physical units."""

import torch
from torch import nn

from ..ops.scatter import scatter_sum
from .activation import scalar_activation
from .linear import EquivariantLinear


def scalar_mlp(channels_in: int, hidden: int, channels_out: int) -> nn.Sequential:
    """``linear -> SiLU -> linear`` on scalar features (e3nn-normalised, as the Equiformer reference).

    Shapes: [M, channels_in] -> [M, channels_out].
    """
    return nn.Sequential(
        EquivariantLinear(f"{channels_in}x0e", f"{hidden}x0e"),
        scalar_activation(f"{hidden}x0e", torch.nn.functional.silu),
        EquivariantLinear(f"{hidden}x0e", f"{channels_out}x0e"),
    )


class OutputScaling(nn.Module):
    """Turns a head's raw output into physical units: ``y = raw * scale + shift (+ references)``.

    ``scale`` and ``shift`` are set from training data (a target's std and mean, or the force RMS);
    for a graph-level output, ``atom_reference[type]`` is added for every atom of the graph
    (per-element reference energies E0). Buffers, so a saved model predicts in physical units.
    Atom-level outputs (e.g. direct forces, which a shift would make non-equivariant) are only scaled.

    Shapes: graph level: raw [B, ...], types [N], batch [N] -> [B, ...]; atom level: raw [N, ...] -> [N, ...].

    Example:
        >>> s = OutputScaling("graph", num_types=2)
        >>> s.set(scale=2.0, shift=1.0, atom_reference=torch.tensor([0.5, -1.0]))
        >>> s(torch.tensor([1.0]), torch.tensor([0, 1, 1]), torch.tensor([0, 0, 0]), 1).tolist()
        [1.5]
    """

    def __init__(self, level: str, num_types: int):
        super().__init__()
        self.level = level
        self.register_buffer("scale", torch.ones(1))
        if level == "graph":
            self.register_buffer("shift", torch.zeros(1))
            self.register_buffer("atom_reference", torch.zeros(num_types))

    @torch.no_grad()
    def set(self, scale=None, shift=None, atom_reference=None) -> None:
        """Set any of ``scale``, ``shift`` (in the output's unit) and ``atom_reference`` [num_types]."""
        if scale is not None:
            self.scale.copy_(torch.as_tensor(scale, dtype=self.scale.dtype).reshape(1))
        if self.level != "graph" and (atom_reference is not None or (shift is not None and float(shift) != 0)):
            raise ValueError("atom-level outputs are only scaled (no shift, no per-type references)")
        if shift is not None and self.level == "graph":
            self.shift.copy_(torch.as_tensor(shift, dtype=self.shift.dtype).reshape(1))
        if atom_reference is not None:
            self.atom_reference.copy_(torch.as_tensor(atom_reference, dtype=self.atom_reference.dtype)
                                      .reshape(self.atom_reference.shape))

    def forward(self, raw: torch.Tensor, types: torch.Tensor, batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
        if self.level != "graph":
            return raw * self.scale
        reference = scatter_sum(self.atom_reference[types], batch, num_graphs)
        if raw.dim() > 1:  # a per-graph tensor (e.g. a direct stress [B, 3, 3])
            reference = reference.view(-1, *([1] * (raw.dim() - 1)))
        return raw * self.scale + self.shift + reference
