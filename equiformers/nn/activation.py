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
        self.gated = isinstance(self.act, e3nn_nn.Gate)
        # Where each scalar, gate and gated piece sits in irreps_in (which e3nn sorts and
        # simplifies): per input entry, the split sizes of its channels and each chunk's
        # (group, index) with group 0 scalars, 1 gates, 2 gated.
        groups = ([self.act.irreps_scalars, self.act.irreps_gates, self.act.irreps_gated] if self.gated
                  else [self.irreps_in])
        pieces = [(g, i, mul, ir) for g, irreps in enumerate(groups) for i, (mul, ir) in enumerate(irreps)]
        queue = sorted(range(len(pieces)), key=lambda n: pieces[n][3])  # e3nn's stable sort by irrep
        self.frame_chunks = []
        for mul_in, ir_in in self.irreps_in:
            sizes, owners = [], []
            while sum(sizes) < mul_in:
                g, i, mul, ir = pieces[queue.pop(0)]
                if ir != ir_in:
                    raise ValueError(f"gate input layout {self.irreps_in} not understood")
                sizes.append(mul)
                owners.append((g, i))
            self.frame_chunks.append((sizes, owners))
        if len(self.irreps_out) != len(groups[0]) + (len(groups[2]) if self.gated else 0):
            raise ValueError(f"gate output layout {self.irreps_out} not understood")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x)

    def forward_frame(self, blocks):
        """The same gate on edge-frame blocks (one [E, 2l+1, mul] per entry of ``irreps_in``, see
        :mod:`equiformers.so3.irreps_frame`) -> blocks per entry of ``irreps_out``.

        Exact in any frame: scalars and gates are invariant, and a gate scales each gated
        channel as a whole."""
        found = {}
        for block, (sizes, owners) in zip(blocks, self.frame_chunks):
            for chunk, owner in zip(block.split(sizes, dim=-1) if len(sizes) > 1 else (block,), owners):
                found[owner] = chunk
        groups = ([self.act.irreps_scalars, self.act.irreps_gates] if self.gated else [self.irreps_in])
        flat = [_flat_scalars([found[(g, i)] for i in range(len(irreps))]) for g, irreps in enumerate(groups)]
        if not self.gated:
            return _split_scalars(self.act(flat[0]), self.irreps_out)
        out = _split_scalars(self.act.act_scalars(flat[0]), self.act.irreps_scalars)
        gates = self.act.act_gates(flat[1]).split([mul for mul, _ in self.act.irreps_gated], dim=-1)
        for i, gate in enumerate(gates):
            out.append(found[(2, i)] * gate.unsqueeze(1))
        return out


def _flat_scalars(chunks):
    """Scalar frame chunks [E, 1, mul] -> one flat [E, Σ mul]."""
    flat = [chunk.flatten(1) for chunk in chunks]
    return torch.cat(flat, dim=-1) if len(flat) > 1 else flat[0]


def _split_scalars(flat: torch.Tensor, irreps: o3.Irreps):
    """Flat scalars [E, irreps.dim] -> one frame block [E, 1, mul] per entry."""
    return [chunk.unsqueeze(1) for chunk in flat.split([mul for mul, _ in irreps], dim=-1)]
