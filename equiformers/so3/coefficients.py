"""Index tables of the "sphere" layout [N, (lmax+1)², C] and its m-truncated, m-major edge layout.

Node features of EquiformerV2-style models hold every degree l ≤ lmax with the same channels,
coefficients **l-major**: index ``l² + l + m`` is degree l, order m (-l ≤ m ≤ l), e3nn's real basis.

In the edge frame (edge along y) only orders |m| ≤ mmax are kept (m-truncation) and the SO(2)
convolution wants them **m-major**: first m = 0 for l = 0..lmax, then for each m = 1..mmax the +m
coefficients (l = m..lmax) followed by the -m coefficients (l = m..lmax). This is the order of
the reference's ``CoefficientMappingModule.to_m`` (with +m as the "real" and -m as the
"imaginary" part), so SO(2) weights map one to one.

Dropping |m| > mmax after rotating into the edge frame loses part of each degree l > mmax;
rotating back, the reference scales those degrees by √((2l+1)/(2 mmax+1)) (the ratio of kept to
total orders), see :func:`truncation_rescale`.

All functions return plain Python tuples (cached); callers turn them into tensors.
"""

import functools
import math
from typing import Tuple


def sphere_size(lmax: int) -> int:
    """Number of coefficients of degrees 0..lmax: (lmax + 1)²."""
    return (lmax + 1) ** 2


@functools.lru_cache(maxsize=None)
def degree_of_coefficients(lmax: int) -> Tuple[int, ...]:
    """Degree l of each l-major coefficient: (0, 1, 1, 1, 2, ...), length (lmax + 1)².

    Example:
        >>> degree_of_coefficients(1)
        (0, 1, 1, 1)
    """
    return tuple(l for l in range(lmax + 1) for _ in range(2 * l + 1))


@functools.lru_cache(maxsize=None)
def m_major_coefficients(lmax: int, mmax: int) -> Tuple[Tuple[int, int], ...]:
    """(l, m) of each coefficient of the truncated edge layout, in m-major order.

    Example:
        >>> m_major_coefficients(2, 1)
        ((0, 0), (1, 0), (2, 0), (1, 1), (2, 1), (1, -1), (2, -1))
    """
    _check(lmax, mmax)
    order = [(l, 0) for l in range(lmax + 1)]
    for m in range(1, mmax + 1):
        order += [(l, m) for l in range(m, lmax + 1)]
        order += [(l, -m) for l in range(m, lmax + 1)]
    return tuple(order)


@functools.lru_cache(maxsize=None)
def m_major_index(lmax: int, mmax: int) -> Tuple[int, ...]:
    """For each m-major edge coefficient, its index in the full l-major layout (``l² + l + m``).

    Example:
        >>> m_major_index(2, 1)
        (0, 2, 6, 3, 7, 1, 5)
    """
    return tuple(l * l + l + m for l, m in m_major_coefficients(lmax, mmax))


def m_sizes(lmax: int, mmax: int) -> Tuple[int, ...]:
    """Number of degrees carrying order m, for m = 0..mmax: (lmax + 1, lmax, ..., lmax - mmax + 1).

    In the m-major layout, block m = 0 has ``m_sizes[0]`` rows and block m > 0 has ``2 m_sizes[m]``
    (+m rows, then -m rows).

    Example:
        >>> m_sizes(6, 2)
        (7, 6, 5)
    """
    _check(lmax, mmax)
    return tuple(lmax - m + 1 for m in range(mmax + 1))


def truncated_size(lmax: int, mmax: int) -> int:
    """Number of coefficients with |m| ≤ mmax: 29 of 49 for lmax 6, mmax 2.

    Example:
        >>> truncated_size(6, 2)
        29
    """
    return len(m_major_coefficients(lmax, mmax))


@functools.lru_cache(maxsize=None)
def truncation_rescale(lmax: int, mmax: int) -> Tuple[float, ...]:
    """Per-degree factor √((2l+1)/(2 mmax+1)) for l > mmax, 1 otherwise; length lmax + 1.

    Example:
        >>> [round(f, 4) for f in truncation_rescale(3, 1)]
        [1.0, 1.0, 1.291, 1.5275]
    """
    _check(lmax, mmax)
    return tuple(math.sqrt((2 * l + 1) / (2 * mmax + 1)) if l > mmax else 1.0 for l in range(lmax + 1))


def _check(lmax: int, mmax: int) -> None:
    if lmax < 0 or not 0 <= mmax <= lmax:
        raise ValueError(f"need 0 <= mmax <= lmax, got lmax={lmax}, mmax={mmax}")
