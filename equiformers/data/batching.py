"""Batching variable-size graphs into one disjoint graph, driven by the field registry (:mod:`.keys`)."""

from itertools import accumulate
from typing import Dict, List, Sequence, Union

import torch

from ..errors import DatasetError
from . import keys as K
from .atomic_data import AtomicData

#: Keys collate computes itself; in an input (an earlier batch) they are recomputed, not concatenated.
MADE_BY_COLLATE = frozenset({K.BATCH, K.PTR, K.BLOCK_BATCH})
_BLOCK_LEVELS = ("block", "block_edge")


def collate(graphs: Sequence[AtomicData]) -> AtomicData:
    """One batch of ``graphs`` (single records or earlier batches), each field as the registry says.

    Every field is concatenated along its ``cat_dim``; fields whose values index atoms
    (``edge_index``) are offset by the atoms of the preceding inputs, those indexing blocks
    (``block_index``, ``block_edge_index``) by their blocks (inputs with block fields must carry
    ``num_blocks``). ``batch`` [N] and ``ptr`` [B + 1] are built (``block_batch`` [Nb] too when
    blocks are present); in an input they are recomputed, so collating batches equals
    collating their graphs.

    Raises:
        DatasetError: no graphs, a key nobody registered (:func:`~.keys.register_field`),
            graphs with different key sets, or block fields without ``num_blocks``.

    Example:
        >>> from ase.build import molecule
        >>> from equiformers.data import from_ase
        >>> b = collate([from_ase(molecule("H2O"), 5.0), from_ase(molecule("CH4"), 5.0)])
        >>> b["batch"].tolist(), b["num_atoms"].tolist()
        ([0, 0, 0, 1, 1, 1, 1, 1], [3, 5])
    """
    if not graphs:
        raise DatasetError("cannot collate an empty list of graphs")
    fields = _checked_fields(graphs)
    del fields[K.NUM_ATOMS]  # concatenated here, once
    num_atoms = torch.cat([g[K.NUM_ATOMS] for g in graphs])
    ptr = torch.cat([num_atoms.new_zeros(1), num_atoms.cumsum(0)])
    graph_ids = torch.arange(num_atoms.shape[0], device=num_atoms.device)
    out: AtomicData = {K.NUM_ATOMS: num_atoms, K.PTR: ptr, K.BATCH: torch.repeat_interleave(graph_ids, num_atoms)}
    offsets = {"atoms": _input_offsets(graphs, ptr)}
    if fields.pop(K.NUM_BLOCKS, None) is not None:
        num_blocks = torch.cat([g[K.NUM_BLOCKS] for g in graphs])
        block_ptr = torch.cat([num_blocks.new_zeros(1), num_blocks.cumsum(0)])
        out[K.NUM_BLOCKS], out[K.BLOCK_BATCH] = num_blocks, torch.repeat_interleave(graph_ids, num_blocks)
        offsets["blocks"] = _input_offsets(graphs, block_ptr)
    for key, f in fields.items():
        values = [g[key] for g in graphs]
        value = torch.cat(values, f.cat_dim)
        if f.index_space is not None:
            value = value + _per_row(offsets[f.index_space], values, f.cat_dim, value.dim())
        out[key] = value
    return out


def _checked_fields(graphs: Sequence[AtomicData]) -> Dict[str, K.Field]:
    """``{key: Field}`` of the keys to concatenate; raises for unknown keys or mismatched key sets."""
    first = graphs[0].keys()
    fields = {}
    for key in first:
        if key not in MADE_BY_COLLATE:
            fields[key] = _lookup(key, 0)
    for i, g in enumerate(graphs):
        if i and g.keys() != first:
            _check_same_keys(first, g.keys(), i)
    if K.NUM_ATOMS not in fields:
        raise DatasetError(f"graph 0 has no {K.NUM_ATOMS!r} key; records from from_arrays/from_ase carry it")
    if K.NUM_BLOCKS not in fields:
        blocky = sorted(k for k, f in fields.items() if f.level in _BLOCK_LEVELS or f.index_space == "blocks")
        if blocky:
            raise DatasetError(f"graphs with block fields {blocky} must carry {K.NUM_BLOCKS!r} [1] (blocks per graph)")
    return fields


def _lookup(key: str, graph: int) -> K.Field:
    try:
        return K.field(key)
    except DatasetError as err:
        raise DatasetError(f"graph {graph}: {err}") from None


def _check_same_keys(first, keys, i: int) -> None:
    extra = sorted(set(keys) - set(first) - MADE_BY_COLLATE)
    for key in extra:
        _lookup(key, i)
    missing = sorted(set(first) - set(keys) - MADE_BY_COLLATE)
    if missing or extra:
        raise DatasetError(f"graph {i} has other keys than graph 0: missing {missing}, extra {extra}; "
                           "every graph of a batch needs the same fields")


def _input_offsets(graphs: Sequence[AtomicData], ptr: torch.Tensor) -> torch.Tensor:
    """[len(graphs)] index of each input's first atom (or block) in the batch, from the batch's ``ptr``."""
    if ptr.shape[0] == len(graphs) + 1:  # every input is one graph
        return ptr[:-1]
    graphs_per_input = [g[K.NUM_ATOMS].shape[0] for g in graphs]
    first_graph = [0] + list(accumulate(graphs_per_input))[:-1]
    return ptr[torch.tensor(first_graph, device=ptr.device)]


def _per_row(offsets: torch.Tensor, values: List[torch.Tensor], dim: int, ndim: int) -> torch.Tensor:
    """Each input's offset repeated over its rows along ``dim``, shaped to broadcast against the batch."""
    rows = torch.tensor([v.shape[dim] for v in values], device=offsets.device)
    shift = torch.repeat_interleave(offsets, rows)
    shape = [1] * ndim
    shape[dim] = -1
    return shift.view(shape)


def to_device(data: AtomicData, device: Union[str, torch.device], dtype: torch.dtype = None) -> AtomicData:
    """Move every tensor to ``device``; floating tensors are cast to ``dtype`` if given."""
    out = {}
    for key, value in data.items():
        if dtype is not None and value.is_floating_point():
            value = value.to(dtype)
        out[key] = value.to(device)
    return out
