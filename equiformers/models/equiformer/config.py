"""Configuration of the Equiformer model family."""

from dataclasses import dataclass, field
from typing import List, Optional, Union

from e3nn import o3

from ...data.elements import validate_element_spec
from ...errors import ConfigError

#: Statistics the reference hard-codes (QM9, r = 5 Å). Used only when a model
#: is built without data statistics; training computes both from its data.
REFERENCE_AVG_DEGREE = 15.57930850982666
REFERENCE_AVG_NUM_NODES = 18.03065905448718


@dataclass
class EquiformerConfig:
    """Everything that defines an Equiformer architecture.

    Attributes:
        elements: element symbols (one embedding row each, in order), or an
            integer ``N`` to index the embedding directly by atomic number
            (``0 <= Z < N``; the reference MD17 model uses 64).
        channels: channels per degree ``l = 0..lmax`` of the node features;
            ``lmax = len(channels) - 1``. Paper: ``[128, 64, 32]``.
        symmetry: ``"se3"`` (all degrees even, as the paper's default models) or
            ``"e3"`` (both parities; ``0o`` gets ``channels[1] // 2`` and each
            ``l > 0`` parity half of ``channels[l]``, as the reference ``*_e3``).
        num_layers: transformer blocks. num_heads: attention heads.
        attention: ``"mlp"`` (the paper's MLP attention) or ``"dot_product"``.
        message: ``"nonlinear"`` (TP -> gate -> TP values) or ``"linear"``.
        ffn_multiplier: hidden width of the feed-forward network, times ``channels``.
        readout_channels: scalar channels of the last block and the head (paper: 512).
        cutoff: neighbour cutoff in Å.
        radial_basis: ``"gaussian"``, ``"bessel"`` or ``"exp_normal"``; num_basis its size.
        radial_hidden: hidden widths of the radial MLPs.
        alpha_drop, proj_drop, out_drop, drop_path: dropout rates (attention
            weights, block outputs, features before the head, stochastic depth).
        avg_degree, avg_num_nodes: normalisation constants (edge-degree embedding; sum pooling
            of graph heads); ``None`` means the reference's QM9 values (training fills in those
            of its data).
        smooth_cutoff: make the energy a smooth (C2) function of the positions where an edge
            crosses the cutoff, for molecular dynamics. Each edge's edge-degree contribution is
            multiplied by a polynomial envelope ``u(r / r_c)`` and attention becomes
            ``u exp(a) / (1 + sum u exp(a))`` (a weighted softmax with a zero-logit sink). Off
            (the paper): the softmax renormalises and the energy jumps when an edge appears.
        tensor_product: how the edge messages' depth-wise tensor products are computed (the same
            function and parameters either way): ``"edge_frame"`` (default: in each edge's frame,
            where the edge's harmonics are sparse, fused with the linear layers that read them;
            :mod:`equiformers.nn.frame_product`) or ``"e3nn"`` (e3nn's ``TensorProduct``, the
            reference's computation, for debugging and comparison).
        low_memory: recompute each block's attention (everything per edge) in the backward pass
            instead of keeping its intermediates (activation checkpointing): training memory falls
            to little more than the node features, for about one more forward pass of time. The
            same outputs and gradients (also second order: training on conservative forces).
    """

    elements: Union[List[str], int] = field(default_factory=lambda: ["H", "C", "N", "O", "F"])
    channels: List[int] = field(default_factory=lambda: [128, 64, 32])
    symmetry: str = "se3"
    num_layers: int = 6
    num_heads: int = 4
    attention: str = "mlp"
    message: str = "nonlinear"
    ffn_multiplier: int = 3
    readout_channels: int = 512
    cutoff: float = 5.0
    radial_basis: str = "gaussian"
    num_basis: int = 128
    radial_hidden: List[int] = field(default_factory=lambda: [64, 64])
    alpha_drop: float = 0.2
    proj_drop: float = 0.0
    out_drop: float = 0.0
    drop_path: float = 0.0
    avg_degree: Optional[float] = None
    avg_num_nodes: Optional[float] = None
    smooth_cutoff: bool = False
    tensor_product: str = "edge_frame"
    low_memory: bool = False

    def validate(self) -> None:
        validate_element_spec(self.elements)
        choices = {"symmetry": ("se3", "e3"), "attention": ("mlp", "dot_product"),
                   "message": ("nonlinear", "linear"), "tensor_product": ("edge_frame", "e3nn")}
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise ConfigError(f"{key} must be one of {allowed}, got {getattr(self, key)!r}")
        if not self.channels or any(int(c) <= 0 for c in self.channels):
            raise ConfigError(f"channels must be a non-empty list of positive integers, got {self.channels}")
        for l, c in enumerate(self.channels):
            split = 2 if (self.symmetry == "e3" and l > 0) else 1
            if c % (self.num_heads * split):
                raise ConfigError(f"channels[{l}] = {c} must be divisible by num_heads "
                                  f"({self.num_heads}){' times 2 for e3' if split == 2 else ''}")
        if self.symmetry == "e3" and len(self.channels) > 1 and (self.channels[1] // 2) % self.num_heads:
            raise ConfigError("with symmetry e3, channels[1] // 2 must be divisible by num_heads")
        if self.num_layers < 1 or self.cutoff <= 0 or self.num_basis < 1:
            raise ConfigError("num_layers, cutoff and num_basis must be positive")

    # --- derived irreps -----------------------------------------------------
    @property
    def lmax(self) -> int:
        return len(self.channels) - 1

    def _irreps(self, divisor: int = 1, multiplier: int = 1) -> o3.Irreps:
        entries = []
        for l, c in enumerate(self.channels):
            c = c * multiplier
            if self.symmetry == "se3":
                entries.append((c // divisor, (l, 1)))
            elif l == 0:
                entries.append((c // divisor, (0, 1)))
                if len(self.channels) > 1:
                    entries.append((self.channels[1] * multiplier // 2 // divisor, (0, -1)))
            else:
                entries += [(c // 2 // divisor, (l, 1)), (c // 2 // divisor, (l, -1))]
        return o3.Irreps(entries)

    @property
    def irreps_node(self) -> o3.Irreps:
        """Node feature irreps, e.g. ``128x0e+64x1e+32x2e``."""
        return self._irreps()

    @property
    def irreps_head(self) -> o3.Irreps:
        """Value irreps of one attention head, e.g. ``32x0e+16x1e+8x2e``."""
        return self._irreps(divisor=self.num_heads)

    @property
    def irreps_ffn(self) -> o3.Irreps:
        """Hidden irreps of the feed-forward network, e.g. ``384x0e+192x1e+96x2e``."""
        return self._irreps(multiplier=self.ffn_multiplier)

    @property
    def irreps_sh(self) -> o3.Irreps:
        """Spherical-harmonic irreps of the edge directions up to lmax."""
        if self.symmetry == "se3":
            return o3.Irreps([(1, (l, 1)) for l in range(self.lmax + 1)])
        return o3.Irreps.spherical_harmonics(self.lmax)

    @property
    def irreps_readout(self) -> o3.Irreps:
        return o3.Irreps(f"{self.readout_channels}x0e")

