"""Transforms of one atomic-data record, driven by the field registry (:mod:`.keys`)."""

import torch

from ..errors import DatasetError
from . import keys as K
from .atomic_data import AtomicData


def permute_atoms(data: AtomicData, perm: torch.Tensor) -> AtomicData:
    """Relabel the atoms of ONE graph: new atom ``i`` is old atom ``perm[i]`` (a new dict).

    Atom-level fields (positions, atomic numbers, forces, ``block_index``, ...) are reordered;
    fields whose values index atoms (``edge_index``) are mapped to the new labels; all other
    fields are unchanged. Physical quantities of the graph are therefore the same.

    Args:
        data: one graph (a record, or a batch of one graph); every key registered.
        perm: [N] int64, a permutation of ``0..N-1``.

    Raises:
        DatasetError: ``data`` holds several graphs, ``perm`` is no permutation of its atoms,
            or a key is not registered.

    Example:
        >>> from ase.build import molecule
        >>> from equiformers.data import from_ase
        >>> water = from_ase(molecule("H2O"), 5.0)
        >>> out = permute_atoms(water, torch.tensor([1, 2, 0]))
        >>> out["atomic_numbers"].tolist(), water["edge_index"][:, 0].tolist(), out["edge_index"][:, 0].tolist()
        ([1, 1, 8], [1, 0], [0, 2])
    """
    num_atoms = data[K.NUM_ATOMS]
    if num_atoms.numel() != 1:
        raise DatasetError(f"permute_atoms works on one graph, got a batch of {num_atoms.numel()}")
    n = int(num_atoms)
    perm = torch.as_tensor(perm, dtype=torch.long, device=num_atoms.device)
    if perm.shape != (n,) or not torch.equal(perm.sort().values, torch.arange(n, device=perm.device)):
        raise DatasetError(f"perm must be a permutation of 0..{n - 1}, got {perm.tolist()[:10]}")
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(n, device=perm.device)
    out: AtomicData = {}
    for key, value in data.items():
        f = K.field(key)
        if f.level == "atom":
            value = value.index_select(f.cat_dim, perm.to(value.device))
        if f.index_space == "atoms":
            value = inverse.to(value.device)[value]
        out[key] = value
    return out


def permute_blocks(data: AtomicData, perm: torch.Tensor) -> AtomicData:
    """Relabel the blocks of ONE graph: new block ``b`` is old block ``perm[b]`` (a new dict).

    Block-level fields (``block_type``, ``segment``, ...) are reordered; fields whose values index
    blocks (``block_index``, ``block_edge_index``) are mapped to the new labels; atoms keep their
    order. A model over blocks must give the same graph outputs.

    Example:
        >>> record = {"num_atoms": torch.tensor([3]), "num_blocks": torch.tensor([2]),
        ...           "block_index": torch.tensor([0, 0, 1]), "block_type": torch.tensor([7, 9])}
        >>> out = permute_blocks(record, torch.tensor([1, 0]))
        >>> out["block_index"].tolist(), out["block_type"].tolist()
        ([1, 1, 0], [9, 7])
    """
    num_blocks = data[K.NUM_BLOCKS]
    if num_blocks.numel() != 1:
        raise DatasetError(f"permute_blocks works on one graph, got a batch of {num_blocks.numel()}")
    n = int(num_blocks)
    perm = torch.as_tensor(perm, dtype=torch.long, device=num_blocks.device)
    if perm.shape != (n,) or not torch.equal(perm.sort().values, torch.arange(n, device=perm.device)):
        raise DatasetError(f"perm must be a permutation of 0..{n - 1}, got {perm.tolist()[:10]}")
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(n, device=perm.device)
    out: AtomicData = {}
    for key, value in data.items():
        f = K.field(key)
        if f.level == "block":
            value = value.index_select(f.cat_dim, perm.to(value.device))
        if f.index_space == "blocks":
            value = inverse.to(value.device)[value]
        out[key] = value
    return out
