"""Depth-wise tensor products with the edge's harmonics, fused with the linear layers reading them,
evaluated in the edge frame.

Equiformer's message path is ``linear(dtp(x, Y(r̂), w))``: a channel-wise tensor product with the
edge's spherical harmonics (weights ``w`` per edge, path and channel, or learned per path) whose
3,136-wide output (at L_max = 2) is immediately mixed by equivariant linear layers. In the edge
frame (:mod:`equiformers.so3.frame_coupling`) each coupling l1 ⊗ l2 → l3 maps order m3 to one
input order ±m3 with a fixed coefficient κ, so for every output irrep and order m3

    y'[m3] = Σ_paths (w_path ⊙ x'_{l1}[m1(path, m3)]) @ (κ_path(m3) W_path),

one matrix product per (irrep, order) with the linear layers' weights W scaled by κ. Nothing of the
width of the tensor product's output, and no per-edge Clebsch-Gordan contraction, is computed; the
result is the e3nn path's to rounding (exact maths, not an approximation). Rotating into and out
of the frame is :class:`~equiformers.so3.irreps_frame.EdgeFrame`'s.

:class:`FramedProductLinear` holds only the structure (Python integers and floats derived from
the irreps); the weights stay in the modules that own them (the tensor product's internal
weights, the radial network, the linear layers) and are passed in, so checkpoints and weight
converters see the same parameters whichever path computes.
"""

from typing import Dict, List, Optional, Sequence, Tuple

import torch
from e3nn import o3
from torch import nn

from ..ops.irreps import SCALAR
from ..so3.frame_coupling import frame_terms
from ..so3.irreps_frame import FrameBlocks
from .linear import EquivariantLinear


def _entry_rows(irreps_full: o3.Irreps, irreps_in: o3.Irreps) -> List[Tuple[int, int]]:
    """For each entry of ``irreps_full``: (entry of ``irreps_in``, first row) when ``irreps_in`` is
    ``irreps_full`` itself or its :meth:`~e3nn.o3.Irreps.simplify` (consecutive equal irreps merged)."""
    if irreps_in == irreps_full:
        return [(k, 0) for k in range(len(irreps_full))]
    rows, entry, offset = [], -1, 0
    for k, (mul, ir) in enumerate(irreps_full):
        if k > 0 and ir == irreps_full[k - 1].ir:
            offset += irreps_full[k - 1].mul
        else:
            entry, offset = entry + 1, 0
        rows.append((entry, offset))
    if irreps_in.simplify() != irreps_in or len(irreps_in) != entry + 1:
        raise ValueError(f"linear layer input {irreps_in} is neither {irreps_full} nor its simplification")
    return rows


