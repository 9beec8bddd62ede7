"""Stand-in for ``torch_scatter.scatter`` (a compiled package with no wheels for current torch),
written for the official Equiformer's calls only: sum/mean/max/min along one dimension."""

import torch


def scatter(src, index, dim=-1, out=None, dim_size=None, reduce="sum"):
    dim = dim % src.dim()
    if dim_size is None:
        dim_size = int(index.max()) + 1 if index.numel() else 0
    shape = list(src.shape)
    shape[dim] = dim_size
    if index.dim() == 1:
        index = index.view([-1 if d == dim else 1 for d in range(src.dim())]).expand_as(src)
    result = torch.zeros(shape, dtype=src.dtype, device=src.device)
    mode = {"sum": "sum", "add": "sum", "mean": "mean", "max": "amax", "min": "amin"}[reduce]
    return result.scatter_reduce(dim, index, src, reduce=mode, include_self=False)
