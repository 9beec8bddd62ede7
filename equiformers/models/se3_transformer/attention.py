"""The SE(3)-Transformer attention block, with the Efficient SE(3)-Transformer's switches.

Original (Fuchs' ``GSE3Res``, NVIDIA's ``AttentionBlockSE3``), for edge j -> i:

* values v_ij and keys k_ij: TFN convolutions of f_j on x_i - x_j (eqs. 7-8); queries q_i: a
  self-interaction of f_i (eq. 9). The value fiber is the output fiber with channels / ``channels_div``;
  keys and queries have the value fiber's degrees that the input also has.
* alpha_ij = softmax_j(q_i . k_ij / sqrt(number of key features)) per head: heads split the
  channels of every degree evenly and the dot product runs over all degrees and components
  of the head, so one weight is shared by all degrees.
* out_i = sum_j alpha_ij v_ij, then the skip: ``cat`` [out, f_i] per degree and a self-interaction
  to the output fiber (default), or ``sum``: self-interaction of out plus f_i (zero-padded to the
  output channels; degrees where the input is wider than the output get no residual).

Efficient switches (Qiu, Nisonoff et al., section 3):

* ``kernel="separable"``: values by the depth-wise kernel V~ (no channel index, eqs. 16-19), and
  the channel mixing U (one matrix per output degree) applied once per atom after the neighbour
  sum (eqs. 21-25). Heads split U's output channels as SE(3)-T splits value channels, so the sum
  is kept per head: f~_i^{h} = sum_j alpha_ij^h v~_ij and out_i^{c} = sum_c' U^c_c' f~_i^{h(c) c'}.
  This equals eq. 19 (U applied per edge) exactly; with one head it is eq. 25 as written. With
  dot-product attention the keys use a separable kernel too (U_k applied per edge; ``key_kernel``
  chooses otherwise): the paper's Table 2 counts (13k with dot-product attention vs 9.4k) leave no
  room for full TFN key kernels.
* ``attention="edge"``: alpha_ij = softmax_j(A e_ij) with A in R^{H x D} (no bias: a bias cancels in
  the softmax) and invariant edge features e_ij (eq. 26); no keys or queries.
"""

import math
from typing import Optional

import torch
from torch import nn

from ...errors import ConfigError
from ...ops.scatter import scatter_sum, segment_softmax
from .convolution import EdgeContext, EquivariantConvolution
from .fiber import Features, Fiber
from .layers import LinearSE3, concatenate


