"""Equivariant graph attention: the paper's MLP attention and the dot-product ablation.

For an edge s -> t both variants first merge the two atoms' features,
``m_st = W_src x_s + W_dst x_t``, and combine ``m_st`` with the edge's
spherical harmonics ``Y(r̂_st)`` in depth-wise tensor products whose weights
are radial functions of ``|r_st|``. Attention weights are normalised with a
softmax over all edges entering ``t``; values are summed with them per head,
the heads concatenated and linearly projected.

Each variant computes its edge messages either with e3nn's tensor products (given the
harmonics ``sh``) or in the edge frame (given an :class:`~equiformers.so3.irreps_frame.EdgeFrame`:
each product fused with the linear layers reading it, see :mod:`equiformers.nn.frame_product`);
the two agree to rounding and share every parameter.
"""

import math

import torch
from e3nn import o3
from torch import nn

from ...nn import (DepthwiseTensorProduct, EquivariantDropout, EquivariantLinear, GateActivation, RadialMLP,
                   SeparableTensorProduct, SmoothLeakyReLU, scalar_activation)
from ...nn.frame_product import FramedProductLinear
from ...ops.irreps import multiply_irreps, num_scalars, sort_even_first
from ...ops.scatter import scatter_sum, segment_softmax
from .heads_layout import merge_heads, split_heads


class _AttentionBase(nn.Module):
    """Shared parts: source/target merge, softmax-weighted aggregation, output projection."""

    def __init__(self, irreps_node, irreps_head, num_heads, alpha_drop, proj_drop, irreps_out=None):
        super().__init__()
        self.irreps_node = o3.Irreps(irreps_node)
        self.irreps_head = o3.Irreps(irreps_head)
        self.num_heads = num_heads
        self.irreps_heads = sort_even_first(multiply_irreps(self.irreps_head, num_heads))[0].simplify()
        self.merge_src = EquivariantLinear(self.irreps_node, self.irreps_node, bias=True)
        self.merge_dst = EquivariantLinear(self.irreps_node, self.irreps_node, bias=False)
        self.alpha_dropout = nn.Dropout(alpha_drop) if alpha_drop > 0 else None
        self.proj = EquivariantLinear(self.irreps_heads, irreps_out or self.irreps_node)
        self.proj_dropout = EquivariantDropout(self.irreps_node, proj_drop) if proj_drop > 0 else None
        self.irreps_in, self.irreps_out = self.irreps_node, self.proj.irreps_out

    def merged_messages(self, x, edge_src, edge_dst):
        return self.merge_src(x)[edge_src] + self.merge_dst(x)[edge_dst]

    def separable(self, product: SeparableTensorProduct, message, sh, frame, edge_scalars=None):
        """``product(message, Y(r̂), edge_scalars)`` [E, product.irreps_out.dim]: by e3nn with the
        harmonics ``sh``, or in the edge ``frame`` (then ``sh`` is not needed)."""
        if frame is None:
            return product(message, sh, edge_scalars)
        blocks = product.forward_frame(frame.rotate_in(message, product.irreps_in), edge_scalars)
        return frame.rotate_out(blocks, product.irreps_out)

    def aggregate(self, logits, values, edge_dst, num_nodes, edge_weight=None):
        """logits [E, H], values [E, H, D] -> projected node outputs [N, irreps_out.dim].

        ``edge_weight`` [E] (a cutoff envelope) switches to the smooth weighted softmax."""
        alpha = segment_softmax(logits, edge_dst, num_nodes, weights=edge_weight).unsqueeze(-1)
        if self.alpha_dropout is not None:
            alpha = self.alpha_dropout(alpha)
        out = merge_heads(scatter_sum(values * alpha, edge_dst, num_nodes), self.irreps_head)
        out = self.proj(out)
        if self.proj_dropout is not None:
            out = self.proj_dropout(out)
        return out


