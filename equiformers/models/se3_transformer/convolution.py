"""Equivariant graph convolutions: the TFN kernel (SE(3)-Transformer) and the depth-wise kernel
(Efficient SE(3)-Transformer), both applied as NVIDIA's batched matrix products.

**TFN** (Efficient paper eq. 15): the message from input degree k to output degree l is
``sum_{c'} sum_J phi_J^{lc,kc'}(r) W_J^{lk}(x) f^{kc'}``; the radial networks emit
``F_pair * C_in * C_out`` numbers per edge. For a basis group (see :mod:`.basis`) with basis
``[E, A, F, B]`` it is computed as NVIDIA does::

    tmp = feat[E, C_in, A] @ basis[E, A, F*B]            -> [E, C_in*F, B]
    out = R[E, C_out, C_in*F] @ tmp                       -> [E, C_out, B]

**Depth-wise** (eqs. 16-19, 24): the kernel V~^l_k(x) = sum_J phi_J^{lk}(r) W_J^{lk}(x) has no
channel index (the radial networks emit ``F_pair`` numbers per edge, shared by every channel),
so each channel c' is convolved separately, mixing degrees and neighbours::

    kernel = sum_f phi[E, F] basis[E, A, F, B]            -> [E, A, B]
    out = feat[E, C, A] @ kernel                          -> [E, C, B]

The channel mixing U of eq. 16 is applied by the caller (the attention block hoists it out of the
neighbour sum, eq. 25). It needs the same channel count C in every input degree.

**Fusion** (how pairs are grouped into products, not what is computed: every level gives the same
result for the same weights):

* ``full``: one product for all pairs; needs the same channels in every input degree and in every
  output degree (unequal channels are a :class:`ConfigError`, not a shape error; cf. NVIDIA #1250).
* ``partial``: one product per output degree (needs uniform input channels) or, failing that, per
  input degree (needs uniform output channels).
* ``none``: one product per degree pair.
* ``auto``: the highest level the fibers allow.

Unlike NVIDIA, fused groups need not cover contiguous degrees 0..L (the constant basis of a group
is built for any degree sets).
"""

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from ...errors import ConfigError
from ...ops.scatter import scatter_mean, scatter_sum
from .basis import BasisGroup, KernelBases, num_frequencies
from .fiber import Features, Fiber
from .radial import RadialConfig, RadialProfile

FUSION_CHOICES = ("auto", "full", "partial", "none")
_FALLBACK = {"full": ("full", "partial_out", "partial_in", "none"), "partial": ("partial_out", "partial_in", "none"),
             "none": ("none",)}


@dataclass
class EdgeContext:
    """What every convolution of one forward pass shares.

    Attributes:
        src, dst: [E] sending (j) and receiving (i) atom of each edge; messages flow j -> i.
        num_nodes: N.
        radial_inputs: [E, edge_dim + 1] radial-network input (bond-type one-hot, distance in Å).
        bases: the kernel bases of every group the model needs.
    """

    src: torch.Tensor
    dst: torch.Tensor
    num_nodes: int
    radial_inputs: torch.Tensor
    bases: KernelBases


def plan_fusion(requested: str, fiber_in: Fiber, fiber_out: Fiber, depthwise: bool, strict: bool = True,
                where: str = "convolution") -> Tuple[str, List[BasisGroup]]:
    """The fusion level used and its basis groups.

    ``strict``: the requested level must be possible (else :class:`ConfigError`); otherwise the
    request is a cap and the highest possible level at or below it is used.
    """
    if requested not in FUSION_CHOICES:
        raise ConfigError(f"fusion must be one of {FUSION_CHOICES}, got {requested!r}")
    in_ok = fiber_in.uniform_channels
    out_ok = fiber_out.uniform_channels or depthwise  # depth-wise outputs have the input channels
    possible = {"full": in_ok and out_ok, "partial_out": in_ok, "partial_in": out_ok, "none": True}
    if requested == "auto" or not strict:
        level = next(lv for lv in _FALLBACK["full" if requested == "auto" else requested] if possible[lv])
    else:
        level = next((lv for lv in _FALLBACK[requested][:2 if requested == "partial" else 1] if possible[lv]), None)
        if level is None:
            need = ("the same number of channels in every degree of the input and of the output fiber"
                    if requested == "full" else "the same channels in every input degree or in every output degree")
            raise ConfigError(f"{where}: fusion {requested!r} needs {need}; got input {fiber_in}, output {fiber_out} "
                              "(use fusion 'auto' to pick the highest possible level)")
    d_in, d_out = fiber_in.degrees, fiber_out.degrees
    if level == "full":
        groups = [BasisGroup.of([(a, b) for b in d_out for a in d_in])]
    elif level == "partial_out":
        groups = [BasisGroup.of([(a, b) for a in d_in]) for b in d_out]
    elif level == "partial_in":
        groups = [BasisGroup.of([(a, b) for b in d_out]) for a in d_in]
    else:
        groups = [BasisGroup.of([(a, b)]) for b in d_out for a in d_in]
    return level, groups


