"""Ragged <-> padded batches and the attention bias for EPT's dense attention.

Every atom attends to every atom of its structure, so a batch is laid out as [B, M, ...] with M the
largest structure rounded up to a multiple of 8 (as the official code; fused attention kernels
prefer it) and a key-padding mask. The bias [B, 1, M, M] of layer l is

    -|x_i - x_j|  (distance term, fixed coefficient -1)  +  beta_l(i, j) on the atom pairs E_u,

with -inf on padded keys (and, with ``local_mask``, on pairs outside E_u except rows and columns of
global atoms). It is built one layer at a time: the official code materialises all layers at once
([L, B, 1, N, N]), which dominates memory on large complexes.
"""

import torch

from .layers import safe_norm

PAD_MULTIPLE = 8


class DenseLayout:
    """Where each node (atom or global atom) sits in the padded batch.

    Args:
        graph_of_node: [M_all] graph index of each node. num_graphs: B.

    Attributes: ``graph``/``slot`` [M_all] (row and column of each node), ``size`` M, ``mask`` [B, M] bool.

    Example:
        >>> layout = DenseLayout(torch.tensor([0, 0, 1, 0]), 2)
        >>> layout.slot.tolist(), layout.size, layout.mask.sum(dim=1).tolist()
        ([0, 1, 0, 2], 8, [3, 1])
    """

    def __init__(self, graph_of_node: torch.Tensor, num_graphs: int):
        counts = torch.bincount(graph_of_node, minlength=num_graphs)
        order = torch.sort(graph_of_node, stable=True).indices
        start = torch.cumsum(counts, 0) - counts
        slot = torch.empty_like(graph_of_node)
        slot[order] = torch.arange(len(order), device=order.device) - start[graph_of_node[order]]
        largest = int(counts.max()) if len(counts) else 0
        self.graph, self.slot, self.num_graphs = graph_of_node, slot, num_graphs
        self.size = max(PAD_MULTIPLE, -(-largest // PAD_MULTIPLE) * PAD_MULTIPLE)
        self.mask = torch.zeros(num_graphs, self.size, dtype=torch.bool, device=order.device)
        self.mask[graph_of_node, slot] = True

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """[M_all, ...] -> [B, M, ...] (zeros in padding); differentiable."""
        out = x.new_zeros((self.num_graphs, self.size) + tuple(x.shape[1:]))
        return out.index_put((self.graph, self.slot), x)

    def unpad(self, x: torch.Tensor) -> torch.Tensor:
        """[B, M, ...] -> [M_all, ...]."""
        return x[self.graph, self.slot]


class AttentionBias:
    """The additive attention bias of every layer for one batch (built lazily, one layer at a time).

    Args:
        layout: the padded layout. pos: [M_all, 3] Å (gradients flow through the distance term).
        pairs: (target i, source j) node indices of E_u [2, E]. beta: [E, L] learned per-layer pair
            biases, or None. distance_bias: include -|x_i - x_j|. local_mask: attend only within E_u
            (and to/from the nodes in ``unmasked`` [M_all] bool, the global atoms).
    """

    def __init__(self, layout: DenseLayout, pos: torch.Tensor, pairs: torch.Tensor, beta, distance_bias: bool,
                 local_mask: bool, unmasked: torch.Tensor):
        B, M = layout.num_graphs, layout.size
        if distance_bias:
            p = layout.pad(pos)
            base = -safe_norm(p.unsqueeze(2) - p.unsqueeze(1))  # [B, M, M]
        else:
            base = pos.new_zeros(B, M, M)
        g, si, sj = layout.graph[pairs[0]], layout.slot[pairs[0]], layout.slot[pairs[1]]
        if local_mask:
            allowed = torch.zeros(B, M, M, dtype=torch.bool, device=pos.device)
            allowed[g, si, sj] = True
            free = layout.pad(unmasked)
            allowed |= free.unsqueeze(2) | free.unsqueeze(1)
            base = base.masked_fill(~allowed, float("-inf"))
        self.base = base.masked_fill(~layout.mask.unsqueeze(1), float("-inf"))  # padded keys
        self.index, self.beta = (g, si, sj), beta

    def layer(self, l: int) -> torch.Tensor:
        """[B, 1, M, M] bias of layer ``l``."""
        bias = self.base
        if self.beta is not None:
            bias = bias.index_put(self.index, self.beta[:, l], accumulate=True)
        return bias.unsqueeze(1)