class MLPGraphAttention(_AttentionBase):
    """Equiformer's attention: logits from an MLP on invariant message features (GATv2-style).

    ``message="nonlinear"``: a radial depth-wise TP of ``m_st`` gives both the
    logits (scalars -> linear -> smooth leaky ReLU -> per-head dot with a learned
    vector) and the values (linear -> gate -> second depth-wise TP -> linear).
    ``message="linear"``: one separable TP produces logit scalars and values
    together, with no gate.

    Shapes: x [N, irreps_node.dim], sh [E, irreps_sh.dim] (or ``frame``, an
    :class:`~equiformers.so3.irreps_frame.EdgeFrame`), edge_scalars [E, num_basis]
    -> [N, irreps_out.dim].
    """

    def __init__(self, irreps_node, irreps_sh, irreps_head, num_heads, radial_widths,
                 nonlinear_message=True, alpha_drop=0.0, proj_drop=0.0, irreps_out=None):
        super().__init__(irreps_node, irreps_head, num_heads, alpha_drop, proj_drop, irreps_out)
        self.nonlinear_message = nonlinear_message
        num_alpha = num_scalars(self.irreps_heads)
        self.alpha_per_head = num_alpha // num_heads
        self.irreps_alpha = irreps_alpha = o3.Irreps(f"{num_alpha}x0e")
        if nonlinear_message:
            self.dtp = DepthwiseTensorProduct(self.irreps_node, irreps_sh, self.irreps_node)
            self.radial = RadialMLP(list(radial_widths) + [self.dtp.weight_numel])
            self.alpha_linear = EquivariantLinear(self.dtp.irreps_out, irreps_alpha)
            self.gate = GateActivation(self.irreps_node)
            self.value_linear = EquivariantLinear(self.dtp.irreps_out.simplify(), self.gate.irreps_in)
            self.value_tp = SeparableTensorProduct(self.irreps_node, irreps_sh, self.irreps_heads)
            self.message_in_frame = FramedProductLinear(self.dtp, [self.alpha_linear, self.value_linear])
        else:
            self.irreps_message = (irreps_alpha + self.irreps_heads).simplify()
            self.message_tp = SeparableTensorProduct(self.irreps_node, irreps_sh, self.irreps_message,
                                                     radial_widths)
        self.alpha_act = scalar_activation(f"{self.alpha_per_head}x0e", SmoothLeakyReLU(0.2))
        self.alpha_dot = nn.Parameter(torch.empty(1, num_heads, self.alpha_per_head))
        bound = math.sqrt(6.0 / (num_heads + self.alpha_per_head))  # Glorot, as the reference
        nn.init.uniform_(self.alpha_dot, -bound, bound)

    def forward(self, x, sh, edge_scalars, edge_src, edge_dst, edge_weight=None, frame=None):
        message = self.merged_messages(x, edge_src, edge_dst)
        if self.nonlinear_message:
            alpha, value = (self._nonlinear_message(message, sh, edge_scalars) if frame is None
                            else self._nonlinear_message_in_frame(message, frame, edge_scalars))
            alpha = split_heads(alpha, self.irreps_alpha, self.num_heads)
            value = split_heads(value, self.irreps_heads, self.num_heads)
        else:
            message = self.separable(self.message_tp, message, sh, frame, edge_scalars)
            message = split_heads(message, self.irreps_message, self.num_heads)
            alpha, value = message.split([self.alpha_per_head, message.shape[-1] - self.alpha_per_head], dim=-1)
        logits = torch.einsum("ehk,hk->eh", self.alpha_act(alpha), self.alpha_dot[0])
        return self.aggregate(logits, value, edge_dst, x.shape[0], edge_weight)

    def _nonlinear_message(self, message, sh, edge_scalars):
        """(alpha scalars [E, num_alpha], values [E, irreps_heads.dim]) with e3nn's products."""
        message = self.dtp(message, sh, self.radial(edge_scalars))
        return self.alpha_linear(message), self.value_tp(self.gate(self.value_linear(message)), sh)

    def _nonlinear_message_in_frame(self, message, frame, edge_scalars):
        """The same in the edge frame: product + both linear layers fused, gate and second product
        in the frame, one rotation in and one out."""
        blocks = frame.rotate_in(message, self.irreps_node)
        (alpha,), value = self.message_in_frame(blocks, [self.alpha_linear, self.value_linear],
                                                self.radial(edge_scalars))
        value = self.value_tp.forward_frame(self.gate.forward_frame(value))
        return alpha.flatten(1), frame.rotate_out(value, self.irreps_heads)


class DotProductGraphAttention(_AttentionBase):
    """Ablation: ``alpha_st = softmax_s(<q_t, k_st>)`` with equivariant query and key.

    The query is a linear map of the target atom, every irrep scaled by
    ``1 / sqrt(num_irreps(head) * (2l + 1))``; key and value both come from one
    separable TP of the merged message. The inner product sums over all irrep
    components, so the logit is invariant.
    """

    def __init__(self, irreps_node, irreps_sh, irreps_head, num_heads, radial_widths,
                 alpha_drop=0.0, proj_drop=0.0, irreps_out=None):
        super().__init__(irreps_node, irreps_head, num_heads, alpha_drop, proj_drop, irreps_out)
        self.query = EquivariantLinear(self.irreps_node, self.irreps_heads)
        self.irreps_kv = sort_even_first(multiply_irreps(self.irreps_head, 2 * num_heads))[0].simplify()
        self.key_value = SeparableTensorProduct(self.irreps_node, irreps_sh, self.irreps_kv, radial_widths)
        scale = torch.cat([torch.full((mul * ir.dim,), 1.0 / math.sqrt(self.irreps_head.num_irreps * ir.dim))
                           for mul, ir in self.irreps_head])
        self.register_buffer("query_scale", scale, persistent=False)

    def forward(self, x, sh, edge_scalars, edge_src, edge_dst, edge_weight=None, frame=None):
        query = split_heads(self.query(x), self.irreps_heads, self.num_heads) * self.query_scale
        kv = self.separable(self.key_value, self.merged_messages(x, edge_src, edge_dst), sh, frame, edge_scalars)
        kv = split_heads(kv, self.irreps_kv, 2 * self.num_heads)
        key, value = kv.split(self.num_heads, dim=1)
        logits = (query[edge_dst] * key).sum(-1)
        return self.aggregate(logits, value, edge_dst, x.shape[0], edge_weight)