class AttentionBlock(nn.Module):
    """One attention block from ``fiber_in`` to ``fiber_out`` (see the module docstring).

    Args:
        config: the model's :class:`~.config.SE3TransformerConfig` (heads, kernel, attention, ...).
        edge_feature_dim: D, the width of e_ij (``attention="edge"`` only).

    Shapes: ``x`` ``{l: [N, C_in_l, 2l+1]}``, ``edge_features`` [E, D] -> ``{l: [N, C_out_l, 2l+1]}``.
    """

    def __init__(self, fiber_in: Fiber, fiber_out: Fiber, config, edge_feature_dim: int = 0, where: str = "block"):
        super().__init__()
        heads = config.num_heads
        self.num_heads, self.separable = heads, config.kernel == "separable"
        self.dot_product = config.attention == "dot_product"
        self.fiber_in, self.fiber_out = fiber_in, fiber_out
        self.value_fiber = fiber_out.scaled(config.channels_div)
        self.key_fiber = self.value_fiber.restricted(fiber_in.degrees) if self.dot_product else None
        for name, fiber in (("value", self.value_fiber), ("key", self.key_fiber)):
            if fiber is not None and any(c % heads for c in fiber.channels):
                raise ConfigError(f"{where}: {name} channels {fiber} must be divisible by num_heads ({heads})")

        def conv(out: Fiber, depthwise: bool, what: str) -> EquivariantConvolution:
            return EquivariantConvolution(fiber_in, out, config.num_edge_types, config.radial, depthwise=depthwise,
                                          fusion=config.fusion, strict=False, low_memory=config.low_memory,
                                          max_degree=config.num_degrees - 1,
                                          where=f"{where} {what}")

        self.to_key_value = self.to_value = self.to_key = None
        self.mix_value = self.mix_key = None
        separable_keys = config.key_kernel == "separable" or (config.key_kernel == "same" and self.separable)
        if self.separable or (self.dot_product and separable_keys):
            if not fiber_in.uniform_channels:
                raise ConfigError(f"{where}: a separable kernel needs the same channels in every input degree, "
                                  f"got {fiber_in}")
        width = fiber_in.channels[0]
        if not self.separable:
            if self.dot_product and not separable_keys and config.key_value == "fused":  # NVIDIA: one conv, split
                self.to_key_value = conv(self.value_fiber + self.key_fiber, False, "keys+values")
            else:
                self.to_value = conv(self.value_fiber, False, "values")
        else:
            depthwise_values = Fiber.of({d: width for d in self.value_fiber.degrees})
            self.to_value = conv(depthwise_values, True, "values")
            self.mix_value = LinearSE3(depthwise_values, self.value_fiber)  # U, per output degree
        if self.dot_product and self.to_key_value is None:
            if separable_keys:  # k_ij = U_k V~_k(x_ij) f_j, U_k applied per edge (the dot product needs k_ij)
                depthwise_keys = Fiber.of({d: width for d in self.key_fiber.degrees})
                self.to_key = conv(depthwise_keys, True, "keys")
                self.mix_key = LinearSE3(depthwise_keys, self.key_fiber)
            else:
                self.to_key = conv(self.key_fiber, False, "keys")
        if self.dot_product:
            self.to_query = LinearSE3(fiber_in, self.key_fiber)
        else:
            if edge_feature_dim < 1:
                raise ConfigError(f"{where}: edge attention needs edge features (edge_features.num_rbf or "
                                  "num_edge_types must be positive)")
            self.to_logits = nn.Linear(edge_feature_dim, heads, bias=False)  # A of eq. 26
        self.skip = config.skip
        if self.skip == "cat":
            cat = Fiber.of({d: c + fiber_in[d] for d, c in self.value_fiber})
            self.project = LinearSE3(cat, fiber_out)
        else:
            self.project = LinearSE3(self.value_fiber, fiber_out)

    def logits(self, x: Features, edges: EdgeContext, keys: Optional[Features],
               edge_features: Optional[torch.Tensor]) -> torch.Tensor:
        """Unnormalised attention weights [E, H]."""
        if not self.dot_product:
            return self.to_logits(edge_features)
        query = self.to_query(x)
        num_edges, heads = edges.src.shape[0], self.num_heads
        dots = sum((query[d].index_select(0, edges.dst).reshape(num_edges, heads, c // heads, 2 * d + 1)
                    * keys[d].reshape(num_edges, heads, c // heads, 2 * d + 1)).sum((-1, -2))
                   for d, c in self.key_fiber)
        return dots / math.sqrt(self.key_fiber.dim)

    def forward(self, x: Features, edges: EdgeContext, edge_features: Optional[torch.Tensor] = None) -> Features:
        keys = None
        if self.to_key_value is not None:
            both = self.to_key_value(x, edges)
            values = {d: both[d][:, :c] for d, c in self.value_fiber}
            keys = {d: both[d][:, self.value_fiber[d]:] for d in self.key_fiber.degrees}
        else:
            values = self.to_value(x, edges)
            if self.to_key is not None:
                keys = self.to_key(x, edges)
                keys = self.mix_key(keys) if self.mix_key is not None else keys
        alpha = segment_softmax(self.logits(x, edges, keys, edge_features), edges.dst, edges.num_nodes)  # [E, H]
        weight = alpha[:, :, None, None]
        num_edges, heads, n = alpha.shape[0], self.num_heads, edges.num_nodes
        if self.separable:  # eq. 24-25: the per-head neighbour sum of V~ f, then U once per atom
            summed = {d: scatter_sum(weight * v.unsqueeze(1), edges.dst, n) for d, v in values.items()}
            out = self.mix_value.forward_heads(summed, heads)
        else:
            out = {}
            for d, v in values.items():  # heads split the value channels of every degree
                per_head = v.reshape(num_edges, heads, v.shape[1] // heads, 2 * d + 1)
                out[d] = scatter_sum((weight * per_head).reshape(v.shape), edges.dst, n)
        if self.skip == "cat":
            return self.project(concatenate(out, x))
        out = self.project(out)
        for d in out:
            if d in x and x[d].shape[1] <= out[d].shape[1]:  # a wider input has no residual (nothing to pad)
                pad = out[d].shape[1] - x[d].shape[1]
                out[d] = out[d] + nn.functional.pad(x[d], (0, 0, 0, pad))
        return out
