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
    return _relabel(data, perm, K.NUM_ATOMS, "atom", "atoms", "permute_atoms")


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
    return _relabel(data, perm, K.NUM_BLOCKS, "block", "blocks", "permute_blocks")


def _relabel(data: AtomicData, perm: torch.Tensor, count_key: str, level: str, index_space: str,
             name: str) -> AtomicData:
    """New item ``i`` of ``level`` is old item ``perm[i]``: fields of that level are reordered and
    fields indexing that space are mapped through the inverse permutation (one graph only)."""
    count = data[count_key]
    if count.numel() != 1:
        raise DatasetError(f"{name} works on one graph, got a batch of {count.numel()}")
    n = int(count)
    perm = torch.as_tensor(perm, dtype=torch.long, device=count.device)
    if perm.shape != (n,) or not torch.equal(perm.sort().values, torch.arange(n, device=perm.device)):
        raise DatasetError(f"perm must be a permutation of 0..{n - 1}, got {perm.tolist()[:10]}")
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(n, device=perm.device)
    out: AtomicData = {}
    for key, value in data.items():
        f = K.field(key)
        if f.level == level:
            value = value.index_select(f.cat_dim, perm.to(value.device))
        if f.index_space == index_space:
            value = inverse.to(value.device)[value]
        out[key] = value
    return out


#: fields that turn with the structure: Cartesian vectors (rows) and rank-2 tensors
_ROTATING_VECTORS = (K.POSITIONS, K.FORCES, K.CELL)
_ROTATING_TENSORS = (K.STRESS,)


def random_rotation(data: AtomicData, generator: torch.Generator = None) -> AtomicData:
    """``data`` turned by a uniformly random rotation (a new dict): positions, forces and cell rows
    as vectors, the stress as a tensor; edges, scalars and targets such as QM9's are invariant.

    A rotation keeps every distance, so the graph of ``data`` stays valid (training-time augmentation
    after ``model.prepare``). ``generator``: the random source (default: torch's global one, which
    Lightning seeds per worker).

    Example:
        >>> from ase.build import molecule
        >>> from equiformers.data import from_ase
        >>> water = from_ase(molecule("H2O"))
        >>> turned = random_rotation(water, torch.Generator().manual_seed(0))
        >>> bool(torch.allclose(torch.cdist(turned["pos"], turned["pos"]), torch.cdist(water["pos"], water["pos"])))
        True
    """
    q = torch.randn(4, generator=generator, dtype=torch.float64)  # uniform on SO(3) via a random unit quaternion
    w, x, y, z = (q / q.norm()).tolist()
    rotation = torch.tensor([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                             [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                             [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]], dtype=torch.float64)
    out = dict(data)
    for key in _ROTATING_VECTORS:
        if key in out:
            out[key] = out[key] @ rotation.T.to(out[key])
    for key in _ROTATING_TENSORS:
        if key in out:
            r = rotation.to(out[key])
            out[key] = r @ out[key] @ r.T
    return out
