"""Scatter and segment operations in plain PyTorch (no torch_scatter).

All functions reduce ``src`` rows into ``dim_size`` buckets given by ``index``
along dimension 0. They are differentiable (twice, for force training).
"""

from typing import Optional

import torch


def _expand_index(index: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
    return index.view(-1, *([1] * (src.dim() - 1))).expand_as(src)


def scatter_sum(src: torch.Tensor, index: torch.Tensor, dim_size: int) -> torch.Tensor:
    """Sum rows of ``src`` ([M, ...]) into ``dim_size`` buckets -> [dim_size, ...].

    Example:
        >>> scatter_sum(torch.tensor([1., 2., 3.]), torch.tensor([0, 1, 0]), 2)
        tensor([4., 2.])
    """
    out = src.new_zeros((dim_size,) + tuple(src.shape[1:]))
    return out.index_add(0, index, src)


def scatter_mean(src: torch.Tensor, index: torch.Tensor, dim_size: int) -> torch.Tensor:
    """Mean of the rows of ``src`` per bucket (empty buckets give 0)."""
    total = scatter_sum(src, index, dim_size)
    count = scatter_sum(torch.ones_like(index, dtype=src.dtype), index, dim_size).clamp(min=1)
    return total / count.view(-1, *([1] * (src.dim() - 1)))


def scatter_max(src: torch.Tensor, index: torch.Tensor, dim_size: int) -> torch.Tensor:
    """Max of the rows of ``src`` per bucket (empty buckets give ``-inf``)."""
    out = src.new_full((dim_size,) + tuple(src.shape[1:]), float("-inf"))
    return out.scatter_reduce(0, _expand_index(index, src), src, reduce="amax", include_self=True)


def segment_softmax(logits: torch.Tensor, index: torch.Tensor, dim_size: int,
                    weights: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Softmax of ``logits`` ([E, ...]) over all entries that share an ``index``.

    Used for attention over the edges entering each atom. The per-segment max
    is subtracted for stability; it is detached since softmax is invariant to it.

    With ``weights`` [E] (broadcast over the trailing dims of ``logits``) it is
    ``w_e exp(l_e) / (1 + sum_{e' in segment} w_e' exp(l_e'))``: a weighted softmax with a sink of
    logit 0. With weights from a cutoff envelope every probability goes smoothly to zero as an
    edge leaves the cutoff and the others change smoothly too, where the plain softmax
    renormalises them with a jump; the sink (a virtual edge with no value) keeps an atom whose last
    neighbour leaves from dividing 0 by 0. The subtracted ``max(0, max l)`` cancels.

    Example:
        >>> segment_softmax(torch.tensor([0., 0., 1.]), torch.tensor([0, 0, 1]), 2)
        tensor([0.5000, 0.5000, 1.0000])
        >>> segment_softmax(torch.tensor([0., 0., 0.]), torch.tensor([0, 0, 1]), 2,
        ...                 weights=torch.tensor([1., 1., 0.]))
        tensor([0.3333, 0.3333, 0.0000])
    """
    seg_max = scatter_max(logits.detach(), index, dim_size)
    if weights is not None:
        seg_max = seg_max.clamp_min(0.0)  # the sink's logit 0 takes part in the max
    shifted = (logits - seg_max[index]).exp()
    if weights is not None:
        shifted = shifted * weights.reshape(weights.shape + (1,) * (logits.dim() - 1))
    denom = scatter_sum(shifted, index, dim_size)
    if weights is not None:
        denom = denom + (-seg_max).exp()  # the sink: exp(0 - max)
    return shifted / (denom[index] + torch.finfo(logits.dtype).tiny)
