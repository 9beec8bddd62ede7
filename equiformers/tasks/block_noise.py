"""Geometry of block-level denoising (EPT, paper eqs. 13-31): rigid block motions, their targets,
and block translations/rotations read off per-atom vectors through the torque/inertia solve.

Pure functions on flat batches (positions [N, 3] in Å, ``block_index`` [N] into Nb blocks,
``batch`` [N] into B graphs); float64 throughout, since the solve divides by small moments.

A block b with centroid c_b = mean_{i in b} x_i (unweighted) moved rigidly by a rotation vector w_b
(radians, about its centroid) and a translation t_b (Å) goes to

    x~_i = c_b + R(w_b)(x_i - c_b) + t_b,      then every graph is re-centred (zero mean over atoms).

The targets undo the motion: translation s_tr = (c_b - c~_b) / σ_tr (after re-centring, in units of
σ_tr) and rotation s_rot = -w_b (radians; not divided by σ_rot and not the IGSO(3) score, as the
official code). From per-atom vectors f_i the block translation is t^_b = mean_{i in b} f_i and the
rotation is ω^_b = I_b⁻¹ τ_b with arms r_i = x~_i - c~_b, torque τ_b = Σ r_i × f_i and inertia
I_b = Σ (|r_i|² I₃ - r_i r_iᵀ). A rigid velocity field f_i = s_tr + s_rot × r_i gives back exactly
(s_tr, s_rot): Σ r_i = 0 and Σ r_i × (ω × r_i) = I_b ω.

Degenerate blocks (guarded solve, ``inertia="correct"``): I_b is symmetric positive semi-definite;
its eigenvalues below ``rcond`` x the largest are dropped (a pseudo-inverse). One atom: nothing is
observable; collinear atoms (every two-atom block, e.g. O-H): the spin about the axis moves no atom
and is dropped. The target is projected onto the same observable subspace, so the loss never asks
for the unobservable component.

``inertia="official"`` reproduces the official code's tensor, I_b = n_b |R|_F I₃ - Σ r_i r_iᵀ with
|R|_F the Frobenius norm of *all* arms of the batch (unsquared: ``stable_norm`` called without a
dim), inverted for blocks with more than one atom, the others masked out.
"""

from typing import Tuple

import torch

from ..ops.scatter import scatter_mean, scatter_sum
from ..so3.rotations import axis_angle_to_matrix

INERTIA_MODES = ("correct", "official")


