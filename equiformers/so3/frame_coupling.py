"""Clebsch-Gordan couplings in an edge frame, where the edge's spherical harmonics are sparse.

A depth-wise tensor product ``x ⊗ Y(r̂)`` is equivariant, so it can be evaluated in any rotated
frame: ``TP(x, Y(r̂)) = D(R)ᵀ TP(D(R) x, Y(R r̂))``. In the edge frame of
:mod:`~equiformers.so3.frames` (``R r̂ = +y``, e3nn's polar axis) every degree of ``Y(+y)`` has
only its m = 0 coefficient (√(2l+1) in component normalisation), so each coupling
l1 ⊗ l2 → l3 becomes a fixed, sparse [2 l1 + 1, 2 l3 + 1] matrix ``K``: output order m3 reads
only input order +m3 or -m3 (the eSCN observation, Passaro & Zitnick 2023). This is exact, not an
approximation, and the same for every edge; no per-edge Clebsch-Gordan contraction is left.

Which one: a rotation about y turns each (+m, -m) pair by mθ, and a map commuting with that is
``[[a, -b], [b, a]]`` on the pair; the mirror y → y that fixes the edge (parity) keeps a only
when l1 + l2 + l3 is even and b only when it is odd. So "even" couplings map m → m, "odd" ones
m → -m (with opposite signs for ±m) and vanish at m3 = 0.
"""

import functools
from typing import Optional, Tuple

import torch
from e3nn import o3

#: one output order's coupling: (input order m1, coefficient), or None when the order gets nothing
Term = Optional[Tuple[int, float]]


@functools.lru_cache(maxsize=None)
def _pole_harmonics(l2: int) -> torch.Tensor:
    pole = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)
    return o3.spherical_harmonics(l2, pole, normalize=True, normalization="component")


def frame_coupling(l1: int, l2: int, l3: int) -> torch.Tensor:
    """``K`` [2 l1 + 1, 2 l3 + 1] (float64): ``out[m3] = Σ_m1 K[m1, m3] x[m1]`` is
    ``Σ_{m1,m2} C^{l1 l2 l3}_{m1 m2 m3} x[m1] Y_{l2 m2}(+y)`` with e3nn's ``wigner_3j`` C and
    component-normalised harmonics (multiply by a tensor product's path weight to match it).

    Example:
        >>> K = frame_coupling(1, 1, 1)  # the cross product with the y axis
        >>> (K.abs() > 1e-12).nonzero().tolist()
        [[0, 2], [2, 0]]
    """
    return torch.einsum("ijk,j->ik", o3.wigner_3j(l1, l2, l3, dtype=torch.float64), _pole_harmonics(l2))


@functools.lru_cache(maxsize=None)
def frame_terms(l1: int, l2: int, l3: int) -> Tuple[Term, ...]:
    """For each output order m3 = -l3..l3: ``(m1, K[m1, m3])`` of its one non-zero input, or None.

    Raises ``AssertionError`` if a column has more than one non-zero entry (it cannot, by the
    argument in the module docstring; the check guards the basis convention).

    Example:
        >>> m1, k = frame_terms(1, 2, 1)[1]  # m3 = 0 reads m1 = 0
        >>> m1, round(k, 6)
        (0, 0.816497)
        >>> [t if t is None else (t[0], round(t[1], 6)) for t in frame_terms(1, 1, 1)]  # odd: m3 = ±1 read ∓1
        [(1, -0.707107), None, (-1, 0.707107)]
    """
    coupling = frame_coupling(l1, l2, l3)
    terms = []
    for column in coupling.T:
        rows = (column.abs() > 1e-12).nonzero().flatten().tolist()
        assert len(rows) <= 1, f"coupling {l1}x{l2}->{l3} is not sparse in the edge frame: {column}"
        terms.append((rows[0] - l1, float(column[rows[0]])) if rows else None)
    return tuple(terms)
