"""Helpers on e3nn irreps used by several layers.

Irreps stay e3nn :class:`~e3nn.o3.Irreps` values; these functions only derive
new irreps from old ones.
"""

from typing import List, Tuple

from e3nn import o3

SCALAR = o3.Irrep(0, 1)


def sort_even_first(irreps: o3.Irreps) -> Tuple[o3.Irreps, Tuple[int, ...]]:
    """Sort by degree, even parity before odd within a degree (the reference layout).

    Returns the sorted irreps and ``perm`` with ``perm[old_index] = new_index``.

    Example:
        >>> sort_even_first(o3.Irreps("2x1o+3x0e+1x1e"))[0]
        3x0e+1x1e+2x1o
    """
    keyed = sorted((ir.l, -ir.p, i, mul) for i, (mul, ir) in enumerate(irreps))
    sorted_irreps = o3.Irreps([(mul, (l, -neg_p)) for l, neg_p, _, mul in keyed])
    perm = [0] * len(keyed)
    for new_index, (_, _, old_index, _) in enumerate(keyed):
        perm[old_index] = new_index
    return sorted_irreps, tuple(perm)


def num_scalars(irreps: o3.Irreps) -> int:
    """Number of even scalar (``0e``) channels."""
    return sum(mul for mul, ir in irreps if ir == SCALAR)


def split_for_gate(irreps: o3.Irreps) -> Tuple[o3.Irreps, o3.Irreps, o3.Irreps]:
    """Split irreps into (scalars, gates, gated) for a gate activation.

    Scalars are the ``0e`` channels; every other channel is gated by one extra
    ``0e`` gate scalar.

    Example:
        >>> split_for_gate(o3.Irreps("8x0e+4x1e+2x2e"))
        (8x0e, 6x0e, 4x1e+2x2e)
    """
    scalars = o3.Irreps([(mul, ir) for mul, ir in irreps if ir == SCALAR]).simplify()
    gated = o3.Irreps([(mul, ir) for mul, ir in irreps if ir != SCALAR]).simplify()
    gates = o3.Irreps([(gated.num_irreps, "0e")] if gated.num_irreps else []).simplify()
    return scalars, gates, gated


def multiply_irreps(irreps: o3.Irreps, factor: int) -> o3.Irreps:
    """Multiply every multiplicity by ``factor`` (e.g. per-head irreps -> all heads)."""
    return o3.Irreps([(mul * factor, ir) for mul, ir in irreps])


def irreps_chunks(irreps: o3.Irreps) -> List[Tuple[int, int, int]]:
    """``(start, mul, dim)`` of each entry of ``irreps`` in a flat feature vector."""
    chunks, start = [], 0
    for mul, ir in irreps:
        chunks.append((start, mul, ir.dim))
        start += mul * ir.dim
    return chunks
