"""Equiformer transformer block: pre-norm attention and feed-forward with residuals."""

import torch
from e3nn import o3
from torch import nn
from torch.utils.checkpoint import checkpoint

from ...nn import EquivariantDropout, EquivariantLayerNorm, EquivariantLinear, GateActivation, GraphDropPath
from .attention import DotProductGraphAttention, MLPGraphAttention


class FeedForward(nn.Module):
    """Linear -> gate -> linear (the reference's FCTP with a constant ``1x0e`` attribute,
    which is exactly an equivariant linear map).

    Shapes: [N, irreps_in.dim] -> [N, irreps_out.dim].
    """

    def __init__(self, irreps_in, irreps_hidden, irreps_out, proj_drop: float = 0.0):
        super().__init__()
        self.gate = GateActivation(irreps_hidden)
        self.linear_in = EquivariantLinear(irreps_in, self.gate.irreps_in)
        self.linear_out = EquivariantLinear(self.gate.irreps_out, irreps_out)
        self.dropout = EquivariantDropout(irreps_out, proj_drop) if proj_drop > 0 else None
        self.irreps_in, self.irreps_out = self.linear_in.irreps_in, self.linear_out.irreps_out

    def forward(self, x):
        out = self.linear_out(self.gate(self.linear_in(x)))
        return self.dropout(out) if self.dropout is not None else out


class TransformerBlock(nn.Module):
    """``x <- x + Attn(LN(x)); x <- shortcut(x) + FFN(LN(x))``.

    When the block changes the irreps (the last block outputs only scalars),
    the second residual goes through a linear ``shortcut``.
    """

    def __init__(self, config, irreps_out, radial_widths):
        super().__init__()
        irreps_node = config.irreps_node
        self.norm_attention = EquivariantLayerNorm(irreps_node)
        common = dict(irreps_node=irreps_node, irreps_sh=config.irreps_sh, irreps_head=config.irreps_head,
                      num_heads=config.num_heads, radial_widths=radial_widths,
                      alpha_drop=config.alpha_drop, proj_drop=config.proj_drop)
        if config.attention == "mlp":
            self.attention = MLPGraphAttention(nonlinear_message=config.message == "nonlinear", **common)
        else:
            self.attention = DotProductGraphAttention(**common)
        self.norm_ffn = EquivariantLayerNorm(irreps_node)
        self.ffn = FeedForward(irreps_node, config.irreps_ffn, irreps_out, config.proj_drop)
        irreps_out = o3.Irreps(irreps_out)
        self.shortcut = EquivariantLinear(irreps_node, irreps_out) if irreps_out != irreps_node else None
        self.drop_path = GraphDropPath(config.drop_path) if config.drop_path > 0 else None
        self.low_memory = config.low_memory
        self.irreps_in, self.irreps_out = irreps_node, irreps_out

    def _drop(self, x, batch, num_graphs):
        return self.drop_path(x, batch, num_graphs) if self.drop_path is not None else x

    def forward(self, x, sh, edge_scalars, edge_src, edge_dst, batch, num_graphs: int, edge_weight=None, frame=None):
        """``edge_weight`` [E]: cutoff envelope for the smooth attention (``None``: the paper's softmax).
        ``frame``: the edges' :class:`~equiformers.so3.irreps_frame.EdgeFrame` (then ``sh`` may be None)."""
        inputs = (self.norm_attention(x), sh, edge_scalars, edge_src, edge_dst, edge_weight, frame)
        if self.low_memory and torch.is_grad_enabled():  # recomputed in backward (same dropout masks)
            update = checkpoint(self.attention, *inputs, use_reentrant=False)
        else:
            update = self.attention(*inputs)
        x = x + self._drop(update, batch, num_graphs)
        update = self.ffn(self.norm_ffn(x))
        if self.shortcut is not None:
            x = self.shortcut(x)
        return x + self._drop(update, batch, num_graphs)
