"""The equivariant kernel basis W_J^{lk}(x) = sum_m Y_Jm(x/|x|) Q_Jm^{lk}, fused as NVIDIA's.

For an input degree ``d_in`` and an output degree ``d_out`` the kernel has ``2 min(d_in, d_out) + 1``
*frequencies* J = |d_in - d_out| .. d_in + d_out (Efficient paper eqs. 13-14). The Clebsch-Gordan
matrices Q_J are e3nn's ``wigner_3j(J, d_in, d_out)`` (exact; no SVD of the Sylvester constraint
as in Fuchs' code, no disk cache), and Y are e3nn's real spherical harmonics with
``normalization="integral"`` (NVIDIA's choice; the scale is absorbed by the radial networks).

A *basis group* is a list of degree pairs whose kernels are applied by one pair of batched
matrix products (NVIDIA's fusion): its basis tensor is ``[E, A, F, B]`` with ``A`` the stacked
input components (sum of 2d+1 over the group's input degrees), ``F`` the group's frequencies
(pair by pair, in the group's order, J ascending within a pair) and ``B`` the stacked output
components. Entries that belong to no pair are zero. Every group is one product of the edges'
spherical harmonics ``[E, S]`` with a constant ``[S, A*F*B]`` built once in float64 from the
Clebsch-Gordan coefficients and cached in memory per (group, dtype, device); casting from float64
keeps float64 models exact.

The constant (0, 0) kernel Y_00 Q_0 = 1/sqrt(4 pi) is kept in every group (NVIDIA drops it from its
unfused products but not from its fused ones), so all fusion levels compute the same function.

Example:
    >>> group = BasisGroup.of([(1, 1)])
    >>> group.num_freq, group.in_dim, group.out_dim
    (3, 3, 3)
    >>> vec = torch.randn(5, 3, dtype=torch.float64)
    >>> KernelBases(vec, [group])[group].shape
    torch.Size([5, 3, 3, 3])
"""

import functools
from dataclasses import dataclass
from typing import Dict, Iterable, Sequence, Tuple

import torch
from e3nn import o3

Pair = Tuple[int, int]  # (input degree, output degree)


def num_frequencies(d_in: int, d_out: int) -> int:
    """Number of basis kernels J = |d_in - d_out| .. d_in + d_out, i.e. ``2 min(d_in, d_out) + 1``."""
    return 2 * min(d_in, d_out) + 1


@dataclass(frozen=True)
class BasisGroup:
    """Degree pairs applied together; ``degrees_in``/``degrees_out`` are the stacked row/column degrees."""

    pairs: Tuple[Pair, ...]
    degrees_in: Tuple[int, ...]
    degrees_out: Tuple[int, ...]

    @classmethod
    def of(cls, pairs: Sequence[Pair]) -> "BasisGroup":
        pairs = tuple((int(a), int(b)) for a, b in pairs)
        return cls(pairs, tuple(sorted({a for a, _ in pairs})), tuple(sorted({b for _, b in pairs})))

    @property
    def num_freq(self) -> int:
        return sum(num_frequencies(a, b) for a, b in self.pairs)

    @property
    def in_dim(self) -> int:
        return sum(2 * d + 1 for d in self.degrees_in)

    @property
    def out_dim(self) -> int:
        return sum(2 * d + 1 for d in self.degrees_out)

    @property
    def max_frequency(self) -> int:
        return max(a + b for a, b in self.pairs)

    @property
    def is_scalar(self) -> bool:
        """Only the (0, 0) pair: its basis is the constant Y_00 = 1/sqrt(4 pi)."""
        return self.pairs == ((0, 0),)


@functools.lru_cache(maxsize=None)
def _clebsch_gordan(j: int, d_in: int, d_out: int) -> torch.Tensor:
    """Q_J as e3nn's ``wigner_3j(J, d_in, d_out)`` [2J+1, 2d_in+1, 2d_out+1], float64 on the CPU."""
    return o3.wigner_3j(j, d_in, d_out, dtype=torch.float64)


def _offsets(degrees: Sequence[int]) -> Dict[int, int]:
    out, start = {}, 0
    for d in degrees:
        out[d] = start
        start += 2 * d + 1
    return out


@functools.lru_cache(maxsize=None)
def _group_constant64(group: BasisGroup) -> torch.Tensor:
    """The constant ``[S, A, F, B]`` (S = (J_max + 1)^2 harmonics) of ``group``, float64 on the CPU."""
    sh_dim = (group.max_frequency + 1) ** 2
    constant = torch.zeros(sh_dim, group.in_dim, group.num_freq, group.out_dim, dtype=torch.float64)
    rows, cols = _offsets(group.degrees_in), _offsets(group.degrees_out)
    f = 0
    for d_in, d_out in group.pairs:
        for j in range(abs(d_in - d_out), d_in + d_out + 1):
            q = _clebsch_gordan(j, d_in, d_out)  # [2J+1, 2d_in+1, 2d_out+1]
            constant[j * j:(j + 1) ** 2, rows[d_in]:rows[d_in] + 2 * d_in + 1, f,
                     cols[d_out]:cols[d_out] + 2 * d_out + 1] = q
            f += 1
    return constant


_CAST: Dict[Tuple[BasisGroup, torch.dtype, torch.device], torch.Tensor] = {}


def group_constant(group: BasisGroup, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``group``'s constant as ``[S, A*F*B]`` in ``dtype`` on ``device`` (cast from float64, cached)."""
    key = (group, dtype, torch.device(device))
    if key not in _CAST:
        constant = _group_constant64(group)
        _CAST[key] = constant.reshape(constant.shape[0], -1).to(dtype=dtype, device=device)
    return _CAST[key]


class KernelBases:
    """The basis tensors of the given groups for one batch of edges (computed once per forward).

    Args:
        edge_vec: [E, 3] edge vectors in Å (any length > 0; only the direction matters).
        groups: the basis groups the model's convolutions need.

    ``bases[group]`` is ``[E, A, F, B]`` (see the module docstring). Not an ``nn.Module`` and not
    kept between calls: the model builds it in ``forward`` and passes it down, so no layer holds
    per-batch state.
    """

    def __init__(self, edge_vec: torch.Tensor, groups: Iterable[BasisGroup]):
        groups = list(dict.fromkeys(groups))
        self.num_edges = edge_vec.shape[0]
        self._bases: Dict[BasisGroup, torch.Tensor] = {}
        if not groups:
            return
        j_max = max(g.max_frequency for g in groups)
        sh = o3.spherical_harmonics(list(range(j_max + 1)), edge_vec, normalize=True, normalization="integral")
        for group in groups:
            constant = group_constant(group, edge_vec.dtype, edge_vec.device)
            basis = sh[:, :constant.shape[0]] @ constant
            self._bases[group] = basis.view(-1, group.in_dim, group.num_freq, group.out_dim)

    def __getitem__(self, group: BasisGroup) -> torch.Tensor:
        return self._bases[group]