class FramedProductLinear(nn.Module):
    """``[linear(dtp(x, Y(r̂), w)) for linear in consumers]`` for edge-frame features.

    Args:
        product: the :class:`~equiformers.nn.DepthwiseTensorProduct` (its instructions, normalisation and, with
            internal weights, its weights).
        consumers: the :class:`EquivariantLinear` layers reading the product's output (its irreps
            or their simplification); their outputs are computed together.
        zero_inputs: indices of input entries that are always zero (skipped).

    Call: ``(x, linears, weight)`` with ``x`` the product's input in the edge frame (one block
    [E, 2l+1, mul] per entry of ``product.irreps_in``, ``None`` for a zero entry, see
    :class:`~equiformers.so3.irreps_frame.EdgeFrame`), ``linears`` the consumer modules (the
    same objects, passed so their current weights are used) and ``weight`` the depth-wise
    weights: [E, weight_numel] per edge (a radial network's output) or [weight_numel] shared
    (the product's internal ``tp.weight``). Returns, per consumer, one block [E, 2l+1, mul] per
    entry of its ``irreps_out``, in the edge frame.

    Example:
        >>> from equiformers.so3.irreps_frame import EdgeFrame
        >>> from equiformers.nn import DepthwiseTensorProduct
        >>> dtp = DepthwiseTensorProduct("4x0e+2x1e", "1x0e+1x1e", "4x0e+2x1e")
        >>> linear = EquivariantLinear(dtp.irreps_out.simplify(), "3x0e+1x1e")
        >>> fused = FramedProductLinear(dtp, [linear])
        >>> vectors, x = torch.randn(5, 3), torch.randn(5, 10)
        >>> w = torch.randn(5, dtp.weight_numel)
        >>> frame = EdgeFrame.from_vectors(vectors, 1)
        >>> y = frame.rotate_out(fused(frame.rotate_in(x, "4x0e+2x1e"), [linear], w)[0], "3x0e+1x1e")
        >>> sh = o3.spherical_harmonics("1x0e+1x1e", vectors, normalize=True, normalization="component")
        >>> torch.allclose(y, linear(dtp(x, sh, w)), atol=1e-5)
        True
    """

    def __init__(self, product, consumers: Sequence[EquivariantLinear],
                 zero_inputs: Sequence[int] = ()):
        super().__init__()
        tp, irreps_out = product.tp, product.irreps_out
        # One record per instruction (= weight order): input entry, its degree and multiplicity,
        # output entry, and each output order's (m1, κ · path weight) term.
        self.paths = []
        for ins in tp.instructions:
            mul, ir_in = product.irreps_in[ins.i_in1]
            l2, ir_out = product.irreps_sh[ins.i_in2].ir.l, irreps_out[ins.i_out].ir
            terms = tuple(None if t is None else (t[0], t[1] * ins.path_weight)
                          for t in frame_terms(ir_in.l, l2, ir_out.l))
            self.paths.append((ins.i_in1, ir_in.l, mul, ins.i_out, ir_out, terms))
        self.weight_sizes = [p[2] for p in self.paths]
        self.zero_inputs = frozenset(zero_inputs)
        # Output groups: every consumer entry of one irrep, computed by one matrix product per order.
        self.consumer_irreps = [consumer.irreps_out for consumer in consumers]
        self.groups: Dict[o3.Irrep, List[Tuple[int, int, int]]] = {}
        for c, consumer in enumerate(consumers):
            for j, (mul, ir) in enumerate(consumer.irreps_out):
                self.groups.setdefault(ir, []).append((c, j, mul))
        # For each (consumer, output entry, product output entry): (weight index, first row).
        self.blocks: Dict[Tuple[int, int, int], Tuple[int, int]] = {}
        for c, consumer in enumerate(consumers):
            rows = _entry_rows(irreps_out, consumer.irreps_in)
            for index, (i, _, j, _, _) in enumerate(consumer.paths):
                for k, (entry, first) in enumerate(rows):
                    if entry == i:
                        self.blocks[(c, j, k)] = (index, first)
        self.bias_slots = [dict(zip(consumer.bias_index, range(len(consumer.bias_index)))) for consumer in consumers]
        live_outputs = {k for i_in, _, _, k, _, _ in self.paths if i_in not in self.zero_inputs}
        read = {(c, index) for (c, _, k), (index, _) in self.blocks.items() if k in live_outputs}
        #: (consumer, weight index) of consumer weights that only ever multiply zero inputs
        self.unused_consumer_weights = [(c, index) for c, consumer in enumerate(consumers)
                                        for index in range(len(consumer.paths)) if (c, index) not in read]

    def _row_blocks(self, ir: o3.Irrep, linears, shared: Optional[torch.Tensor]) -> Dict[int, torch.Tensor]:
        """Per path into ``ir``: its rows of every consumer weight of the group, [mul, Σ mul_j]
        (scaled by the depth-wise weights when they are shared by all edges)."""
        rows, offset = {}, 0
        for p, (_, _, mul, k, ir_out, _) in enumerate(self.paths):
            if ir_out == ir:
                columns = []
                for c, j, mul_j in self.groups[ir]:
                    found = self.blocks.get((c, j, k))
                    if found is None:
                        columns.append(linears[c].weights[0].new_zeros(mul, mul_j))
                    else:
                        index, first = found
                        columns.append(linears[c].weights[index][first:first + mul])
                block = torch.cat(columns, dim=1) if len(columns) > 1 else columns[0]
                if shared is not None:
                    block = block * shared[offset:offset + mul].unsqueeze(-1)
                rows[p] = block
            offset += mul
        return rows

    def forward(self, x: FrameBlocks, linears: Sequence[EquivariantLinear], weight: torch.Tensor) -> List[FrameBlocks]:
        # Each block is split into its orders once (unbind, split: one backward node each, where
        # per-term slicing would allocate a full-size zero gradient per slice).
        orders = [None if i in self.zero_inputs or block is None else block.unbind(1) for i, block in enumerate(x)]
        per_edge = weight.dim() == 2
        edge_weights = weight.split(self.weight_sizes, dim=-1) if per_edge else None
        shared = None if per_edge else weight
        num_edges = next(block.shape[0] for block in x if block is not None)
        outputs: List[FrameBlocks] = [[None] * len(irreps) for irreps in self.consumer_irreps]
        for ir, members in self.groups.items():
            rows = self._row_blocks(ir, linears, shared)
            width = sum(mul for _, _, mul in members)
            per_order = []
            for m3 in range(-ir.l, ir.l + 1):
                inputs, weights, shared_terms = [], [], {}
                for p, block in rows.items():
                    i_in, l1, _, _, _, terms = self.paths[p]
                    term = terms[m3 + ir.l]
                    if term is None or orders[i_in] is None:
                        continue
                    m1, kappa = term
                    source = orders[i_in][m1 + l1]
                    if per_edge:
                        inputs.append(source * edge_weights[p])
                        weights.append(block * kappa)
                    elif (i_in, m1) in shared_terms:  # same input order: one column block, weights summed
                        shared_terms[(i_in, m1)][1] = shared_terms[(i_in, m1)][1] + block * kappa
                    else:
                        shared_terms[(i_in, m1)] = [source, block * kappa]
                for source, block in shared_terms.values():
                    inputs.append(source)
                    weights.append(block)
                if inputs:
                    y = torch.cat(inputs, dim=1) @ torch.cat(weights, dim=0)
                else:
                    y = linears[0].weights[0].new_zeros(num_edges, width)
                per_order.append(y)
            stacked = torch.stack(per_order, dim=1)  # [E, 2l+1, Σ mul_j]
            start = 0
            for c, j, mul in members:
                block = stacked[..., start:start + mul]
                start += mul
                slot = self.bias_slots[c].get(j)
                if slot is not None and ir == SCALAR:
                    block = block + linears[c].biases[slot]
                outputs[c][j] = block
        return outputs