def radial_groups(sharing: str, fiber_in: Fiber, fiber_out: Fiber, pairs: List[Tuple[int, int]],
                  max_degree: int) -> List[List[Tuple[int, int]]]:
    """Which degree pairs share one radial network (see :class:`~.radial.RadialConfig`).

    ``nvidia`` follows NVIDIA's ``ConvSE3``: its radial networks are one per fused product, and it
    fuses all pairs when both fibers have uniform channels on degrees 0..max_degree, per output
    degree when the input fiber does, per input degree when the output fiber does, else per pair.
    """
    if sharing == "pair":
        return [[p] for p in pairs]
    if sharing == "convolution":
        return [list(pairs)]
    full_in = fiber_in.uniform_channels and fiber_in.degrees == tuple(range(max_degree + 1))
    full_out = fiber_out.uniform_channels and fiber_out.degrees == tuple(range(max_degree + 1))
    if full_in and full_out:
        return [list(pairs)]
    if full_in:
        return [[p for p in pairs if p[1] == b] for b in fiber_out.degrees]
    if full_out:
        return [[p for p in pairs if p[0] == a] for a in fiber_in.degrees]
    return [[p] for p in pairs]


class EquivariantConvolution(nn.Module):
    """A TFN or depth-wise equivariant convolution from ``fiber_in`` to ``fiber_out``.

    Args:
        fiber_in, fiber_out: channels per degree (``depthwise``: ``fiber_out``'s channels must equal the
            input channels, which must be the same for every input degree).
        edge_dim: number of invariant edge inputs besides the distance (bond-type one-hot width).
        radial: radial network settings. depthwise: the Efficient paper's channel-shared kernel.
        fusion, strict: see :func:`plan_fusion`.
        pool: ``None``: return one message per edge ``{l: [E, C, 2l+1]}``; ``"mean"`` / ``"sum"``: the
            messages aggregated on the receiving atoms ``{l: [N, C, 2l+1]}``.
        max_degree: the model's largest hidden degree (only read by ``radial.sharing: nvidia``).
        low_memory: recompute this convolution in the backward pass (activation checkpointing)
            instead of storing its per-edge intermediates.
    """

    def __init__(self, fiber_in: Fiber, fiber_out: Fiber, edge_dim: int, radial: RadialConfig, depthwise: bool = False,
                 fusion: str = "auto", strict: bool = True, pool: Optional[str] = None, low_memory: bool = False,
                 max_degree: Optional[int] = None, where: str = "convolution"):
        super().__init__()
        if depthwise and (not fiber_in.uniform_channels or set(fiber_out.channels) != {fiber_in.channels[0]}):
            raise ConfigError(f"{where}: a depth-wise (separable) kernel needs the same channels in every input "
                              f"degree and as many output channels; got input {fiber_in}, output {fiber_out}")
        if pool not in (None, "mean", "sum"):
            raise ConfigError(f"{where}: pool must be None, 'mean' or 'sum', got {pool!r}")
        self.fiber_in, self.fiber_out, self.depthwise = fiber_in, fiber_out, depthwise
        self.pool, self.low_memory = pool, low_memory
        self.fusion, self.groups = plan_fusion(fusion, fiber_in, fiber_out, depthwise, strict, where)
        self.pairs = [(a, b) for b in fiber_out.degrees for a in fiber_in.degrees]
        self.radial_groups = radial_groups(radial.sharing, fiber_in, fiber_out, self.pairs,
                                           max_degree if max_degree is not None else max(fiber_in.max_degree,
                                                                                         fiber_out.max_degree))
        self.radial = nn.ModuleList(RadialProfile(edge_dim + 1, sum(self.pair_size(p) for p in group), radial)
                                    for group in self.radial_groups)

    def pair_size(self, pair: Tuple[int, int]) -> int:
        """Radial coefficients of ``pair`` per edge: F (depth-wise) or F C_in C_out (TFN)."""
        a, b = pair
        return num_frequencies(a, b) * (1 if self.depthwise else self.fiber_in[a] * self.fiber_out[b])

    def _uniform(self, pairs) -> bool:
        """Whether ``pairs`` share input and output channel counts (then their coefficients stack on F)."""
        return self.depthwise or (len({self.fiber_in[a] for a, _ in pairs}) == 1
                                  and len({self.fiber_out[b] for _, b in pairs}) == 1)

    def radial_weights(self, radial_inputs: torch.Tensor):
        """Radial coefficients: ``(per pair, per radial group)``.

        Per pair: TFN ``[E, C_out, C_in, F_pair]``, depth-wise ``[E, F_pair]``. A radial network whose
        pairs have uniform channels lays its output out as ``[E, C_out, C_in, F_group]`` (NVIDIA's
        layout; pairs are views along F), and is also returned whole, keyed by its pairs, so a fused
        product over the same pairs uses it without a copy. Otherwise the output is pair blocks.
        """
        per_pair, per_group = {}, {}
        for group, net in zip(self.radial_groups, self.radial):
            raw = net(radial_inputs)
            if self._uniform(group):
                a, b = group[0]
                total = sum(num_frequencies(*p) for p in group)
                whole = raw.reshape(-1, total) if self.depthwise else raw.reshape(-1, self.fiber_out[b],
                                                                                  self.fiber_in[a], total)
                per_group[tuple(group)] = whole
                chunks = whole.split([num_frequencies(*p) for p in group], dim=-1)
            else:
                chunks = [w.reshape(-1, self.fiber_out[b], self.fiber_in[a], num_frequencies(a, b))
                          for (a, b), w in zip(group, raw.split([self.pair_size(p) for p in group], dim=-1))]
            per_pair.update(zip(group, chunks))
        return per_pair, per_group

    def pair_weights(self, radial_inputs: torch.Tensor) -> Dict[Tuple[int, int], torch.Tensor]:
        """Radial coefficients per pair: TFN ``[E, C_out, C_in, F]``, depth-wise ``[E, F]``."""
        return self.radial_weights(radial_inputs)[0]

    def forward(self, x: Features, edges: EdgeContext) -> Features:
        """``x``: ``{l: [N, C_l, 2l+1]}`` node features -> per-edge or pooled messages (see ``pool``)."""
        if self.low_memory and torch.is_grad_enabled():
            return checkpoint(self._forward, x, edges, use_reentrant=False)
        return self._forward(x, edges)

    def _forward(self, x: Features, edges: EdgeContext) -> Features:
        weights, whole = self.radial_weights(edges.radial_inputs)
        gathered: Dict[Tuple[int, ...], torch.Tensor] = {}
        out: Dict[int, torch.Tensor] = {}
        for group in self.groups:
            if group.degrees_in not in gathered:  # stack input degrees on the atoms, then gather per edge
                stacked = torch.cat([x[d] for d in group.degrees_in], dim=-1)
                gathered[group.degrees_in] = stacked.index_select(0, edges.src)
            feat = gathered[group.degrees_in]  # [E, C_in, A]
            basis = edges.bases[group]  # [E, A, F, B]
            num_edges = feat.shape[0]
            if self.depthwise:
                phi = self._stacked(group, weights, whole)  # [E, F]
                kernel = torch.einsum("eafb,ef->eab", basis, phi)
                result = feat @ kernel  # [E, C, B]
            else:
                width = feat.shape[1] * group.num_freq  # explicit sizes: E may be 0 (an isolated atom)
                tmp = (feat @ basis.reshape(num_edges, group.in_dim, group.num_freq * group.out_dim)
                       ).reshape(num_edges, width, group.out_dim)
                radial = self._stacked(group, weights, whole)  # [E, C_out, C_in, F]
                result = radial.reshape(num_edges, radial.shape[1], width) @ tmp  # [E, C_out, B]
            for d, part in zip(group.degrees_out, result.split([2 * d + 1 for d in group.degrees_out], dim=-1)):
                out[d] = out[d] + part if d in out else part
        out = {d: out[d] for d in self.fiber_out.degrees}
        if self.pool == "mean":
            out = {d: scatter_mean(m, edges.dst, edges.num_nodes) for d, m in out.items()}
        elif self.pool == "sum":
            out = {d: scatter_sum(m, edges.dst, edges.num_nodes) for d, m in out.items()}
        return out

    @staticmethod
    def _stacked(group: BasisGroup, weights, whole) -> torch.Tensor:
        """The group's coefficients stacked along F: a radial network's whole output when it covers exactly
        these pairs, a single pair's view, else a concatenation (a copy)."""
        if group.pairs in whole:
            return whole[group.pairs]
        if len(group.pairs) == 1:
            return weights[group.pairs[0]]
        return torch.cat([weights[p] for p in group.pairs], dim=-1)

    def extra_repr(self) -> str:
        kind = "depthwise" if self.depthwise else "tfn"
        return f"{kind}, in={self.fiber_in}, out={self.fiber_out}, fusion={self.fusion}, pool={self.pool}"
