"""Equivariant linear layer with the reference's "rescaled" parametrisation."""

import torch
from e3nn import o3
from torch import nn

from ..ops.irreps import SCALAR


class EquivariantLinear(nn.Module):
    """Channel mixing within each irrep type, with a bias on ``0e`` outputs only.

    Equivalent to Equiformer's ``LinearRS``: a weight ``[mul_in, mul_out]`` for
    every pair of input/output entries of the same irrep, initialised
    ``N(0, 1/fan_in)`` where ``fan_in`` is the total input multiplicity feeding
    that output entry. The weights are stored already scaled (no constant in
    the forward pass), so optimiser step sizes match the reference's.

    Args:
        irreps_in: input irreps (need not be simplified).
        irreps_out: output irreps.
        bias: add a learnable bias (zero-initialised) to ``0e`` outputs.

    Shapes: [..., irreps_in.dim] -> [..., irreps_out.dim].

    Example:
        >>> lin = EquivariantLinear("4x0e+2x1e", "3x0e+1x1e")
        >>> lin(torch.randn(7, 10)).shape
        torch.Size([7, 6])
    """

    def __init__(self, irreps_in, irreps_out, bias: bool = True):
        super().__init__()
        self.irreps_in, self.irreps_out = o3.Irreps(irreps_in), o3.Irreps(irreps_out)
        self.paths = []  # (input entry, mul_in, output entry, mul_out, dim)
        fan_in = [0] * len(self.irreps_out)
        for i, (mul_in, ir_in) in enumerate(self.irreps_in):
            for j, (mul_out, ir_out) in enumerate(self.irreps_out):
                if ir_in == ir_out:
                    self.paths.append((i, mul_in, j, mul_out, ir_in.dim))
                    fan_in[j] += mul_in
        self.in_sizes = [mul * ir.dim for mul, ir in self.irreps_in]
        self.weights = nn.ParameterList(
            nn.Parameter(torch.randn(mul_in, mul_out) / fan_in[j] ** 0.5)
            for _, mul_in, j, mul_out, _ in self.paths
        )
        self.use_bias = bias
        # one bias vector per 0e output entry, kept in a dict keyed by entry index
        self.bias_index = [j for j, (_, ir) in enumerate(self.irreps_out) if ir == SCALAR] if bias else []
        self.biases = nn.ParameterList(nn.Parameter(torch.zeros(self.irreps_out[j].mul)) for j in self.bias_index)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        outputs = [None] * len(self.irreps_out)
        # one split (not many slices): slicing backward would allocate a full-size
        # zero gradient per slice, which dominated the run time on wide edge tensors
        chunks = x.split(self.in_sizes, dim=-1) if len(self.in_sizes) > 1 else (x,)
        for (i, mul_in, j, mul_out, dim), w in zip(self.paths, self.weights):
            chunk = chunks[i].reshape(*lead, mul_in, dim)
            y = torch.einsum("...id,io->...od", chunk, w)
            outputs[j] = y if outputs[j] is None else outputs[j] + y
        biases = dict(zip(self.bias_index, self.biases))
        pieces = []
        for j, (mul, ir) in enumerate(self.irreps_out):
            piece = outputs[j]
            if piece is None:  # no input of this irrep type: the output is zero (plus bias)
                piece = x.new_zeros(*lead, mul, ir.dim)
            if j in biases:
                piece = piece + biases[j].unsqueeze(-1)
            pieces.append(piece.reshape(*lead, mul * ir.dim))
        return torch.cat(pieces, dim=-1) if len(pieces) > 1 else pieces[0]

    def extra_repr(self) -> str:
        return f"{self.irreps_in} -> {self.irreps_out}, bias={self.use_bias}"
