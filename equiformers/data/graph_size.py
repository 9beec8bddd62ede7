"""How many edges a radius graph will have, estimated before the neighbour list is built.

A mistaken cell (1 Å instead of 10 Å) or cutoff (50 Å instead of 5 Å) makes the neighbour list
grow as cutoff³ × density: hundreds of millions of pairs, minutes and gigabytes before the model
even runs. :func:`check_graph_size` estimates the count in milliseconds and refuses structures
above a limit, with a message giving the count and the memory it would take.

The limit is :data:`DEFAULT_MAX_EDGES` edges per structure, or the environment variable
``EQUIFORMERS_MAX_EDGES``, or the ``max_edges`` argument (CLI: ``--max-edges``); 0 disables it.

Example:
    >>> import numpy as np
    >>> estimate_edges(np.zeros((1, 3)), cutoff=50.0, cell=np.eye(3), pbc=[True] * 3) > 500_000
    True
"""

import math
import os
from typing import Optional

import numpy as np

from ..errors import InvalidStructureError

#: edges per structure above which building a radius graph is refused (about 1 GB of model
#: activations per 10^4 edges is typical of these transformers, so this is already far past a GPU)
DEFAULT_MAX_EDGES = 5_000_000
#: bytes per edge of the neighbour list and the edge arrays made from it (indices, shifts, copies)
BYTES_PER_EDGE = 112
_SAMPLE = 128  # atoms whose neighbours are counted exactly in the sampled estimate
_WORK = 50_000_000  # at most this many distances evaluated (well under a second)


def max_edges_limit(max_edges: Optional[int] = None) -> int:
    """The limit in force: ``max_edges`` if given, else ``$EQUIFORMERS_MAX_EDGES``, else the default."""
    if max_edges is not None:
        return int(max_edges)
    raw = os.environ.get("EQUIFORMERS_MAX_EDGES")
    if raw is None:
        return DEFAULT_MAX_EDGES
    try:
        return int(float(raw))
    except ValueError:
        raise InvalidStructureError(f"EQUIFORMERS_MAX_EDGES must be a number of edges, got {raw!r}") from None


def estimate_edges(positions: np.ndarray, cutoff: float, cell: np.ndarray, pbc) -> int:
    """Expected number of ordered pairs closer than ``cutoff`` (Å), periodic images included.

    The neighbours of up to 128 sampled atoms are counted over every periodic image in reach and
    scaled to ``N``. With too many images to count (a cell much smaller than the cutoff): for a
    fully periodic cell ``N × density × 4/3 π rc³`` (exact on average for a uniform material),
    otherwise the upper bound ``N² × images``.
    """
    pos = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    n = len(pos)
    pbc = np.asarray(pbc, dtype=bool).reshape(3)
    cell = np.asarray(cell, dtype=np.float64).reshape(3, 3)
    volume = abs(float(np.linalg.det(cell))) if pbc.any() else 0.0
    if pbc.any() and volume < 1e-9:
        raise InvalidStructureError(f"the periodic cell has zero volume (cell {cell.tolist()} Å)")
    reach = np.zeros(3, dtype=int)
    for axis in np.flatnonzero(pbc):  # images needed per periodic direction: cutoff / plane spacing
        others = [a for a in range(3) if a != axis]
        spacing = volume / max(np.linalg.norm(np.cross(cell[others[0]], cell[others[1]])), 1e-12)
        reach[axis] = math.ceil(cutoff / spacing)
    images = int(np.prod(2 * reach + 1))
    samples = min(n, _SAMPLE, _WORK // max(images * n, 1))
    if samples < min(n, 16):  # too many images to count: a tiny cell or a huge cutoff
        if pbc.all():
            return int(n * n * 4.0 / 3.0 * math.pi * cutoff ** 3 / volume)
        return n * n * images
    grids = np.meshgrid(*[np.arange(-r, r + 1) for r in reach], indexing="ij")
    shifts = np.stack([g.ravel() for g in grids], axis=1) @ cell  # [images, 3] Å
    sample = pos if samples == n else pos[np.random.default_rng(0).choice(n, samples, replace=False)]
    chunk = max(1, 4_000_000 // samples)  # bounded memory: [samples, chunk] distances at a time
    count = 0
    for shift in shifts:
        for start in range(0, n, chunk):
            d2 = ((sample[:, None, :] - pos[None, start:start + chunk, :] - shift) ** 2).sum(-1)
            count += int((d2 < cutoff * cutoff).sum())
    count -= samples  # each sampled atom with itself at the zero shift
    return int(round(count * n / samples))


def check_graph_size(positions: np.ndarray, cutoff: float, cell: np.ndarray, pbc,
                     max_edges: Optional[int] = None) -> int:
    """The estimated edge count; :class:`InvalidStructureError` if it exceeds the limit in force."""
    limit = max_edges_limit(max_edges)
    n = len(positions)
    if limit <= 0 or (not np.any(pbc) and n * (n - 1) <= limit):  # no limit, or a molecule far below it
        return n * (n - 1)
    estimate = estimate_edges(positions, cutoff, cell, pbc)
    if estimate > limit:
        size = estimate * BYTES_PER_EDGE
        memory = f"{size / 1e9:.1f} GB" if size >= 1e8 else f"{size / 1e6:.1f} MB"
        raise InvalidStructureError(
            f"a {cutoff:g} Å radius graph of these {n} atoms would have about {estimate:,} edges "
            f"({estimate / max(n, 1):,.0f} per atom; ~{memory} for the neighbour list alone, far more in "
            f"the model), above the limit of {limit:,}: check the cell and the cutoff, or raise the limit "
            "(--max-edges, or the environment variable EQUIFORMERS_MAX_EDGES; 0 means no limit)")
    return estimate
