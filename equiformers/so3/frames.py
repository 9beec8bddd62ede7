"""Edge frames: per-edge rotations that turn the edge direction onto e3nn's y axis.

eSCN-style models (EquiformerV2) rotate each pair's features into a frame where the edge points
along +y (e3nn's spherical harmonics are "y-up": the y axis is the polar axis, so a rotation about
the edge acts on each degree as 2-D rotations of the (+m, -m) coefficient pairs). The frame is
fixed up to the roll about the edge, which the model must not feel (exactly, with exact
activations; up to S² grid aliasing with grid activations).

Rolls:
    ``fixed``: the smallest rotation taking the edge direction u onto +y (Rodrigues' formula)
        where u_y ≥ 0, and onto -y followed by a half turn about z where u_y < 0. Two charts,
        because no continuous frame field covers the whole sphere (hairy-ball theorem): the frame
        switches where the edge crosses the xz-plane (u_y = 0). Each chart stays well away from
        its own singular direction (1 + |u_y| ≥ 1 in the denominator), so values and gradients
        are accurate everywhere. Deterministic: tests and MD see the same frame on every call.
        A model feels the switch only as much as it feels the roll: not at all when exactly
        equivariant, below 1e-10 (relative energy) for EquiformerV2 with 18 grid longitudes.
    ``random``: the fixed frame followed by a uniformly random roll about y, drawn on every call
        (the reference's behaviour, which draws a random helper vector per edge).

Nothing here is detached: forces as -dE/dx differentiate through the frames (the reference's
``.detach()`` made its gradient forces wrong).
"""

from typing import Optional

import torch

ROLLS = ("fixed", "random")


def _skew(v: torch.Tensor) -> torch.Tensor:
    """Cross-product matrices [..., 3, 3] of vectors [..., 3]."""
    x, y, z = v.unbind(-1)
    zero = torch.zeros_like(x)
    return torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).unflatten(-1, (3, 3))


def edge_frames(vectors: torch.Tensor, roll: str = "fixed",
                generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Rotation matrices R [E, 3, 3] with ``R @ (v / |v|) = (0, 1, 0)`` for edge vectors v [E, 3] (Å).

    dtype and device follow ``vectors``; differentiable (no detach). Edge vectors must be non-zero.
    ``roll``: ``"fixed"`` (deterministic, two charts, see the module docstring) or ``"random"``
    (a uniform random roll about the edge on every call; ``generator`` seeds it).

    Example:
        >>> v = torch.tensor([[1.0, 2.0, -2.0], [0.0, -3.0, 0.0]])
        >>> R = edge_frames(v)
        >>> torch.allclose(R @ (v / v.norm(dim=-1, keepdim=True)).unsqueeze(-1),
        ...                torch.tensor([0.0, 1.0, 0.0]).expand(2, 3).unsqueeze(-1), atol=1e-6)
        True
        >>> torch.allclose(R @ R.transpose(1, 2), torch.eye(3).expand(2, 3, 3), atol=1e-6)
        True
    """
    if roll not in ROLLS:
        raise ValueError(f"roll must be one of {ROLLS}, got {roll!r}")
    if vectors.dim() != 2 or vectors.shape[-1] != 3:
        raise ValueError(f"edge vectors must have shape [E, 3], got {tuple(vectors.shape)}")
    unit = vectors / vectors.norm(dim=-1, keepdim=True)
    cos = unit[:, 1]  # u · y
    # s = +1: rotate u onto +y; s = -1: rotate u onto -y, then a half turn about z brings -y to +y.
    sign = torch.where(cos >= 0, torch.ones_like(cos), -torch.ones_like(cos))
    axis = torch.stack([-unit[:, 2], torch.zeros_like(cos), unit[:, 0]], dim=-1)  # u × y
    k = _skew(axis)
    eye = torch.eye(3, dtype=vectors.dtype, device=vectors.device)
    # Rodrigues from u to s·y: I + [s (u × y)]× + [u × y]×² / (1 + s (u · y)), and 1 + s(u · y) = 1 + |u_y|.
    # (1 + s cos, not 1 + |cos|: the same value, but abs has a zero derivative at cos = 0, where
    # the chart in use (s = +1) needs derivative 1: edges along lattice vectors sit exactly there.)
    minimal = eye + sign[:, None, None] * k + (k @ k) / (1 + sign * cos)[:, None, None]
    flip = torch.stack([sign, sign, torch.ones_like(sign)], dim=-1)  # diag(s, s, 1): the half turn when s = -1
    frame = flip.unsqueeze(-1) * minimal
    if roll == "random":
        angle = 2 * torch.pi * torch.rand(vectors.shape[0], dtype=vectors.dtype, device=vectors.device,
                                          generator=generator)
        frame = rotation_about_y(angle) @ frame
    return frame


def rotation_about_y(angle: torch.Tensor) -> torch.Tensor:
    """Rotations [..., 3, 3] by ``angle`` [...] (radians) about the y axis (column-vector convention).

    Example:
        >>> R = rotation_about_y(torch.tensor(torch.pi / 2))
        >>> torch.round(R @ torch.tensor([1.0, 0.0, 0.0]), decimals=6) + 0.0
        tensor([ 0.,  0., -1.])
    """
    cos, sin = torch.cos(angle), torch.sin(angle)
    zero, one = torch.zeros_like(angle), torch.ones_like(angle)
    return torch.stack([cos, zero, sin, zero, one, zero, -sin, zero, cos], dim=-1).unflatten(-1, (3, 3))
