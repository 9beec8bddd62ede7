"""EquiformerV2 (Liao et al., ICLR 2024): eSCN SO(2) convolutions in an equivariant graph transformer,
with EquiformerV3's improvements as config switches.

Features live in the sphere layout [N, (lmax+1)², C] (:mod:`.sphere`). One forward pass: edge frames
and m-truncated Wigner matrices once (:mod:`.edges`, :mod:`equiformers.so3`), atom + edge-degree
embedding (:mod:`.embedding`), ``num_layers`` blocks (:mod:`.block`: norm, SO(2) graph attention
(:mod:`.attention`, :mod:`.so2`), norm, feed-forward (:mod:`.ffn`)), final norm, heads
(:mod:`.heads`: ``eqv2_energy``, ``eqv2_forces``; conservative forces and stress come from
:mod:`equiformers.tasks.forces`).

Presets: ``equiformer_v2-oc20-{31m,83m,153m}`` (fairchem's OC20 models, exact parameter counts),
``equiformer_v2-qm9``, and EquiformerV3-style ``equiformer_v3-oc20-2m``, ``equiformer_v3-mp-gradient``,
``equiformer_v3-oam-gradient`` (the published V3 counts).

V3 switches (all off in V2 presets): ``use_swiglu_s2`` (SwiGLU-S² activations, exact on their grid),
``norm_type: merge_layer_norm``, ``use_m_share_rad`` (radial weights per degree before the
rotation), ``use_envelope`` (smooth-cutoff attention), ``use_gate_force_head``, the ``scalar_mlp``
energy head block. Pre-combined m-major rotations (no layout permutations) are always used: they are
an exact refactoring.

Where this differs from fairchem's code (numbers, not weights): frames use a fixed roll by default
(``edge_roll: random`` for the reference's redrawn roll) and are never detached; Wigner matrices
come from :func:`equiformers.so3.wigner_D_blocks` (exact in float64, any dtype) instead of
``Jd.pt``; the S² grid's latitude weights are computed in float64 (e3nn's are float32-accurate).
See :mod:`.fairchem` for the mapping of fairchem configs and parameter names.
"""

from .config import EquiformerV2Config
from .model import EquiformerV2, EquiformerV2Backbone

__all__ = ["EquiformerV2", "EquiformerV2Backbone", "EquiformerV2Config"]