def centred(pos: torch.Tensor, batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
    """Positions with each graph's mean (over its atoms) subtracted. [N, 3] -> [N, 3]."""
    return pos - scatter_mean(pos, batch, num_graphs)[batch]


def move_blocks(pos: torch.Tensor, block_index: torch.Tensor, num_blocks: int, translation: torch.Tensor,
                rotation: torch.Tensor) -> torch.Tensor:
    """Each block rotated about its centroid by ``rotation`` [Nb, 3] (axis-angle, rad), then shifted
    by ``translation`` [Nb, 3] (Å). Shapes: pos [N, 3] -> [N, 3] (not re-centred)."""
    centre = scatter_mean(pos, block_index, num_blocks)[block_index]
    turned = torch.einsum("nij,nj->ni", axis_angle_to_matrix(rotation)[block_index], pos - centre)
    return centre + turned + translation[block_index]


def translation_targets(clean: torch.Tensor, noised: torch.Tensor, block_index: torch.Tensor, num_blocks: int,
                        sigma: float) -> torch.Tensor:
    """s_tr = (c_b - c~_b) / σ [Nb, 3] from centred clean and noised positions [N, 3]."""
    return (scatter_mean(clean, block_index, num_blocks) - scatter_mean(noised, block_index, num_blocks)) / sigma


def arms(pos: torch.Tensor, block_index: torch.Tensor, num_blocks: int) -> torch.Tensor:
    """r_i = x_i - c_b(i) [N, 3], each atom relative to its block's centroid."""
    return pos - scatter_mean(pos, block_index, num_blocks)[block_index]


def inertia_tensors(r: torch.Tensor, block_index: torch.Tensor, num_blocks: int, mode: str = "correct"
                    ) -> torch.Tensor:
    """I_b [Nb, 3, 3] from arms r [N, 3]: Σ (|r_i|² I₃ - r_i r_iᵀ) (``correct``), or the official code's
    Σ (|R|_F I₃ - r_i r_iᵀ) with |R|_F the Frobenius norm of every arm of the batch (``official``)."""
    eye = torch.eye(3, dtype=r.dtype, device=r.device)
    outer = r.unsqueeze(-1) * r.unsqueeze(-2)  # [N, 3, 3]
    if mode == "correct":
        diagonal = r.pow(2).sum(-1)
    elif mode == "official":
        diagonal = r.pow(2).sum().sqrt().expand(r.shape[0])
    else:
        raise ValueError(f"inertia mode must be one of {INERTIA_MODES}, got {mode!r}")
    return scatter_sum(diagonal[:, None, None] * eye - outer, block_index, num_blocks)


@torch.no_grad()
def guarded_inverse(inertia: torch.Tensor, block_sizes: torch.Tensor, mode: str = "correct", rcond: float = 1e-3
                    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The inverse used for ω^ = I⁻¹ τ, the projector onto the observable rotations, and the
    number of observable components of each block.

    ``correct``: pseudo-inverse dropping eigenvalues below ``rcond`` x the block's largest (and
    every eigenvalue of a single-atom block). ``official``: the plain inverse for blocks of more
    than one atom, identity and no observable component for the others.

    Shapes: inertia [Nb, 3, 3], block_sizes [Nb] -> inverse [Nb, 3, 3], projector [Nb, 3, 3], rank [Nb].
    Computed without gradients: the inertia depends on the inputs only, the loss is linear in τ.
    """
    eye = torch.eye(3, dtype=inertia.dtype, device=inertia.device).expand_as(inertia)
    multi = block_sizes > 1
    if mode == "official":
        inverse = eye.clone()
        if bool(multi.any()):
            inverse[multi] = torch.linalg.inv(inertia[multi])
        projector = torch.where(multi[:, None, None], eye, torch.zeros_like(eye))
        return inverse, projector, 3 * multi.long()
    values, vectors = torch.linalg.eigh(inertia)  # ascending eigenvalues; degenerate ones are fine here
    largest = values[:, -1:].clamp(min=0)
    keep = (values > rcond * largest) & (largest > 0) & multi[:, None]
    inverse_values = torch.where(keep, 1.0 / torch.where(keep, values, torch.ones_like(values)),
                                 torch.zeros_like(values))
    inverse = (vectors * inverse_values.unsqueeze(-2)) @ vectors.transpose(-1, -2)
    projector = (vectors * keep.to(vectors.dtype).unsqueeze(-2)) @ vectors.transpose(-1, -2)
    return inverse, projector, keep.sum(-1)


def block_motion_from_vectors(noised: torch.Tensor, vectors: torch.Tensor, block_index: torch.Tensor,
                              num_blocks: int, mode: str = "correct", rcond: float = 1e-3):
    """Block translation t^ [Nb, 3] and rotation ω^ [Nb, 3] read off per-atom vectors ``vectors``
    [N, 3] at positions ``noised`` [N, 3], plus the projector [Nb, 3, 3] and rank [Nb] of the
    observable rotations (see :func:`guarded_inverse`). Differentiable in ``vectors``."""
    vectors = vectors.to(torch.float64)
    r = arms(noised.to(torch.float64), block_index, num_blocks)
    translation = scatter_mean(vectors, block_index, num_blocks)
    torque = scatter_sum(torch.cross(r, vectors, dim=-1), block_index, num_blocks)
    sizes = torch.bincount(block_index, minlength=num_blocks)
    inverse, projector, rank = guarded_inverse(inertia_tensors(r.detach(), block_index, num_blocks, mode), sizes,
                                               mode, rcond)
    rotation = torch.einsum("bij,bj->bi", inverse, torque)
    return translation, rotation, projector, rank


def rigid_vector_field(noised: torch.Tensor, block_index: torch.Tensor, num_blocks: int, translation: torch.Tensor,
                       rotation: torch.Tensor) -> torch.Tensor:
    """f_i = t_b + ω_b × r_i [N, 3]: the per-atom vectors of a rigid block motion (the ideal denoising
    output, whose translation and rotation read back as (t, ω) with the correct inertia)."""
    r = arms(noised, block_index, num_blocks)
    return translation[block_index] + torch.cross(rotation[block_index], r, dim=-1)
