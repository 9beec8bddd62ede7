"""Reshaping irreps features into attention heads and back."""

import torch
from e3nn import o3


def split_heads(x: torch.Tensor, irreps_all: o3.Irreps, num_heads: int) -> torch.Tensor:
    """[M, irreps_all.dim] -> [M, num_heads, irreps_all.dim // num_heads].

    Each irreps entry ``mul x ir`` is split into ``num_heads`` groups of
    ``mul / num_heads`` channels; a head's vector is the concatenation of its
    groups in entry order, i.e. laid out as ``irreps_all`` with every
    multiplicity divided by ``num_heads``.
    """
    widths = [mul * ir.dim for mul, ir in irreps_all]
    chunks = x.split(widths, dim=-1)
    return torch.cat([c.reshape(x.shape[0], num_heads, w // num_heads) for c, w in zip(chunks, widths)], dim=-1)


def merge_heads(x: torch.Tensor, irreps_head: o3.Irreps) -> torch.Tensor:
    """Inverse of :func:`split_heads`: [M, H, irreps_head.dim] -> [M, H * irreps_head.dim]."""
    chunks = x.split([mul * ir.dim for mul, ir in irreps_head], dim=-1)
    return torch.cat([c.reshape(x.shape[0], -1) for c in chunks], dim=-1)
