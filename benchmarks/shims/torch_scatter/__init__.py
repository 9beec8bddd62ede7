"""Stand-in for the compiled ``torch_scatter`` (no wheels for current torch), for fairchem-core
1.10's EquiformerV2 path: ``scatter`` (sum/add/mean/max/min along one dimension) via
``torch.Tensor.scatter_reduce``. fairchem imports it at module level in ``common/utils.py``."""

import torch

__version__ = "2.1.2+shim"


def scatter(src, index, dim=-1, out=None, dim_size=None, reduce="sum"):
    dim = dim % src.dim()
    if dim_size is None:
        dim_size = int(index.max()) + 1 if index.numel() else 0
    shape = list(src.shape)
    shape[dim] = dim_size
    if index.dim() == 1:
        index = index.view([-1 if d == dim else 1 for d in range(src.dim())]).expand_as(src)
    mode = {"sum": "sum", "add": "sum", "mean": "mean", "max": "amax", "min": "amin"}[reduce]
    result = torch.zeros(shape, dtype=src.dtype, device=src.device)
    result = result.scatter_reduce(dim, index, src, reduce=mode, include_self=False)
    if out is not None:
        return out.add_(result) if mode == "sum" else out.copy_(result)
    return result


def segment_coo(src, index, out=None, dim_size=None, reduce="sum"):
    return scatter(src, index, dim=index.dim() - 1, out=out, dim_size=dim_size, reduce=reduce)


def segment_csr(src, indptr, out=None, reduce="sum"):
    """Reduce consecutive segments ``indptr[i]:indptr[i + 1]`` of ``src`` along its first dimension
    (imported by GemNet at module level; not used by EquiformerV2)."""
    counts = indptr[1:] - indptr[:-1]
    index = torch.repeat_interleave(torch.arange(len(counts), device=src.device), counts)
    return scatter(src, index, dim=0, out=out, dim_size=len(counts), reduce=reduce)
